"""Scheduled snapshots: the period just ended, stored once, its hash in the audit trail, e-mailed
to the subscribers who may still open the report, with the workbook attached."""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.utils import timezone
from openpyxl import load_workbook

from audit.models import AuditEvent
from ops.roles import Role
from reporting.models import ReportSnapshot, ReportSubscription
from reporting.snapshots import period_for, snapshot_send, snapshot_verify, snapshots_run
from tests.factories import staff
from tests.personas import sign_in
from tests.reporting.world import world

pytestmark = pytest.mark.django_db


def test_periods_are_the_ones_just_ended() -> None:
    wednesday = date(2026, 11, 25)
    assert period_for("daily", wednesday) == (date(2026, 11, 24), date(2026, 11, 24))
    assert period_for("weekly", wednesday) == (date(2026, 11, 16), date(2026, 11, 22))
    assert period_for("monthly", wednesday) == (date(2026, 10, 1), date(2026, 10, 31))


def test_good_daily_snapshot_is_stored_hashed_and_mailed_to_who_may_read_it(
    client: HttpClient, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world()
    reader = staff(Role.FINANCE, username="fin-reader", email="fin@example.test")
    http = sign_in(client, reader)
    assert http.post("/reports/payments/subscribe/", {"frequency": "daily", "subscribed": "on"}).status_code == 302
    lost = staff(Role.FINANCE, username="moved-on", email="gone@example.test")
    ReportSubscription.objects.create(user=lost, family="payments", frequency="daily")
    lost.groups.clear()  # no longer finance: not sent to them
    tomorrow = timezone.localdate() + timedelta(days=1)
    sent: list[int] = []  # the e-mail task queued after commit (sent below, as the worker would)
    monkeypatch.setattr("reporting.tasks.snapshot_send_task.delay", lambda snapshot_id: sent.append(snapshot_id))
    with django_capture_on_commit_callbacks(execute=True):
        (snapshot_id,) = snapshots_run(frequency="daily", today=tomorrow)
    assert snapshots_run(frequency="daily", today=tomorrow) == []  # once per period
    snapshot = ReportSnapshot.objects.get(pk=snapshot_id)
    assert snapshot.recipients == ["fin@example.test"] and sent == [snapshot_id]
    assert snapshot.rows == 4  # the day's three deposits and the withdrawal
    event = AuditEvent.objects.get(action="report.snapshot", subject_id=str(snapshot.pk))
    assert event.after["sha256"] == hashlib.sha256(bytes(snapshot.content)).hexdigest() == snapshot.sha256
    assert snapshot_verify(snapshot)

    assert snapshot_send(snapshot_id=snapshot.pk) == 1
    (message,) = mail.outbox
    assert message.to == ["fin@example.test"] and snapshot.sha256 in message.body
    assert "Deposit success rate" in message.body
    name, content, _ = message.attachments[0]
    assert name.endswith(".xlsx") and hashlib.sha256(content).hexdigest() == snapshot.sha256
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows()) == 1 + 4
