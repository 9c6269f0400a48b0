"""The audit chain watching itself: a committed event left unsealed too long (a transaction held
open, or no sealer running) becomes a "System alert" work item for the admins, naming the oldest
running transaction; the alert resolves itself once the chain has caught up."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent, AuditSeal
from audit.services import audit_record, audit_seal
from ops.models import WorkItem, WorkItemStatus
from ops.services.system_alerts import audit_seal_watch
from ops.tasks import audit_seal_watch_task
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _record(subject_id: str) -> AuditEvent:
    with transaction.atomic():
        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", subject_id))
    return AuditEvent.objects.latest("id")


def test_open_transaction_holding_the_sealer_back_raises_one_alert_then_resolves() -> None:
    open_pid: list[int] = []
    holding, release = threading.Event(), threading.Event()

    def long_transaction() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id(), pg_backend_pid()")
            open_pid.append(cursor.fetchone()[1])
            holding.set()
            release.wait(20)
        connection.close()

    thread = threading.Thread(target=long_transaction)
    thread.start()
    try:
        assert holding.wait(10)
        waiting = _record("after-the-long-one")
        assert audit_seal() == 0  # held back by the older transaction
        assert audit_seal_watch(stall_seconds=3600) is None  # not waiting long enough yet
        item = audit_seal_watch(stall_seconds=0)
        assert item is not None and item.queue.code == "system_alert" and item.risk_level == "high"
        assert item.subject_id == str(waiting.pk)
        assert item.details["oldest_running_transaction"]["pid"] == open_pid[0]
        assert audit_seal_watch(stall_seconds=0) == item  # one alert, not one per check
    finally:
        release.set()
        thread.join(20)
    audit_seal()  # the waiting event, and the alert's own "work item opened" event
    assert AuditSeal.objects.filter(event_id=waiting.pk).exists()
    # (resolving writes its own, fresh event: a minute's threshold lets it wait for the sealer)
    assert audit_seal_watch(stall_seconds=60) is None
    item.refresh_from_db()
    assert item.status == WorkItemStatus.RESOLVED and item.resolution_code == "fixed"
    assert WorkItem.objects.filter(queue__code="system_alert").count() == 1


def test_bad_nothing_waiting_raises_nothing() -> None:
    _record("sealed")
    audit_seal()
    assert audit_seal_watch(stall_seconds=0) is None
    assert not WorkItem.objects.filter(queue__code="system_alert").exists()


def test_watch_runs_in_a_real_worker_when_no_sealer_runs(celery_worker_process: subprocess.Popen[str]) -> None:
    """No beat, so nothing seals: an event recorded an hour ago is past the default 300 s."""
    with mock.patch("audit.services.timezone.now", return_value=timezone.now() - timedelta(hours=1)):
        waiting = _record("an-hour-ago")
    audit_seal_watch_task.delay()
    item = wait_for(lambda: WorkItem.objects.filter(queue__code="system_alert", subject_id=str(waiting.pk)).first())
    assert "not sealed for" in item.title
