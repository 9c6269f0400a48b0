"""``manage.py sim_platform_drift LOGIN AMOUNT`` (demo and tests): the simulated platform's balance
drifts, the reconciliation beat runs is run, and the balances report shows the difference with
its open reconciliation item."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import ReconciliationBreak
from reporting.filters import ReportFilter, filters_from
from reporting.reports import trading_balances
from tests.factories import approved_client

pytestmark = pytest.mark.django_db


def test_good_drift_opens_an_item_the_balances_report_shows() -> None:
    c = approved_client()
    login = str(c.trading_accounts.get().login)
    out = StringIO()
    call_command("sim_platform_drift", login, "25.00", stdout=out)
    assert "1 difference(s) open" in out.getvalue()
    brk = ReconciliationBreak.objects.get(kind="platform_balance", key=login, resolved_at__isnull=True)
    bar = ReportFilter({})
    assert bar.is_valid()
    (row,) = trading_balances(filters_from(bar))
    assert (row.platform, row.ledger, row.difference, row.break_id) == (
        Decimal("25.00"), Decimal("0"), Decimal("25.00"), brk.pk,
    )  # fmt: skip


def test_bad_unknown_login_or_amount_is_refused_naming_it() -> None:
    with pytest.raises(CommandError, match="login: no simulated platform account 'nope'"):
        call_command("sim_platform_drift", "nope", "1")
    with pytest.raises(CommandError, match="amount: 'lots' is not a number"):
        call_command("sim_platform_drift", "nope", "lots")
