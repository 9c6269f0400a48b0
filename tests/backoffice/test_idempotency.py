"""Idempotency-Key on every staff API write (backoffice.idempotency): keys per caller, a race
decided by Postgres (one 201, the others 409 or the replay of that 201), the first answer
replayed, another body a 422 naming what differs, every write endpoint honouring the header."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Client
from audit.actions import AuditAction
from audit.models import AuditEvent
from backoffice import errors
from backoffice.idempotency import HEADER, IdempotentWritesMixin
from backoffice.models import IdempotencyKey
from ops.models import User
from ops.roles import Role
from payments.models import Withdrawal
from payments.services.ledger import wallet_for
from tests.conftest import ROOT
from tests.factories import approved_client, card_deposit, staff
from tests.factories import client as make_client
from tests.personas import sign_in

CLIENTS = "/api/v1/staff/clients/"
PAYLOAD = {
    "kind": "individual", "first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1976-12-09",
    "country": "US", "email": "grace@example.test", "phone": "+1 202 555 0143", "account_type": "pro",
    "base_currency": "USD",
}  # fmt: skip


def _post(http: HttpClient, url: str, body: dict[str, Any], key: str | None) -> Any:
    headers = {HEADER: key} if key is not None else {}
    return http.post(url, body, content_type="application/json", headers=headers)


def _signed_in(user: User) -> HttpClient:
    return sign_in(HttpClient(), user)


# --- races: real concurrent requests, each thread on its own database connection


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("threads", [4, 8])
def test_good_concurrent_identical_creates_make_one_client(threads: int) -> None:
    user = staff(Role.SUPPORT)
    barrier = threading.Barrier(threads)
    answers: list[Any] = []
    failures: list[BaseException] = []

    sessions = [_signed_in(user) for _ in range(threads)]  # signed in one after another, here

    def create(http: HttpClient) -> None:
        try:
            barrier.wait(30)
            answers.append(_post(http, CLIENTS, PAYLOAD, "race-1"))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=create, args=(http,)) for http in sessions]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert failures == []
    assert Client.objects.count() == 1
    firsts = [a for a in answers if a.status_code == 201 and not a.has_header("Idempotent-Replayed")]
    assert len(firsts) == 1
    created = firsts[0].json()
    for other in answers:
        if other is firsts[0]:
            continue
        if other.status_code == 409:
            assert other["Content-Type"] == "application/problem+json"
            assert other["Retry-After"] == "1"
        else:  # arrived after the first answered: its answer, replayed
            assert other.status_code == 201
            assert other["Idempotent-Replayed"] == "true"
            assert other.json() == created


@pytest.mark.django_db(transaction=True)
def test_good_a_retry_while_the_first_runs_is_409_then_gets_the_first_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from accounts.api import client_services

    user = staff(Role.SUPPORT)
    release, started = threading.Event(), threading.Event()
    original = client_services.client_register

    def slow_register(**kwargs: Any) -> Client:
        started.set()
        assert release.wait(30)
        return original(**kwargs)

    monkeypatch.setattr(client_services, "client_register", slow_register)
    first: list[Any] = []
    http, other = _signed_in(user), _signed_in(user)

    def create() -> None:
        try:
            first.append(_post(other, CLIENTS, PAYLOAD, "slow-1"))
        finally:
            connection.close()

    worker = threading.Thread(target=create)
    worker.start()
    assert started.wait(30)
    racing = _post(http, CLIENTS, PAYLOAD, "slow-1")
    assert racing.status_code == 409
    assert racing["Retry-After"] == "1"
    assert racing["Content-Type"] == "application/problem+json"
    assert racing.json()["detail"] == errors.IDEMPOTENCY_IN_PROGRESS.format(key="slow-1")
    release.set()
    worker.join(60)
    assert first[0].status_code == 201
    retry = _post(http, CLIENTS, PAYLOAD, "slow-1")
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.content == first[0].content
    assert Client.objects.count() == 1


# --- keys belong to their caller


@pytest.mark.django_db
def test_good_another_user_reusing_a_key_gets_their_own_result() -> None:
    alice, bob = _signed_in(staff(Role.SUPPORT)), _signed_in(staff(Role.SUPPORT))
    mine = _post(alice, CLIENTS, PAYLOAD, "shared-key")
    theirs = _post(bob, CLIENTS, PAYLOAD | {"email": "other@example.test", "first_name": "Ada"}, "shared-key")
    assert mine.status_code == 201
    assert theirs.status_code == 201
    assert not theirs.has_header("Idempotent-Replayed")
    assert theirs.json()["id"] != mine.json()["id"]
    assert Client.objects.count() == 2


@pytest.mark.django_db
def test_bad_another_user_cannot_replay_a_withdrawal_by_its_key() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "1000.00")
    body = {
        "client": c.reference, "source": wallet_for(client=c, currency="EUR").code, "amount": "100.00",
        "method": "card", "destination": deposit.payer_account, "destination_name": c.display_name,
    }  # fmt: skip
    first, second = _signed_in(staff(Role.FINANCE)), _signed_in(staff(Role.FINANCE))
    mine = _post(first, "/api/v1/staff/withdrawals/", body, "wd-key")
    theirs = _post(second, "/api/v1/staff/withdrawals/", body, "wd-key")
    assert mine.status_code == 201
    assert theirs.status_code == 201
    assert not theirs.has_header("Idempotent-Replayed")
    assert theirs.json()["reference"] != mine.json()["reference"]
    assert Withdrawal.objects.count() == 2


# --- the same key with another request


@pytest.mark.django_db
def test_bad_same_key_other_body_is_422_naming_the_fields() -> None:
    http = _signed_in(staff(Role.SUPPORT))
    assert _post(http, CLIENTS, PAYLOAD, "k-body").status_code == 201
    response = _post(http, CLIENTS, PAYLOAD | {"email": "x@example.test", "phone": "+1 202 555 0199"}, "k-body")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["mismatch"] == ["email", "phone"]
    assert problem["detail"] == errors.IDEMPOTENCY_MISMATCH.format(key="k-body", differs="email, phone")
    assert HEADER in problem["errors"]
    assert Client.objects.count() == 1


@pytest.mark.django_db
def test_bad_same_key_on_another_endpoint_is_422_naming_the_endpoint() -> None:
    c = make_client()
    http = _signed_in(staff(Role.SUPPORT))
    assert _post(http, CLIENTS, PAYLOAD, "k-path").status_code == 201
    response = _post(http, f"{CLIENTS}{c.pk}/transitions/", {"transition": "submit_for_review"}, "k-path")
    assert response.status_code == 422
    assert response.json()["mismatch"] == [f"the endpoint (first POST {CLIENTS})"]
    c.refresh_from_db()
    assert c.status == "registered"


@pytest.mark.django_db
def test_good_the_same_body_in_another_key_order_is_the_same_request() -> None:
    http = _signed_in(staff(Role.SUPPORT))
    first = _post(http, CLIENTS, PAYLOAD, "k-order")
    again = _post(http, CLIENTS, dict(reversed(list(PAYLOAD.items()))), "k-order")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert Client.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "nul\x00byte", "é"])
def test_bad_unusable_key_is_400_naming_the_header_and_writes_nothing(key: str) -> None:
    http = _signed_in(staff(Role.SUPPORT))
    response = _post(http, CLIENTS, PAYLOAD, key)
    assert response.status_code == 400
    assert HEADER in response.json()["errors"]
    assert Client.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_good_a_refused_caller_claims_no_key() -> None:
    http = _signed_in(staff(Role.RISK))  # sees clients, may not register one
    assert _post(http, CLIENTS, PAYLOAD, "k-refused").status_code == 403
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_good_a_failed_request_releases_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from accounts.api import client_services

    def broken(**kwargs: Any) -> Client:
        raise RuntimeError("database went away")

    monkeypatch.setattr(client_services, "client_register", broken)
    http = _signed_in(staff(Role.SUPPORT))
    http.raise_request_exception = False
    assert _post(http, CLIENTS, PAYLOAD, "k-500").status_code == 500
    assert IdempotencyKey.objects.count() == 0
    monkeypatch.undo()
    assert _post(http, CLIENTS, PAYLOAD, "k-500").status_code == 201


@pytest.mark.django_db
def test_good_a_validation_error_is_replayed_not_rerun() -> None:
    http = _signed_in(staff(Role.SUPPORT))
    first = _post(http, CLIENTS, PAYLOAD | {"email": "not-an-email"}, "k-400")
    again = _post(http, CLIENTS, PAYLOAD | {"email": "not-an-email"}, "k-400")
    assert first.status_code == again.status_code == 400
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"


# --- every write endpoint of the API honours the header


def _client_create(user: User) -> tuple[str, dict[str, Any], Callable[[], int]]:
    return CLIENTS, PAYLOAD, lambda: Client.objects.count()


def _client_transition(user: User) -> tuple[str, dict[str, Any], Callable[[], int]]:
    c = make_client()
    return (
        f"{CLIENTS}{c.pk}/transitions/",
        {"transition": "submit_for_review"},
        lambda: AuditEvent.objects.filter(action=AuditAction.CLIENT_SUBMITTED).count(),
    )


def _withdrawal_create(user: User) -> tuple[str, dict[str, Any], Callable[[], int]]:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "1000.00")
    body = {
        "client": c.reference, "source": wallet_for(client=c, currency="EUR").code, "amount": "100.00",
        "method": "card", "destination": deposit.payer_account, "destination_name": c.display_name,
    }  # fmt: skip
    return "/api/v1/staff/withdrawals/", body, lambda: Withdrawal.objects.count()


Setup = Callable[[User], tuple[str, dict[str, Any], Callable[[], int]]]
# (method, OpenAPI path) -> the role that may call it, its success status, and how to set up a
# call and count its effect
WRITE_ENDPOINTS: dict[tuple[str, str], tuple[Role, int, Setup]] = {
    ("POST", "/api/v1/staff/clients/"): (Role.SUPPORT, 201, _client_create),
    ("POST", "/api/v1/staff/clients/{id}/transitions/"): (Role.SUPPORT, 200, _client_transition),
    ("POST", "/api/v1/staff/withdrawals/"): (Role.FINANCE, 201, _withdrawal_create),
}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(WRITE_ENDPOINTS), ids=lambda e: f"{e[0]} {e[1]}")
def test_good_every_write_endpoint_replays_its_first_answer(endpoint: tuple[str, str]) -> None:
    role, success, setup = WRITE_ENDPOINTS[endpoint]
    user = staff(role)
    url, body, effects = setup(user)
    before = effects()
    http = _signed_in(user)
    first = _post(http, url, body, f"every-{endpoint[1]}")
    again = _post(http, url, body, f"every-{endpoint[1]}")
    assert first.status_code == success
    assert again.status_code == success
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert effects() == before + 1


# The client-area API's writes, called with the client area's key (multipart: the document upload)
CA = "/api/v1/client-area/clients/"
CaSetup = Callable[[], tuple[str, dict[str, Any], Callable[[], int]]]


def _ca_register() -> tuple[str, dict[str, Any], Callable[[], int]]:
    return CA, PAYLOAD | {"email": "ca@example.test", "phone": "+1 202 555 0144"}, lambda: Client.objects.count()


def _ca_document() -> tuple[str, dict[str, Any], Callable[[], int]]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kyc.models import Document
    from tests.kyc.files import pdf

    c = make_client()
    upload = SimpleUploadedFile("id.pdf", pdf(), content_type="application/pdf")
    return f"{CA}{c.pk}/documents/", {"kind": "proof_of_identity", "file": upload}, lambda: Document.objects.count()


def _ca_deposit() -> tuple[str, dict[str, Any], Callable[[], int]]:
    from payments.models import Deposit

    c = approved_client(provision=False)
    return f"{CA}{c.pk}/deposits/", {"channel": "bank", "amount": "10.00", "currency": "EUR"}, Deposit.objects.count


def _ca_withdrawal() -> tuple[str, dict[str, Any], Callable[[], int]]:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "1000.00")
    body = {
        "amount": "100.00", "currency": "EUR", "method": "card", "destination": deposit.payer_account,
        "destination_name": c.display_name,
    }  # fmt: skip
    return f"{CA}{c.pk}/withdrawals/", body, lambda: Withdrawal.objects.count()


def _ca_transfer() -> tuple[str, dict[str, Any], Callable[[], int]]:
    from payments.models import JournalEntry

    c = approved_client(provision=True)
    card_deposit(c, "1000.00")
    body = {"direction": "wallet_to_trading", "trading_account": c.trading_accounts.get().login, "amount": "5.00"}
    return f"{CA}{c.pk}/transfers/", body, lambda: JournalEntry.objects.count()


def _ca_sign_in() -> tuple[str, dict[str, Any], Callable[[], int]]:
    from accounts.models import ClientSignIn

    c = approved_client(provision=False)
    body = {
        "outcome": "succeeded",
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "device_fingerprint": "fp",
    }
    return f"{CA}{c.pk}/sign-ins/", body, lambda: ClientSignIn.objects.count()


CLIENT_AREA_WRITES: dict[tuple[str, str], CaSetup] = {
    ("POST", "/api/v1/client-area/clients/"): _ca_register,
    ("POST", "/api/v1/client-area/clients/{client_id}/documents/"): _ca_document,
    ("POST", "/api/v1/client-area/clients/{client_id}/deposits/"): _ca_deposit,
    ("POST", "/api/v1/client-area/clients/{client_id}/withdrawals/"): _ca_withdrawal,
    ("POST", "/api/v1/client-area/clients/{client_id}/transfers/"): _ca_transfer,
    ("POST", "/api/v1/client-area/clients/{client_id}/sign-ins/"): _ca_sign_in,
}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(CLIENT_AREA_WRITES), ids=lambda e: f"{e[0]} {e[1]}")
def test_good_every_client_area_write_replays_its_first_answer(endpoint: tuple[str, str]) -> None:
    from tests.api.keys import client_area_key

    auth = {"Authorization": f"Bearer {client_area_key()}"}
    url, body, effects = CLIENT_AREA_WRITES[endpoint]()
    before = effects()
    multipart = "file" in body

    def post() -> Any:
        headers = auth | {HEADER: f"every-{endpoint[1]}"}
        if multipart:
            body["file"].seek(0)
            return HttpClient().post(url, body, headers=headers)
        return HttpClient().post(url, body, content_type="application/json", headers=headers)

    first, again = post(), post()
    assert first.status_code == 201, first.content[:400]
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert effects() == before + 1


# the partner API's writes, each replayed (and refused with another body) by the test named
PARTNER_WRITES = {
    (
        "POST",
        "/api/v1/partner/disputes/",
    ): "tests/ib/test_partner_api.py::test_good_idempotency_key_replays_and_refuses_another_body",
}


def test_partner_writes_name_a_replay_test_that_exists() -> None:
    for test in PARTNER_WRITES.values():
        path, _, name = test.partition("::")
        assert f"def {name}(" in (ROOT / path).read_text(), test


def _schema_writes() -> dict[tuple[str, str], dict[str, Any]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path): operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method.upper() in {"POST", "PUT", "PATCH", "DELETE"}
    }


@pytest.mark.django_db
def test_every_write_of_the_schema_is_tested_above_and_documents_the_header() -> None:
    writes = _schema_writes()
    # a new write endpoint needs its row in WRITE_ENDPOINTS (staff), CLIENT_AREA_WRITES or PARTNER_WRITES
    assert set(writes) == set(WRITE_ENDPOINTS) | set(CLIENT_AREA_WRITES) | set(PARTNER_WRITES)
    for operation in writes.values():
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == HEADER]
        assert len(headers) == 1, operation["operationId"]


def test_every_api_view_is_idempotent() -> None:
    """Every view under /api/ that takes writes inherits the one mechanism."""
    views = []

    def walk(patterns: Any, prefix: str) -> None:
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif (prefix + str(p.pattern)).startswith("api/"):
                views.append(p.callback)

    walk(get_resolver().url_patterns, "")

    def methods(view: Any) -> set[str]:
        actions = getattr(view, "actions", None)  # a viewset's route: method -> action
        if actions:
            return set(actions)
        return {m for m in ("post", "put", "patch", "delete") if hasattr(getattr(view, "cls", None), m)}

    writers = [v for v in views if methods(v) & {"post", "put", "patch", "delete"}]
    assert writers
    for view in writers:
        assert issubclass(view.cls, IdempotentWritesMixin), view.cls


@pytest.mark.django_db
def test_good_keys_past_their_lifetime_are_purged() -> None:
    from datetime import timedelta

    from backoffice.tasks import idempotency_keys_purge_task

    http = _signed_in(staff(Role.SUPPORT))
    _post(http, CLIENTS, PAYLOAD, "k-old")
    _post(http, CLIENTS, PAYLOAD | {"email": "b@example.test"}, "k-new")
    IdempotencyKey.objects.filter(key="k-old").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_purge_task.apply().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-new"]


@pytest.mark.django_db
def test_a_key_older_than_its_lifetime_is_a_new_key(settings: Any) -> None:
    http = _signed_in(staff(Role.SUPPORT))
    first = _post(http, CLIENTS, PAYLOAD, "k-old")
    from datetime import timedelta

    IdempotencyKey.objects.update(created_at=IdempotencyKey.objects.get().created_at - timedelta(hours=25))
    again = _post(http, CLIENTS, PAYLOAD | {"email": "new@example.test"}, "k-old")
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


@pytest.mark.django_db
def test_bad_a_hostile_field_name_is_remembered_escaped_not_a_500() -> None:
    """A body field named with a NUL byte or a lone surrogate (schemathesis sent one) is kept in
    the key's row by its escape: jsonb refuses the raw text, which was a 500."""
    c = make_client()
    http = sign_in(HttpClient(), staff(Role.SUPPORT))
    body = '{"\\u0000x": 1, "\\ud8b7y": 2, "transition": "submit_for_review"}'
    response = http.post(
        f"/api/v1/staff/clients/{c.pk}/transitions/", body, content_type="application/json",
        headers={HEADER: "hostile-names-1"},
    )  # fmt: skip
    assert response.status_code == 200
    row = IdempotencyKey.objects.get(key="hostile-names-1")
    assert sorted(row.field_hashes) == ["\\ud8b7y", "\\x00x", "transition"]
