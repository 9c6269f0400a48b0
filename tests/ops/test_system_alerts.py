"""The audit chain watching itself: a committed event that sealing cannot reach, because a
transaction has been left open or because sealing fails, becomes a "System alert" work item for the
admins naming the cause; the alert resolves itself once the chain has caught up."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent, AuditSeal
from audit.services import audit_record
from ops.models import WorkItem, WorkItemStatus
from ops.services.system_alerts import audit_seal_watch
from ops.tasks import audit_seal_watch_task
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serial]


def _record(subject_id: str) -> AuditEvent:
    with transaction.atomic():
        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", subject_id))
    return AuditEvent.objects.latest("id")


class _OpenTransaction:
    """A writing transaction held open on its own connection (a thread) until released."""

    def __init__(self) -> None:
        self.pid = 0
        self._holding, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id(), pg_backend_pid()")
            self.pid = cursor.fetchone()[1]
            self._holding.set()
            self._release.wait(30)
        connection.close()

    def __enter__(self) -> _OpenTransaction:
        self._thread.start()
        assert self._holding.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(30)


def test_open_transaction_holding_the_sealer_back_raises_one_alert_then_resolves() -> None:
    with _OpenTransaction() as blocker:
        waiting = _record("after-the-long-one")
        assert audit_seal_watch(stall_seconds=3600) is None  # open, but not for an hour
        item = audit_seal_watch(stall_seconds=0)
        assert item is not None and item.queue.code == "system_alert" and item.risk_level == "high"
        assert item.subject_id == str(waiting.pk) and "held back" in item.title
        assert item.details["oldest_running_transaction"]["pid"] == blocker.pid
        assert not AuditSeal.objects.filter(event_id=waiting.pk).exists()
        assert audit_seal_watch(stall_seconds=0) == item  # one alert, not one per check
    # the transaction ended: the watch seals what waited and resolves the alert (its own new events
    # are fresh, so a minute's threshold lets them wait for the sealer)
    assert audit_seal_watch(stall_seconds=60) is None
    assert AuditSeal.objects.filter(event_id=waiting.pk).exists()
    item.refresh_from_db()
    assert item.status == WorkItemStatus.RESOLVED and item.resolution_code == "fixed"
    assert WorkItem.objects.filter(queue__code="system_alert").count() == 1


def test_failing_sealer_raises_an_alert_with_its_error() -> None:
    with mock.patch("audit.services.timezone.now", return_value=timezone.now() - timedelta(hours=1)):
        waiting = _record("an-hour-ago")
    with mock.patch("ops.services.system_alerts.audit_seal", side_effect=RuntimeError("disk full")):
        item = audit_seal_watch()
    assert item is not None and item.subject_id == str(waiting.pk)
    assert item.title == "Audit chain sealing fails: RuntimeError: disk full"


def test_bad_old_event_that_can_be_sealed_raises_nothing() -> None:
    """An event recorded long ago in a transaction that only just committed is no stall: the watch
    seals it."""
    with mock.patch("audit.services.timezone.now", return_value=timezone.now() - timedelta(hours=1)):
        waiting = _record("long transaction")
    assert audit_seal_watch(stall_seconds=0) is None
    assert AuditSeal.objects.filter(event_id=waiting.pk).exists()
    assert not WorkItem.objects.filter(queue__code="system_alert").exists()


@pytest.fixture
def stall_after_one_second(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AUDIT_SEAL_STALL_SECONDS", "1")  # read by the worker started after this
    yield


def test_watch_runs_in_a_real_worker(
    stall_after_one_second: None, celery_worker_process: subprocess.Popen[str]
) -> None:
    with _OpenTransaction() as blocker:
        waiting = _record("behind-an-open-transaction")
        time.sleep(1.2)  # the blocker must have been open longer than the worker's 1 s threshold
        audit_seal_watch_task.delay()
        item = wait_for(lambda: WorkItem.objects.filter(queue__code="system_alert", subject_id=str(waiting.pk)).first())
        assert item.details["oldest_running_transaction"]["pid"] == blocker.pid
