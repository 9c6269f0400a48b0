"""The escalation job runs in a real Celery worker."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.models import StaffNotification, WorkItem
from ops.roles import Role
from ops.tasks import approvals_expire_task, work_items_escalate_task
from tests.conftest import wait_for
from tests.factories import staff, work_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_overdue_item_is_escalated_by_the_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    lead = staff(Role.COMPLIANCE)
    item = work_item("screening_hit", risk_level="high")
    from ops.services.work_items import work_item_claim

    work_item_claim(item_id=item.pk, user=staff(Role.COMPLIANCE, lead=lead))
    item.refresh_from_db()
    item.due_at = timezone.now() - timedelta(minutes=5)  # the SLA passed
    item.save(update_fields=["due_at"])
    work_items_escalate_task.delay()
    wait_for(lambda: WorkItem.objects.get(pk=item.pk).escalation_level == 1)
    item.refresh_from_db()
    assert item.queue.code == "compliance_escalation" and item.due_at is not None and item.due_at > timezone.now()
    event = AuditEvent.objects.get(action=AuditAction.WORK_ITEM_ESCALATED, subject_id=str(item.pk))
    assert event.actor_label == "system:ops.tasks.work_items_escalate_task"
    assert StaffNotification.objects.filter(recipient=lead).exists()
    approvals_expire_task.delay()  # the other ops task family member runs too (nothing to expire)
