"""Scheduled snapshots: beat asks for the daily, weekly and monthly runs; each family with
subscribers gets its report for the period just ended, stored with its hash (in the audit trail
too), and e-mailed as a summary with the XLSX attached after commit."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record
from reporting.exports import xlsx_bytes
from reporting.families import FAMILIES
from reporting.filters import ReportFilter, filters_from
from reporting.models import Frequency, ReportSnapshot, ReportSubscription
from reporting.reports import report_build
from reporting.routers import reporting_reads
from reporting.selectors import report_can_view


def period_for(frequency: str, today: date) -> tuple[date, date]:
    """The period just ended: yesterday, last week (Monday to Sunday), last month."""
    if frequency == Frequency.DAILY:
        day = today - timedelta(days=1)
        return day, day
    if frequency == Frequency.WEEKLY:
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def snapshots_run(*, frequency: str, today: date | None = None) -> list[int]:
    """Make the snapshots due at ``frequency`` (once per family and period; a repeated run makes
    nothing new). Returns the ids of the snapshots made."""
    today = today or timezone.localdate()
    start, end = period_for(frequency, today)
    made = []
    families = sorted(set(ReportSubscription.objects.filter(frequency=frequency).values_list("family", flat=True)))
    for family in families:
        if family not in FAMILIES:
            continue
        snapshot = snapshot_make(family=family, frequency=frequency, start=start, end=end)
        if snapshot is not None:
            made.append(snapshot.pk)
    return made


def snapshot_make(*, family: str, frequency: str, start: date, end: date) -> ReportSnapshot | None:
    if ReportSnapshot.objects.filter(family=family, frequency=frequency, period_start=start, period_end=end).exists():
        return None
    bar = ReportFilter({"date_from": start.isoformat(), "date_to": end.isoformat()})
    assert bar.is_valid(), bar.form.errors
    with reporting_reads():
        report = report_build(family, filters_from(bar))
        assert report.dataset is not None
        content = xlsx_bytes(report.dataset, title=FAMILIES[family].title)
        rows = report.dataset.count()
    digest = hashlib.sha256(content).hexdigest()
    recipients = [
        s.user for s in ReportSubscription.objects.filter(family=family, frequency=frequency).select_related("user")
        if s.user.is_active and s.user.email and report_can_view(s.user, family)
    ]  # fmt: skip
    summary = {k.label: k.value for k in report.kpis}
    with acting_as(Actor.system("report_snapshots")), transaction.atomic():
        snapshot = ReportSnapshot.objects.create(
            family=family, frequency=frequency, period_start=start, period_end=end, summary=summary, rows=rows,
            content=content, sha256=digest, recipients=[u.email for u in recipients],
        )  # fmt: skip
        audit_record(
            action=AuditAction.REPORT_SNAPSHOT,
            subject=snapshot,
            after={"family": family, "frequency": frequency, "period": [start.isoformat(), end.isoformat()],
                   "sha256": digest, "rows": rows, "recipients": snapshot.recipients},
        )  # fmt: skip
        if recipients:
            from reporting.tasks import snapshot_send_task

            transaction.on_commit(lambda: snapshot_send_task.delay(snapshot_id=snapshot.pk))
    return snapshot


def snapshot_send(*, snapshot_id: int) -> int:
    """E-mail the snapshot: the summary in the body, the XLSX attached (its hash named)."""
    snapshot = ReportSnapshot.objects.get(pk=snapshot_id)
    title = FAMILIES[snapshot.family].title
    lines = [
        f"{title} report, {snapshot.period_start} to {snapshot.period_end} ({snapshot.get_frequency_display()}):",
        "",
    ]
    lines += [f"- {label}: {value}" for label, value in snapshot.summary.items()]
    lines += [
        "",
        f"{snapshot.rows} rows in the attached workbook; its SHA-256 is {snapshot.sha256} (in the audit trail).",
    ]
    message = EmailMessage(
        subject=f"{title} report {snapshot.period_start}..{snapshot.period_end}",
        body="\n".join(lines), from_email=settings.DEFAULT_FROM_EMAIL, to=list(snapshot.recipients),
    )  # fmt: skip
    message.attach(
        f"{snapshot.family}-{snapshot.period_start}-{snapshot.period_end}.xlsx",
        bytes(snapshot.content),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    return message.send()


def snapshot_verify(snapshot: ReportSnapshot) -> bool:
    """The stored workbook is the one whose hash the audit trail recorded."""
    from audit.models import AuditEvent

    event: Any = AuditEvent.objects.filter(
        action=AuditAction.REPORT_SNAPSHOT, subject_type="reporting.reportsnapshot", subject_id=str(snapshot.pk)
    ).first()
    return event is not None and event.after.get("sha256") == hashlib.sha256(bytes(snapshot.content)).hexdigest()
