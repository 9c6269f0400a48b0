"""The balances report: a trading account's platform balance beside the ledger's, a drift on the
simulated platform shown as a difference with its open reconciliation item; the client-money
report as of a past date is what the ledger said then."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from ops.roles import Role
from payments.models import JournalEntry, ReconciliationBreak
from payments.services.ledger import trading_ledger_account_for, wallet_for
from payments.services.reconciliation import platform_balances_check
from payments.services.transfers import internal_transfer, platform_balance_push
from reporting.filters import ReportFilter, filters_from
from reporting.reports import client_money, trading_balances
from sim.platform import SimulatedPlatform
from tests.factories import approved_client, card_deposit, staff
from tests.personas import persona_user, sign_in

pytestmark = pytest.mark.django_db


def _funded_trading_account() -> tuple[str, object]:
    c = approved_client()
    card_deposit(c, "1000.00")
    account = c.trading_accounts.get()
    trading = trading_ledger_account_for(account=account)
    internal_transfer(
        from_account=wallet_for(client=c, currency="EUR"), to_account=trading, amount="600.00",
        actor=staff(Role.FINANCE), key="to-trading",
    )  # fmt: skip
    platform_balance_push(entry_id=JournalEntry.objects.get(idempotency_key="to-trading").pk)
    return str(account.login), c


def _filters(**data: str) -> object:
    bar = ReportFilter(data)
    assert bar.is_valid(), bar.form.errors
    return filters_from(bar)


def test_good_agreeing_balances_show_no_difference() -> None:
    login, _ = _funded_trading_account()
    (row,) = trading_balances(_filters())  # type: ignore[arg-type]
    assert (row.login, row.ledger, row.platform, row.difference, row.break_id) == (
        login, Decimal("600.00"), Decimal("600.00"), Decimal("0"), None,
    )  # fmt: skip


def test_good_drift_on_the_platform_is_a_difference_with_its_open_item(client: HttpClient) -> None:
    login, _ = _funded_trading_account()
    SimulatedPlatform.drift(login, balance=Decimal("575.00"))
    platform_balances_check()  # the reconciliation job beat runs
    brk = ReconciliationBreak.objects.get(kind="platform_balance", key=login, resolved_at__isnull=True)
    (row,) = trading_balances(_filters())  # type: ignore[arg-type]
    assert (row.difference, row.break_id) == (Decimal("-25.00"), brk.pk)
    user = persona_user("finance")
    assert user is not None
    html = sign_in(client, user).get("/reports/balances/").content.decode()
    assert f"<td>{login}</td><td>Standard</td><td>EUR</td><td>600.00</td><td>575.00</td><td>-25.00</td>" in html
    assert f"<td>break #{brk.pk} since " in html


def test_good_client_money_as_of_a_past_date_is_unchanged_by_later_postings() -> None:
    c = approved_client(provision=False)
    card_deposit(c, "300.00")
    today = timezone.localdate()
    before = client_money(_filters(date_to=today.isoformat()))  # type: ignore[arg-type]
    assert [(m["currency"], m["owed"]) for m in before] == [("EUR", Decimal("300.00"))]
    # the owed figure equals the clearing account the card money sits in: nothing is short
    assert before[0]["difference"] == Decimal("0")
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    assert client_money(_filters(date_to=yesterday)) == []  # type: ignore[arg-type]
    card_deposit(c, "50.00")
    assert client_money(_filters(date_to=yesterday)) == []  # type: ignore[arg-type]
    after = client_money(_filters(date_to=today.isoformat()))  # type: ignore[arg-type]
    assert after[0]["owed"] == Decimal("350.00")
