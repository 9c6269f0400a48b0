"""The figures the reports read in one grouped pass each (the funnel stage per client, the first-time
deposits, active traders, closings, time to KYC, the operations backlog and breaches) are the ones
their definitions give when counted one by one, with and without filters narrowing the clients."""

from __future__ import annotations

from datetime import timedelta
from statistics import median
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.services.clients import client_transition
from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.models import AuditEvent
from audit.services import audit_record
from ops.models import OPEN_STATUSES, WorkItem, WorkItemStatus
from reporting import metrics
from reporting.filters import ReportFilter, filters_from
from reporting.reports import Report, report_build
from tests.factories import work_item
from tests.ib.factories import deal
from tests.reporting.world import world

pytestmark = pytest.mark.django_db


def _report(family: str, **data: str) -> Report:
    bar = ReportFilter(data)
    assert bar.is_valid(), bar.form.errors
    return report_build(family, filters_from(bar))


def _kpis(report: Report) -> dict[str, str]:
    return {k.label: k.value for k in report.kpis}


def _table(report: Report, testid: str) -> list[list[Any]]:
    (table,) = [t for t in report.tables if t.testid == testid]
    return table.rows


def test_good_accounts_figures_follow_their_definitions() -> None:
    w = world()  # gb deposits 1000 then 250, de 400, both approved; a registered client in France
    deal(w.gb)
    deal(w.gb)
    deal(w.de, closed_at=timezone.now() - timedelta(days=120))  # traded, but not in the last 90 days
    with acting_as(Actor.system("test")):
        client_transition(client_id=w.registered.pk, name="close", actor=None, reason="asked to leave")

    report = _report("accounts")
    kpis = _kpis(report)
    assert [kpis[k] for k in ("First-time deposits", "Active traders", "Closed accounts")] == ["2", "1", "1"]
    assert _table(report, "ftd-by-currency") == [["EUR", 2, "1,400.00 EUR"]]  # gb's first, not its second
    (funnel,) = [c for c in report.charts if c.kind == "funnel"]
    assert funnel.series == [("Registered", 3), ("Approved", 2), ("First deposit", 2), ("First trade", 2)]

    uk = _report("accounts", region="uk")  # gb alone
    assert [_kpis(uk)[k] for k in ("First-time deposits", "Active traders", "Closed accounts")] == ["1", "1", "0"]
    assert _table(uk, "ftd-by-currency") == [["EUR", 1, "1,000.00 EUR"]]
    eea = _report("accounts", region="eea")  # de alone: its deal is older than the period
    assert [_kpis(eea)[k] for k in ("First-time deposits", "Active traders")] == ["1", "0"]
    assert _table(eea, "ftd-by-currency") == [["EUR", 1, "400.00 EUR"]]


def test_good_time_to_kyc_counts_each_client_once_from_its_first_approval() -> None:
    w = world()
    with acting_as(Actor.system("test")), transaction.atomic():  # approved again later: not a second KYC
        audit_record(action=AuditAction.CLIENT_APPROVED, subject=w.gb, after={"status": "approved"})
    bar = ReportFilter({})
    assert bar.is_valid()
    f = filters_from(bar)
    seconds = []
    for c in (w.gb, w.de):
        first = AuditEvent.objects.filter(
            action=AuditAction.CLIENT_APPROVED, subject_type="accounts.client", subject_id=str(c.pk)
        ).order_by("occurred_at")[0]
        seconds.append((first.occurred_at - c.created_at).total_seconds())
    low, high = sorted(seconds)
    found = metrics.time_to_kyc(None, f.start, f.end)
    assert found["count"] == 2
    assert found["median"] == pytest.approx(median(seconds))
    assert found["p90"] == pytest.approx(low + 0.9 * (high - low))
    uk = metrics.time_to_kyc(f.clients.filter(country="GB"), f.start, f.end)
    assert (uk["count"], uk["median"]) == (1, pytest.approx(seconds[0]))


def test_good_operations_figures_follow_their_definitions() -> None:
    world()
    work_item("client_follow_up", title="Call back")
    work_item("client_follow_up", title="Overdue call", due_at=timezone.now() - timedelta(hours=2))
    report = _report("operations")
    now = timezone.now()
    items = WorkItem.objects.select_related("queue")
    open_items = [i for i in items if i.status in OPEN_STATUSES]
    resolved = [i for i in items if i.status == WorkItemStatus.RESOLVED]
    late = [i for i in resolved if i.due_at and i.resolved_at > i.due_at]
    overdue = [i for i in open_items if i.due_at and i.due_at < now]
    assert _kpis(report)["Open items"] == str(len(open_items))
    assert _kpis(report)["Resolved in the period"] == str(len(resolved))
    assert _kpis(report)["SLA breaches"] == str(len(late) + len(overdue)) != "0"
    queues = sorted({i.queue.name for i in open_items})
    assert _table(report, "backlog") == [
        [q, sum(1 for i in open_items if i.queue.name == q), sum(1 for i in open_items if i.queue.name == q), 0, 0, 0]
        for q in queues
    ]  # all opened just now: under a day old
    assert ["Client follow-up", 0, 1] in _table(report, "sla")
