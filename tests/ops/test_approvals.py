"""Maker-checker: the checker is never the maker nor an earlier checker; an approved action runs
exactly once on the payload the maker submitted; a failure is recorded and leaves nothing half done."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.approvals import ApprovalAction, register, unregister
from ops.errors import OpsError
from ops.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, User, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_cancel, approval_decide, approval_submit, approvals_expire_due
from tests.conftest import owner_cursor
from tests.factories import staff

pytestmark = pytest.mark.django_db


def _grant(maker: User, target: User, role: str = "risk") -> ApprovalRequest:
    return approval_submit(
        action="staff.grant_role", subject=target, payload={"role": role}, maker=maker, reason="new ops lead"
    )


def test_good_role_grant_needs_a_second_admin_then_executes_once() -> None:
    maker, checker, target = staff(Role.ADMIN), staff(Role.ADMIN), staff(Role.SUPPORT)
    request = _grant(maker, target)
    assert request.required_roles == ["admin"] and request.status == ApprovalStatus.PENDING
    assert Role.RISK not in User.objects.get(pk=target.pk).roles  # nothing happens before approval
    done = approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="confirmed with HR")
    assert done.status == ApprovalStatus.EXECUTED
    assert Role.RISK in User.objects.get(pk=target.pk).roles
    review = WorkItem.objects.get(queue__code="access_review", subject_id=str(target.pk))
    assert done.result == {"granted": "risk", "access_review_item": review.pk}
    actions = list(
        AuditEvent.objects.filter(subject_type="ops.approvalrequest", subject_id=str(request.pk))
        .values_list("action", flat=True)
        .order_by("id")
    )
    assert actions == ["approval.submitted", "approval.decided", "approval.executed"]
    with pytest.raises(OpsError, match="executed; it can no longer be decided"):
        approval_decide(request_id=request.pk, checker=staff(Role.ADMIN), decision="approve", reason="again")
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_ROLE_GRANTED, subject_id=str(target.pk)).count() == 1


def test_bad_maker_cannot_approve_own_request() -> None:
    maker = staff(Role.ADMIN)
    request = _grant(maker, staff())
    with pytest.raises(OpsError, match=errors.CHECKER_IS_MAKER):
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="looks fine")
    assert not ApprovalDecision.objects.exists()
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.PENDING


def test_bad_maker_as_checker_is_refused_by_the_database() -> None:
    maker = staff(Role.ADMIN)
    request = _grant(maker, staff())
    with pytest.raises(DatabaseError, match="maker-checker"), transaction.atomic():
        ApprovalDecision.objects.create(request=request, level=0, checker=maker, decision="approve", reason="bypass")


def test_bad_same_checker_twice_is_refused_by_the_database() -> None:
    request = _grant(staff(Role.ADMIN), staff())
    checker = staff(Role.ADMIN)
    ApprovalDecision.objects.create(request=request, level=0, checker=checker, decision="approve", reason="one")
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalDecision.objects.create(request=request, level=1, checker=checker, decision="approve", reason="two")


def test_bad_decisions_and_requests_cannot_be_changed_in_the_database() -> None:
    request = _grant(staff(Role.ADMIN), staff())
    decision = ApprovalDecision.objects.create(
        request=request, level=0, checker=staff(Role.ADMIN), decision="reject", reason="no"
    )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ops_approvaldecision SET decision = 'approve' WHERE id = %s", [decision.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute('UPDATE ops_approvalrequest SET payload = \'{"role": "support"}\' WHERE id = %s', [request.pk])


def test_bad_wrong_role_and_missing_reason() -> None:
    request = _grant(staff(Role.ADMIN), staff())
    with pytest.raises(OpsError, match="needs the admin role"):
        approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    with pytest.raises(OpsError, match=errors.DECISION_REASON_REQUIRED):
        approval_decide(request_id=request.pk, checker=staff(Role.ADMIN), decision="approve", reason=" ")
    assert not ApprovalDecision.objects.exists()


def test_bad_only_admins_may_ask_and_not_twice() -> None:
    target = staff()
    with pytest.raises(OpsError, match="may not request"):
        _grant(staff(Role.FINANCE), target)
    _grant(staff(Role.ADMIN), target)
    with pytest.raises(OpsError, match="already waiting for approval"):
        _grant(staff(Role.ADMIN), target)
    with pytest.raises(OpsError, match="already has the support role"):
        _grant(staff(Role.ADMIN), staff(Role.SUPPORT), role="support")
    assert ApprovalRequest.objects.count() == 1


def test_bad_payload_seen_by_the_checker_must_match() -> None:
    request = _grant(staff(Role.ADMIN), staff())
    with pytest.raises(OpsError, match=re.escape(errors.PAYLOAD_CHANGED)):
        approval_decide(
            request_id=request.pk,
            checker=staff(Role.ADMIN),
            decision="approve",
            reason="ok",
            seen_payload_hash="0" * 64,
        )


def test_reject_and_cancel() -> None:
    maker = staff(Role.ADMIN)
    target = staff()
    rejected = approval_decide(
        request_id=_grant(maker, target).pk, checker=staff(Role.ADMIN), decision="reject", reason="not needed"
    )
    assert rejected.status == ApprovalStatus.REJECTED and Role.ADMIN not in target.roles
    request = _grant(maker, target)  # a new request is allowed once the first is closed
    with pytest.raises(OpsError, match=errors.ONLY_MAKER_CANCELS):
        approval_cancel(request_id=request.pk, maker=staff(Role.ADMIN), reason="x")
    assert (
        approval_cancel(request_id=request.pk, maker=maker, reason="asked by mistake").status
        == ApprovalStatus.CANCELLED
    )


def test_expired_requests_cannot_be_decided() -> None:
    request = _grant(staff(Role.ADMIN), staff())
    ApprovalRequest.objects.filter(pk=request.pk)  # expiry is set at submission
    request.expires_at = timezone.now() - timedelta(minutes=1)
    request.save(update_fields=["expires_at"])
    with pytest.raises(OpsError, match="expired"):
        approval_decide(request_id=request.pk, checker=staff(Role.ADMIN), decision="approve", reason="late")
    assert approvals_expire_due() == 1
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.EXPIRED


# --- a registered action with two levels, whose handler can be told to fail --------------------

calls: list[dict[str, Any]] = []


def _levels(subject: Any, payload: dict[str, Any]) -> list[Role]:
    return [Role.FINANCE, Role.COMPLIANCE] if int(payload["amount"]) >= 10_000 else [Role.FINANCE]


def _execute(subject: Any, payload: dict[str, Any], request: Any) -> dict[str, Any]:
    subject.first_name = "changed"
    subject.save()  # a real write, to show it is undone on failure
    calls.append(payload)
    if payload.get("fail"):
        raise RuntimeError("payment rail refused the instruction")
    return {"done": payload["amount"]}


@pytest.fixture
def test_action() -> Iterator[None]:
    register(
        ApprovalAction(
            key="test.pay",
            label="Test payment",
            subject_model=User,
            maker_permission="ops.handle_withdrawals",
            policy=_levels,
            validate=lambda s, p: None,
            execute=_execute,
            describe=lambda s, p: f"pay {p['amount']}",
        )
    )
    calls.clear()
    yield
    unregister("test.pay")


def test_policy_picks_levels_and_each_level_needs_its_role(test_action: None) -> None:
    maker, finance, compliance, finance2 = (
        staff(Role.FINANCE),
        staff(Role.FINANCE),
        staff(Role.COMPLIANCE),
        staff(Role.FINANCE),
    )
    subject = staff()
    small = approval_submit(action="test.pay", subject=subject, payload={"amount": 500}, maker=maker, reason="r")
    assert small.required_roles == ["finance"]
    approval_cancel(request_id=small.pk, maker=maker, reason="replaced")
    big = approval_submit(action="test.pay", subject=subject, payload={"amount": 25_000}, maker=maker, reason="r")
    assert big.required_roles == ["finance", "compliance"]
    assert (
        approval_decide(request_id=big.pk, checker=finance, decision="approve", reason="ok").status
        == ApprovalStatus.PENDING
    )
    with pytest.raises(OpsError, match=errors.CHECKER_ALREADY_DECIDED):
        approval_decide(request_id=big.pk, checker=finance, decision="approve", reason="me again")
    with pytest.raises(OpsError, match="needs the compliance role"):
        approval_decide(request_id=big.pk, checker=finance2, decision="approve", reason="ok")
    assert calls == []  # nothing runs before the last level
    assert (
        approval_decide(request_id=big.pk, checker=compliance, decision="approve", reason="ok").status
        == ApprovalStatus.EXECUTED
    )
    assert calls == [{"amount": 25_000}]


def test_failing_handler_is_recorded_and_nothing_is_half_applied(test_action: None) -> None:
    subject = staff(first_name="original")
    request = approval_submit(
        action="test.pay", subject=subject, payload={"amount": 5, "fail": True}, maker=staff(Role.FINANCE), reason="r"
    )
    result = approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    assert result.status == ApprovalStatus.FAILED and "payment rail refused" in result.failure_reason
    assert User.objects.get(pk=subject.pk).first_name == "original"  # the handler's write was rolled back
    assert ApprovalDecision.objects.filter(request=request).count() == 1  # the decision itself stands
    assert AuditEvent.objects.filter(action=AuditAction.APPROVAL_FAILED, subject_id=str(request.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_tampered_payload_is_not_executed(test_action: None) -> None:
    request = approval_submit(
        action="test.pay", subject=staff(), payload={"amount": 5}, maker=staff(Role.FINANCE), reason="r"
    )
    with owner_cursor() as cursor:  # what only the owner role, bypassing the triggers, could do
        cursor.execute("ALTER TABLE ops_approvalrequest DISABLE TRIGGER USER")
        cursor.execute("UPDATE ops_approvalrequest SET payload = '{\"amount\": 5000000}' WHERE id = %s", [request.pk])
        cursor.execute("ALTER TABLE ops_approvalrequest ENABLE TRIGGER USER")
    result = approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    assert result.status == ApprovalStatus.FAILED and result.failure_reason == errors.TAMPERED_PAYLOAD
    assert calls == []


@pytest.mark.django_db(transaction=True)
def test_two_checkers_approving_at_once_execute_the_action_once(test_action: None) -> None:
    request = approval_submit(
        action="test.pay", subject=staff(), payload={"amount": 7}, maker=staff(Role.FINANCE), reason="r"
    )
    checkers = [staff(Role.FINANCE) for _ in range(4)]
    barrier = threading.Barrier(len(checkers))
    outcomes: list[str] = []

    def decide(checker: User) -> None:
        from audit.context import Actor, acting_as

        try:
            with acting_as(Actor.staff(checker)):
                barrier.wait(10)
                approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="ok")
            outcomes.append("won")
        except OpsError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(c,)) for c in checkers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("won") == 1 and len(outcomes) == 4
    assert calls == [{"amount": 7}]
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.EXECUTED
