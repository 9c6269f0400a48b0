"""Routing a work item to another queue and re-prioritising it (``work_item_route``): who may, what
moves with it, and bad input refused naming what is wrong, with nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.errors import OpsError
from ops.models import WorkItem, WorkItemStatus
from ops.roles import Role
from ops.services import work_items as svc
from tests.factories import staff, work_item

pytestmark = pytest.mark.django_db


def test_good_move_takes_the_new_queues_sla_and_hands_back_an_owner_who_does_not_work_it() -> None:
    item = work_item("client_follow_up")
    desk = staff(Role.SUPPORT)
    svc.work_item_claim(item_id=item.pk, user=desk)
    moved = svc.work_item_route(
        item_id=item.pk, actor=desk, reason="a high-risk client: compliance calls", queue="compliance_escalation",
        risk_level="high",
    )  # fmt: skip
    assert (moved.queue.code, moved.risk_level, moved.owner, moved.status) == (
        "compliance_escalation", "high", None, WorkItemStatus.OPEN,
    )  # fmt: skip
    assert moved.due_at is not None
    assert abs(moved.due_at - (timezone.now() + timedelta(hours=4))) < timedelta(minutes=1)
    assert moved.urgency_at == moved.due_at - timedelta(hours=8)  # high risk ranks it sooner
    event = AuditEvent.objects.get(action=AuditAction.WORK_ITEM_ROUTED, subject_id=str(item.pk))
    assert (event.before["queue"], event.after["queue"], event.after["risk_level"]) == (
        "client_follow_up", "compliance_escalation", "high",
    )  # fmt: skip


def test_good_reprioritise_keeps_the_queue_and_sets_the_due_time() -> None:
    item = work_item("kyc_review")
    due = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    changed = svc.work_item_route(item_id=item.pk, actor=staff(Role.COMPLIANCE), reason="sooner", due_at=due)
    assert (changed.queue.code, changed.due_at, changed.risk_level) == ("kyc_review", due, "low")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, errors.ROUTE_NOTHING),
        ({"queue": "kyc_review"}, errors.ROUTE_SAME_QUEUE.format(queue="KYC review")),
        ({"queue": "nowhere"}, errors.UNKNOWN_QUEUE.format(code="nowhere")),
        ({"risk_level": "extreme"}, errors.ROUTE_RISK_LEVEL.format(levels="low, medium, high, critical")),
        ({"due_at": timezone.now() - timedelta(hours=1)}, errors.ROUTE_DUE_PAST),
    ],
)
def test_bad_routing_is_refused_naming_why_and_changes_nothing(kwargs: dict, message: str) -> None:
    item = work_item("kyc_review")
    with pytest.raises(OpsError) as refused:
        svc.work_item_route(item_id=item.pk, actor=staff(Role.COMPLIANCE), reason="r", **kwargs)
    assert str(refused.value) == message
    assert WorkItem.objects.get(pk=item.pk).queue.code == "kyc_review"
    assert not AuditEvent.objects.filter(action=AuditAction.WORK_ITEM_ROUTED).exists()


def test_bad_someone_outside_the_queue_may_not_route_and_a_taken_queue_is_refused() -> None:
    subject = staff()
    item = work_item("kyc_review", subject=subject)
    with pytest.raises(OpsError, match="Only a queue manager or someone who works the KYC review queue"):
        svc.work_item_route(item_id=item.pk, actor=staff(Role.FINANCE), reason="r", risk_level="high")
    other = work_item("kyc_exception", subject=subject)
    with pytest.raises(OpsError) as taken:
        svc.work_item_route(item_id=item.pk, actor=staff(Role.COMPLIANCE), reason="r", queue="kyc_exception")
    assert str(taken.value) == errors.ROUTE_TAKEN.format(queue="KYC exception", item=other.pk)
    assert WorkItem.objects.get(pk=item.pk).queue.code == "kyc_review"
