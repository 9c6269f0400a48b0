"""The security log: every refused sensitive request leaves one event with its reason (pages, the
API, forged webhooks, failed sign-ins and second factors), written outside the refused request's
transaction, append-only in the database, and one JSON line on the ``security`` logger."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client as HttpClient

from accounts import errors as account_errors
from audit.models import SecurityEvent, SecurityEventKind
from ops import errors as ops_errors
from ops.models import User
from ops.roles import Role
from payments import errors as payment_errors
from sim import simpay
from tests.factories import client as make_client
from tests.factories import staff
from tests.personas import desk_user, sign_in

pytestmark = pytest.mark.django_db


def _signed_in(user: User) -> HttpClient:
    return sign_in(HttpClient(), user)


def test_refused_page_records_one_event_with_the_decisions_reason() -> None:
    nobody = staff(username="nobody")
    long_agent = "probe/1.0 " + "x" * 1000
    response = _signed_in(nobody).get("/clients/", HTTP_USER_AGENT=long_agent, HTTP_X_REQUEST_ID="req-probe-0001")
    assert response.status_code == 403
    event = SecurityEvent.objects.get()
    assert (event.kind, event.status, event.method, event.path) == (SecurityEventKind.REFUSED, 403, "GET", "/clients/")
    assert (event.actor, event.username, event.ip) == (nobody, "nobody", "127.0.0.1")
    assert event.reason == account_errors.NO_CLIENTS
    assert event.request_id == "req-probe-0001"
    assert event.user_agent == long_agent[:256]


def test_refused_api_request_records_one_event_with_the_problem_detail() -> None:
    nobody = staff(username="nobody")
    response = _signed_in(nobody).get("/api/v1/staff/clients/")
    assert response.status_code == 403
    event = SecurityEvent.objects.get()
    assert (event.kind, event.status, event.path, event.actor) == ("refused", 403, "/api/v1/staff/clients/", nobody)
    assert event.reason == response.json()["detail"] == account_errors.NO_CLIENTS


def test_anonymous_api_request_is_recorded_without_an_actor() -> None:
    assert HttpClient().get("/api/v1/staff/clients/").status_code == 401
    event = SecurityEvent.objects.get()
    assert (event.kind, event.actor, event.username) == ("unauthenticated", None, "")


def test_refusal_inside_a_service_records_the_decisions_reason() -> None:
    """A POST the service refuses (its Decision, inside the service's transaction) is a 403 page."""
    client = make_client()
    risk = staff(Role.RISK, username="rita")
    response = _signed_in(risk).post(f"/clients/{client.pk}/transition/submit_for_review/")
    assert response.status_code == 403
    event = SecurityEvent.objects.get()
    assert (event.kind, event.method, event.actor) == ("refused", "POST", risk)
    assert event.reason == response.context["exception"]


def test_object_outside_ones_scope_is_a_not_found_event() -> None:
    desk = desk_user(make_client(first_name="Given"), username="desk")
    other = make_client(first_name="Other")
    assert _signed_in(desk).get(f"/clients/{other.pk}/").status_code == 404
    event = SecurityEvent.objects.get()
    assert (event.kind, event.status, event.actor, event.reason) == ("not_found", 404, desk, "No such client.")


def test_allowed_pages_and_unknown_urls_leave_nothing() -> None:
    http = _signed_in(staff(Role.SUPPORT))
    assert http.get("/clients/").status_code == 200
    assert http.get("/no-such-page/").status_code == 404
    assert HttpClient().get("/clients/").status_code == 302  # to the login page
    assert not SecurityEvent.objects.exists()


def test_failed_sign_in_records_the_tried_username() -> None:
    staff(username="sam")
    response = HttpClient().post("/login/", {"username": "sam", "password": "wrong"}, HTTP_USER_AGENT="curl/8")
    assert response.status_code == 200
    event = SecurityEvent.objects.get()
    assert (event.kind, event.username, event.actor, event.path) == ("login_failed", "sam", None, "/login/")
    assert (event.reason, event.user_agent) == (ops_errors.SIGN_IN_FAILED, "curl/8")


def test_failed_second_factor_is_recorded() -> None:
    from django_otp.forms import OTPAuthenticationFormMixin, otp_verification_failed

    user = staff(username="sam")
    otp_verification_failed.send(sender=OTPAuthenticationFormMixin, user=user)
    event = SecurityEvent.objects.get()
    assert (event.kind, event.actor, event.username) == ("otp_failed", user, "sam")
    assert event.reason == ops_errors.SECOND_FACTOR_FAILED


def test_forged_webhook_records_one_event() -> None:
    delivery = simpay.signed({"id": "evt_forged", "type": "payment.succeeded"}, secret="whsec_someone_else")
    response = HttpClient().post(
        "/webhooks/simpay/",
        data=delivery.body,
        content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=delivery.signature,
    )
    assert response.status_code == 400
    event = SecurityEvent.objects.get()
    assert (event.kind, event.status, event.reason) == ("webhook_rejected", 400, payment_errors.SIGNATURE_BAD)
    assert (event.method, event.path, event.actor) == ("POST", "/webhooks/simpay/", None)


@pytest.fixture
def security_lines() -> Iterator[list[str]]:
    """The security logger's lines, formatted as its configured handler formats them."""
    logger = logging.getLogger("security")
    configured = logger.handlers[0]
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(configured.format(record))

    keep = Keep()
    logger.addHandler(keep)
    yield lines
    logger.removeHandler(keep)


def test_each_event_is_also_one_json_line_on_the_security_logger(security_lines: list[str]) -> None:
    _signed_in(staff(username="nobody")).get("/clients/", HTTP_X_REQUEST_ID="req-probe-0002")
    [line] = security_lines
    logged = json.loads(line)
    assert (logged["logger"], logged["level"], logged["event"]) == ("security", "warning", "security event: refused")
    assert logged["security"] == {
        "kind": "refused",
        "username": "nobody",
        "ip": "127.0.0.1",
        "method": "GET",
        "path": "/clients/",
        "status": 403,
        "reason": account_errors.NO_CLIENTS,
        "request_id": "req-probe-0002",
    }


def test_a_database_failure_does_not_change_the_answer() -> None:
    nobody = staff(username="nobody")
    with mock.patch("audit.services.SecurityEvent.objects.bulk_create", side_effect=DatabaseError("down")):
        assert _signed_in(nobody).get("/clients/").status_code == 403


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(info.value)


@pytest.mark.django_db(transaction=True)
def test_bad_update_delete_or_truncate_of_the_log_is_refused_by_the_database() -> None:
    from backoffice.db_roles import connected_as_owner

    _signed_in(staff(username="nobody")).get("/clients/")
    assert SecurityEvent.objects.count() == 1
    edits = ("UPDATE audit_securityevent SET reason = 'nothing to see'", "DELETE FROM audit_securityevent",
             "TRUNCATE audit_securityevent")  # fmt: skip
    for sql in edits:  # the application's role holds no such privilege
        assert "permission denied for table audit_securityevent" in _refused(sql)
    with connected_as_owner():  # and the owner, who holds them, meets the append-only triggers
        assert "Cannot update" in _refused(edits[0])
        assert "Cannot delete" in _refused(edits[1])
        assert "cannot truncate" in _refused(edits[2])
    assert SecurityEvent.objects.count() == 1


@pytest.fixture
def atomic_requests() -> Iterator[None]:
    """Every view in a transaction that a refusal rolls back (ATOMIC_REQUESTS: not how the back
    office runs, the worst case for a log written during the request)."""
    with mock.patch.dict(connections.settings["default"], {"ATOMIC_REQUESTS": True}):
        yield


@pytest.mark.django_db(transaction=True)
def test_refused_requests_own_rollback_does_not_lose_the_event(atomic_requests: Any) -> None:
    client = make_client()
    risk = staff(Role.RISK, username="rita")
    http = _signed_in(risk)
    in_transaction: list[bool] = []
    with mock.patch("ops.permissions.refusal_noted", lambda reason: in_transaction.append(connection.in_atomic_block)):
        page = http.post(f"/clients/{client.pk}/transition/submit_for_review/")
        api = http.post(
            f"/api/v1/staff/clients/{client.pk}/transitions/",
            {"transition": "submit_for_review"},
            content_type="application/json",
        )
    assert in_transaction == [True, True]  # refused inside the request's transaction, which rolled back
    forged = HttpClient().post("/webhooks/simpay/", data=b"{}", content_type="application/json")
    assert (page.status_code, api.status_code, forged.status_code) == (403, 403, 400)
    kinds = list(SecurityEvent.objects.order_by("id").values_list("kind", "path", "reason"))
    assert kinds == [
        ("refused", f"/clients/{client.pk}/transition/submit_for_review/", page.context["exception"]),
        ("refused", f"/api/v1/staff/clients/{client.pk}/transitions/", api.json()["detail"]),
        ("webhook_rejected", "/webhooks/simpay/", payment_errors.SIGNATURE_MISSING),
    ]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, SecurityEventKind.UNAUTHENTICATED), (429, SecurityEventKind.RATE_LIMITED), (403, SecurityEventKind.REFUSED)],
)
def test_every_refusing_answer_is_recorded_whoever_gives_it(status: int, kind: str) -> None:
    """A throttle or lockout (django-axes answers 429) or an authentication challenge, as the
    middleware sees it from whatever sits inside it."""
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse
    from django.test import RequestFactory

    from backoffice.security_log import SecurityLogMiddleware

    request = RequestFactory().post("/login/", REMOTE_ADDR="198.51.100.7")
    request.user = AnonymousUser()
    response = SecurityLogMiddleware(lambda r: HttpResponse(status=status))(request)
    assert response.status_code == status
    event = SecurityEvent.objects.get()
    assert (event.kind, event.status, event.method, event.path) == (kind, status, "POST", "/login/")
