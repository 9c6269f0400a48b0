from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts import errors
from accounts.errors import ClientError
from accounts.models import AccountType, Client, ClientStatus, TradingAccount
from accounts.services.clients import client_register, client_transition, client_update_details
from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.models import ApprovalStatus
from ops.roles import Role
from ops.services.approvals import approval_decide, approval_submit
from tests.factories import approvable_client as client
from tests.factories import staff

pytestmark = pytest.mark.django_db


def _to(c: Client, *names: str, actor: object = None, **kwargs: object) -> Client:
    actor = actor or staff(Role.COMPLIANCE)
    for name in names:
        c = client_transition(client_id=c.pk, name=name, actor=actor, reason=f"reason for {name}", **kwargs)  # type: ignore[arg-type]
    return c


def test_good_registration_normalises_and_audits() -> None:
    c = client(phone="+44 7911 123456", base_currency="usd")
    assert c.status == ClientStatus.REGISTERED and c.reference.startswith("C")
    assert c.phone == "+447911123456" and c.base_currency == "USD"
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_REGISTERED, subject_id=str(c.pk)).exists()
    assert c.history.get().history_actor == "system:pytest"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"phone": "12345"}, "phone", errors.INVALID_PHONE),
        ({"base_currency": "XYZ"}, "base_currency", "not an ISO 4217"),
        ({"base_currency": "JPY"}, "base_currency", "does not hold JPY"),
        ({"last_name": ""}, "__all__", errors.INDIVIDUAL_FIELDS),
    ],
)
def test_bad_registration_names_the_field_and_stores_nothing(fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        client(**fields)
    assert message in " ".join(info.value.message_dict[field])
    assert not Client.objects.exists()


def test_bad_corporate_only_type_for_an_individual() -> None:
    with pytest.raises(ValidationError, match="corporate clients only"):
        client(account_type="corporate")
    assert client(kind="corporate", account_type="corporate").legal_name.startswith("Analytical")


def test_bad_support_may_register_but_not_approve() -> None:
    c = client()
    support = staff(Role.SUPPORT)
    _to(c, "submit_for_review", actor=support)
    with pytest.raises(ClientError, match="may not approve"):
        _to(c, "approve", actor=support)
    assert Client.objects.get(pk=c.pk).status == ClientStatus.PENDING_REVIEW


def test_lifecycle_with_documents_loop_and_provisioning_request(django_capture_on_commit_callbacks: Any) -> None:
    c = _to(client(), "submit_for_review", "request_documents", "resubmit")
    assert c.status == ClientStatus.PENDING_REVIEW
    with django_capture_on_commit_callbacks() as callbacks:
        c = _to(c, "approve")
    account = TradingAccount.objects.get(client=c)
    assert (account.account_type.code, account.currency, account.leverage) == ("standard", "USD", 100)
    assert account.platform_group == "real\\standard" and account.login is None
    # the provisioning task (and the CRM push) are queued after commit, not before
    assert len(callbacks) == 2
    actions = list(
        AuditEvent.objects.filter(subject_type="accounts.client", subject_id=str(c.pk))
        .values_list("action", flat=True)
        .order_by("id")
    )
    assert actions == [
        "client.registered",
        "followup.enrolled",  # documents requested: reminders until they come
        "client.submitted",
        "followup.stopped",  # the documents came
        "client.documents_requested",
        "followup.enrolled",  # additional documents requested
        "client.resubmitted",
        "followup.stopped",
        "client.approved",
    ]


@pytest.mark.parametrize("name", ["request_documents", "restrict", "close"])
def test_bad_missing_reason_is_refused(name: str) -> None:
    c = _to(client(), "submit_for_review", "approve") if name == "restrict" else _to(client(), "submit_for_review")
    with pytest.raises(ClientError, match="A reason is required"):
        client_transition(client_id=c.pk, name=name, actor=staff(Role.COMPLIANCE), reason="  ")
    assert Client.objects.get(pk=c.pk).status == c.status


def test_bad_illegal_transition_changes_nothing() -> None:
    c = client()
    with pytest.raises(ClientError, match="registered cannot be approve"):
        _to(c, "approve")
    with pytest.raises(ClientError, match=errors.UNFREEZE_VIA_APPROVAL):
        client_transition(client_id=c.pk, name="unfreeze", actor=staff(Role.COMPLIANCE))
    assert Client.objects.get(pk=c.pk).status == ClientStatus.REGISTERED


def test_close_from_an_early_status_and_nothing_after() -> None:
    c = _to(client(), "close")
    assert c.status == ClientStatus.CLOSED
    with pytest.raises(ClientError, match="closed cannot be"):
        _to(c, "submit_for_review")


def test_unfreeze_goes_through_maker_checker() -> None:
    c = _to(client(), "submit_for_review", "approve", "restrict")
    maker, checker = staff(Role.COMPLIANCE), staff(Role.COMPLIANCE)
    request = approval_submit(
        action="client.unfreeze", subject=c, payload={"client": c.reference}, maker=maker, reason="documents renewed"
    )
    assert Client.objects.get(pk=c.pk).status == ClientStatus.RESTRICTED
    done = approval_decide(
        request_id=request.pk, checker=checker, decision="approve", reason="checked the new passport"
    )
    assert done.status == ApprovalStatus.EXECUTED
    assert Client.objects.get(pk=c.pk).status == ClientStatus.APPROVED
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_UNFROZEN, subject_id=str(c.pk)).exists()


def test_update_details_is_audited_with_the_changed_fields_only() -> None:
    c = client()
    client_update_details(
        client_id=c.pk, changes={"city": "Leeds", "email": c.email}, actor=staff(Role.SUPPORT), reason="moved"
    )
    event = AuditEvent.objects.get(action=AuditAction.CLIENT_UPDATED)
    assert event.after == {"city": "Leeds"} and event.reason == "moved"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transitions_exactly_one_wins() -> None:
    c = _to(client(), "submit_for_review")
    officers = [staff(Role.COMPLIANCE), staff(Role.COMPLIANCE)]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def act(name: str, officer: object) -> None:
        from audit.context import Actor, acting_as

        try:
            with acting_as(Actor.staff(officer)):
                barrier.wait(10)
                client_transition(client_id=c.pk, name=name, actor=officer, reason="concurrent")  # type: ignore[arg-type]
            results.append(f"{name}: ok")
        except ClientError as exc:
            results.append(f"{name}: {exc}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=(n, o))
        for n, o in zip(["approve", "request_documents"], officers, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wins = [r for r in results if r.endswith(": ok")]
    assert len(results) == 2 and len(wins) == 1, results
    final = Client.objects.get(pk=c.pk).status
    assert final == (ClientStatus.APPROVED if wins[0].startswith("approve") else ClientStatus.PENDING_DOCUMENTS)
    transitions = AuditEvent.objects.filter(
        subject_id=str(c.pk), action__in=["client.approved", "client.documents_requested"]
    )
    assert transitions.count() == 1


def test_account_types_of_the_pre_launch_check() -> None:
    types = {t.code: t for t in AccountType.objects.all()}
    assert 3 <= len(types) <= 5
    for t in types.values():
        assert t.default_leverage <= t.max_leverage and t.currencies and t.platform_group
    assert types["swap_free"].swap_free and types["corporate"].corporate_only


def test_each_account_type_provisions_its_own_group_and_leverage() -> None:
    officer = staff(Role.COMPLIANCE)
    for code in ("standard", "pro", "ecn", "swap_free"):
        c = _to(client(account_type=code, base_currency="EUR"), "submit_for_review", "approve", actor=officer)
        account = TradingAccount.objects.get(client=c)
        t = AccountType.objects.get(code=code)
        assert (account.platform_group, account.leverage, account.currency) == (
            t.platform_group,
            t.default_leverage,
            "EUR",
        )
    corp = _to(
        client(kind="corporate", account_type="corporate", base_currency="CHF"),
        "submit_for_review",
        "approve",
        actor=officer,
    )
    assert TradingAccount.objects.get(client=corp).leverage == 50


def test_register_checks_permission() -> None:
    with pytest.raises(ClientError, match="may not register"):
        client_register(kind="individual", data={"first_name": "A", "last_name": "B", "date_of_birth": datetime.date(1990, 1, 1),
                                                  "country": "GB", "email": "a@b.test", "account_type": AccountType.objects.get(code="standard"),
                                                  "base_currency": "USD"}, actor=staff(Role.FINANCE))  # fmt: skip
