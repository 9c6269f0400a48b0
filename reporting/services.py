"""The writes of the reports: a person's snapshot subscriptions, and the net-deposit days summed
from the ledger's postings (``net_deposit_days_refresh``, hourly by beat)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from reporting import metrics
from reporting.models import Frequency, NetDepositDay, ReportSubscription, SummaryMark
from reporting.selectors import report_can_view


@transaction.atomic(durable=True)
def report_subscription_set(*, user: Any, family: str, frequency: str, subscribed: bool) -> bool:
    """Subscribe ``user`` to (or unsubscribe from) a family's snapshots at ``frequency``; refused
    (PermissionError with the reason) when the family is not theirs to open."""
    decision = report_can_view(user, family)
    if not decision:
        raise PermissionError(decision.reason)
    if frequency not in Frequency.values:
        raise ValueError(frequency)
    if subscribed:
        _, changed = ReportSubscription.objects.get_or_create(user=user, family=family, frequency=frequency)
    else:
        changed = ReportSubscription.objects.filter(user=user, family=family, frequency=frequency).delete()[0] > 0
    if changed:  # who receives which report by e-mail (personal data leaving by mail) is on the record
        audit_record(
            action=AuditAction.REPORT_SUBSCRIBED if subscribed else AuditAction.REPORT_UNSUBSCRIBED,
            subject=("reporting.report", family),
            after={"report": family, "frequency": frequency, "user": user.get_username()},
        )
    return subscribed


REDO_DAYS = 2  # the summed days summed again at each refresh: a transaction still open when its day was summed
BATCH = 5000


@transaction.atomic(durable=True)
def net_deposit_days_refresh(*, today: date | None = None) -> date:
    """Sum the net-deposit postings of the days up to yesterday (the reporting time zone's) that are
    not summed yet into ``NetDepositDay``, and the last ``REDO_DAYS`` summed days again; returns the
    last day summed. Refreshes queue behind one another on the mark's row."""
    today = today or timezone.localdate(timezone=timezone.get_default_timezone())
    SummaryMark.objects.get_or_create(name=metrics.NET_DEPOSIT_DAYS)  # nothing summed yet, the first time
    mark = SummaryMark.objects.select_for_update().get(name=metrics.NET_DEPOSIT_DAYS)
    through = max(today - timedelta(days=1), mark.through or date.min)
    since = mark.through - timedelta(days=REDO_DAYS - 1) if mark.through else None
    NetDepositDay.objects.filter(day__gte=since or date.min).delete()
    rows = metrics.net_deposit_days(
        metrics.start_of(since) if since else None, metrics.start_of(through + timedelta(days=1))
    )
    batch: list[NetDepositDay] = []  # written as read, a few thousand rows at a time (flat memory)
    for r in rows.iterator(chunk_size=BATCH):
        row = NetDepositDay(
            day=r["day"], client_id=r["account__client_id"], currency=r["currency"], channel=r["channel"],
            deposits=r["deposits"], withdrawals=r["withdrawals"], postings=r["postings"],
        )  # fmt: skip
        batch.append(row)
        if len(batch) == BATCH:
            NetDepositDay.objects.bulk_create(batch)
            batch = []
    NetDepositDay.objects.bulk_create(batch)
    mark.through, mark.refreshed_at = through, timezone.now()
    mark.save(update_fields=["through", "refreshed_at"])
    return through
