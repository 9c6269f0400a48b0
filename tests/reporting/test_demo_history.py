"""The demo's history for the reports: clients registered, reviewed and funded through the real
services at past moments (the demo clock), so the charts have a shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Client
from audit.models import AuditEvent
from backoffice.demo_history import demo_clock, seed_history
from ops.roles import Role
from payments.models import Deposit
from payments.services.ledger import ledger_verify
from reporting.filters import ReportFilter, filters_from
from reporting.reports import accounts_report
from tests.factories import staff

pytestmark = pytest.mark.django_db


def test_demo_clock_stamps_rows_and_audit_events_as_of_then() -> None:
    from tests.factories import client

    then = timezone.now() - timedelta(days=40)
    with demo_clock(then):
        c = client()
    assert abs((c.created_at - then).total_seconds()) < 60
    event = AuditEvent.objects.filter(subject_type="accounts.client", subject_id=str(c.pk)).earliest("id")
    assert abs((event.occurred_at - then).total_seconds()) < 60
    assert abs((client().created_at - timezone.now()).total_seconds()) < 60  # the clock is back


def test_history_spreads_over_the_period_and_the_ledger_holds() -> None:
    for username, role in (("support", Role.SUPPORT), ("compliance", Role.COMPLIANCE),
                           ("compliance2", Role.COMPLIANCE), ("finance", Role.FINANCE),
                           ("finance2", Role.FINANCE), ("risk", Role.RISK)):  # fmt: skip
        staff(role, username=username)
    made = seed_history(days=45, seed=3)
    assert made == Client.objects.count() >= 12
    days = {c.created_at.date() for c in Client.objects.all()}
    assert len(days) >= 6
    assert Deposit.objects.filter(status="credited").exists()
    assert ledger_verify().ok
    from kyc.models import ScreeningHit
    from payments.models import Withdrawal

    assert ScreeningHit.objects.filter(client__last_name__in=["Johnson 4", "Lopez 9"]).count() == 2  # on the demo list
    paid = Withdrawal.objects.filter(status="paid")
    assert all(w.paid_at > w.created_at + timedelta(minutes=30) for w in paid)
    bar = ReportFilter({"date_from": (timezone.localdate() - timedelta(days=46)).isoformat()})
    assert bar.is_valid()
    report = accounts_report(filters_from(bar))
    trend = next(c for c in report.charts if c.title == "New registrations")
    assert len(trend.series) >= 6
