from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.errors import OpsError
from ops.models import Queue, StaffNotification, WorkItem, WorkItemStatus
from ops.priority import priority_label, urgency_at
from ops.roles import Role
from ops.services import work_items as svc
from tests.factories import staff, work_item

pytestmark = pytest.mark.django_db


def test_good_open_sets_sla_and_is_audited() -> None:
    item = work_item("screening_hit", risk_level="high")
    queue = Queue.objects.get(code="screening_hit")
    assert item.status == WorkItemStatus.OPEN and item.owner is None
    assert abs((item.due_at - item.created_at) - timedelta(minutes=queue.sla_minutes)) < timedelta(seconds=1)
    assert item.urgency_at == item.due_at - timedelta(hours=8)
    assert AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_OPENED, subject_id=str(item.pk)).exists()


def test_one_open_item_per_subject_and_queue() -> None:
    subject = staff()
    first = work_item("kyc_review", subject=subject)
    assert work_item("kyc_review", subject=subject).pk == first.pk  # the open one comes back
    assert work_item("kyc_exception", subject=subject).pk != first.pk  # another queue is fine
    assert WorkItem.objects.filter(subject_id=str(subject.pk), queue__code="kyc_review").count() == 1


def test_bad_unknown_queue_is_refused() -> None:
    with pytest.raises(OpsError, match="Unknown queue 'nope'"):
        work_item("nope")


def test_priority_puts_risk_and_money_ahead_of_a_slightly_earlier_deadline() -> None:
    now = timezone.now()
    low_soon = urgency_at(due_at=now + timedelta(hours=3), risk_level="low", amount=Decimal("100"))
    high_later = urgency_at(due_at=now + timedelta(hours=8), risk_level="high", amount=Decimal("100"))
    big_money = urgency_at(due_at=now + timedelta(hours=6), risk_level="low", amount=Decimal("1000000"))
    assert high_later < low_soon and big_money < low_soon  # type: ignore[operator]
    assert priority_label(now - timedelta(minutes=5), now) == "P1"
    assert priority_label(now + timedelta(hours=3), now) == "P2"
    assert priority_label(now + timedelta(hours=20), now) == "P3"
    assert priority_label(None, now) == "P4"


def test_next_item_takes_the_most_urgent_unassigned_one() -> None:
    reviewer = staff(Role.COMPLIANCE)
    low = work_item("kyc_review", risk_level="low")
    critical = work_item("kyc_review", risk_level="critical")
    taken = work_item("kyc_review", risk_level="critical", title="already taken")
    svc.work_item_claim(item_id=taken.pk, user=staff(Role.COMPLIANCE))
    claimed = svc.work_item_claim_next(user=reviewer)
    assert claimed is not None and claimed.pk == critical.pk
    assert claimed.owner == reviewer and claimed.status == WorkItemStatus.IN_PROGRESS
    assert svc.work_item_claim_next(user=reviewer).pk == low.pk  # type: ignore[union-attr]
    assert svc.work_item_claim_next(user=reviewer) is None


def test_next_item_only_from_queues_the_role_works() -> None:
    work_item("withdrawal_approval")
    assert svc.work_item_claim_next(user=staff(Role.COMPLIANCE)) is None
    with pytest.raises(OpsError, match="does not work"):
        svc.work_item_claim_next(user=staff(Role.COMPLIANCE), queue="withdrawal_approval")


def test_bad_claiming_a_claimed_item_changes_nothing() -> None:
    item = work_item()
    first, second = staff(Role.COMPLIANCE), staff(Role.COMPLIANCE)
    svc.work_item_claim(item_id=item.pk, user=first)
    with pytest.raises(OpsError, match=f"already owned by {first.username}"):
        svc.work_item_claim(item_id=item.pk, user=second)
    assert WorkItem.objects.get(pk=item.pk).owner == first


def test_bad_acting_on_a_queue_your_role_does_not_work() -> None:
    item = work_item("withdrawal_approval")
    with pytest.raises(OpsError, match=errors.NOT_YOUR_QUEUE.format(queue="Withdrawal approval")):
        svc.work_item_claim(item_id=item.pk, user=staff(Role.SUPPORT))
    assert WorkItem.objects.get(pk=item.pk).owner is None


@pytest.mark.parametrize(
    ("code", "note", "message"),
    [
        ("", "checked", errors.RESOLUTION_CODE_REQUIRED),
        ("bogus", "x", "Unknown resolution code"),
        ("fixed", "  ", errors.RESOLUTION_NOTE_REQUIRED),
    ],
)
def test_bad_resolve_without_a_code_or_note(code: str, note: str, message: str) -> None:
    user = staff(Role.COMPLIANCE)
    item = svc.work_item_claim(item_id=work_item().pk, user=user)
    with pytest.raises(OpsError, match=message):
        svc.work_item_resolve(item_id=item.pk, user=user, code=code, note=note)
    assert WorkItem.objects.get(pk=item.pk).status == WorkItemStatus.IN_PROGRESS


def test_good_resolve_records_code_note_and_is_final() -> None:
    user = staff(Role.COMPLIANCE)
    item = svc.work_item_claim(item_id=work_item().pk, user=user)
    svc.work_item_resolve(item_id=item.pk, user=user, code="false_positive", note="different date of birth")
    item.refresh_from_db()
    assert (item.status, item.resolution_code, item.resolved_by) == ("resolved", "false_positive", user)
    with pytest.raises(OpsError, match=errors.ITEM_CLOSED):
        svc.work_item_resolve(item_id=item.pk, user=user, code="fixed", note="again")
    assert [
        e.action for e in AuditEvent.objects.filter(subject_id=str(item.pk), subject_type="ops.workitem").order_by("id")
    ] == [
        "work_item.opened",
        "work_item.claimed",
        "work_item.resolved",
    ]


def test_bad_only_the_owner_resolves() -> None:
    item = svc.work_item_claim(item_id=work_item().pk, user=staff(Role.COMPLIANCE))
    with pytest.raises(OpsError, match=errors.NOT_OWNER):
        svc.work_item_resolve(item_id=item.pk, user=staff(Role.COMPLIANCE), code="fixed", note="n")


def test_waiting_on_client_pauses_the_sla_clock() -> None:
    user = staff(Role.COMPLIANCE)
    item = svc.work_item_claim(item_id=work_item().pk, user=user)
    remaining_before = item.due_at - timezone.now()  # type: ignore[operator]
    held = svc.work_item_hold(item_id=item.pk, user=user, reason="asked for a clearer passport scan")
    assert held.due_at is None and held.urgency_at is None and held.status == WorkItemStatus.WAITING_ON_CLIENT
    WorkItem.objects.filter(pk=item.pk)  # time passes (simulated below by shifting nothing: the clock is off)
    resumed = svc.work_item_resume(item_id=item.pk, user=user)
    assert abs((resumed.due_at - timezone.now()) - remaining_before) < timedelta(seconds=5)  # type: ignore[operator]
    with pytest.raises(OpsError, match="cannot be resumed"):
        svc.work_item_resume(item_id=item.pk, user=user)


def test_bad_hold_needs_a_reason() -> None:
    user = staff(Role.COMPLIANCE)
    item = svc.work_item_claim(item_id=work_item().pk, user=user)
    with pytest.raises(OpsError, match=errors.REASON_REQUIRED):
        svc.work_item_hold(item_id=item.pk, user=user, reason=" ")


def test_assign_and_reassign_rules() -> None:
    lead = staff(Role.COMPLIANCE)
    alice = staff(Role.COMPLIANCE, lead=lead)
    bob = staff(Role.COMPLIANCE)
    item = work_item()
    svc.work_item_assign(item_id=item.pk, assignee=alice, actor=bob)
    with pytest.raises(OpsError, match=errors.REASSIGN_NOT_ALLOWED):
        svc.work_item_assign(item_id=item.pk, assignee=bob, actor=bob)
    svc.work_item_assign(item_id=item.pk, assignee=bob, actor=lead, reason="alice is on leave")
    with pytest.raises(OpsError, match="does not work"):
        svc.work_item_assign(item_id=item.pk, assignee=staff(Role.FINANCE), actor=bob)
    assert WorkItem.objects.get(pk=item.pk).owner == bob
    assert AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_REASSIGNED, reason="alice is on leave").exists()


def test_escalation_moves_overdue_items_and_notifies_the_owners_lead() -> None:
    lead = staff(Role.COMPLIANCE)
    owner = staff(Role.COMPLIANCE, lead=lead)
    item = svc.work_item_claim(item_id=work_item("kyc_review").pk, user=owner)
    fresh = work_item("kyc_review")  # opened a moment later: also overdue by then
    assert item.due_at is not None
    later = item.due_at + timedelta(minutes=1)
    assert svc.work_items_escalate_overdue(now=later) == 2
    item.refresh_from_db()
    assert item.queue.code == "compliance_escalation" and item.escalation_level == 1
    assert item.owner == owner  # still works the target queue
    assert item.due_at == later + timedelta(minutes=item.queue.sla_minutes)
    assert StaffNotification.objects.filter(recipient=lead, title__startswith="Escalated (level 1)").exists()
    assert WorkItem.objects.get(pk=fresh.pk).escalation_level == 1
    # no escalation target: the level rises and a new clock starts in place
    assert item.due_at is not None
    assert svc.work_items_escalate_overdue(now=item.due_at + timedelta(minutes=1)) >= 1
    item.refresh_from_db()
    assert item.queue.code == "compliance_escalation" and item.escalation_level == 2


def test_escalation_leaves_items_waiting_on_the_client_alone() -> None:
    user = staff(Role.COMPLIANCE)
    item = svc.work_item_claim(item_id=work_item().pk, user=user)
    svc.work_item_hold(item_id=item.pk, user=user, reason="waiting for proof of address")
    assert svc.work_items_escalate_overdue(now=timezone.now() + timedelta(days=30)) == 0


def test_repeated_failed_sign_ins_raise_a_risk_alert(client: Client) -> None:
    victim = staff(username="target")
    for _ in range(5):
        client.post("/login/", {"username": "target", "password": "guess"})
    alert = WorkItem.objects.get(queue__code="risk_alert", subject_id=str(victim.pk))
    assert alert.risk_level == "high" and alert.details["failed_sign_ins"] == 5
