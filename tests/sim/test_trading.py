"""The trading simulator: deals on the simulated platform that look like retail trading, the same
for the same seed, and reported by its closed-deals feed in ticket order after a cursor."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.platform import PlatformError
from sim.models import SimPlatformAccount, SimPlatformDeal
from sim.platform import SimulatedPlatform
from sim.trading import SYMBOLS, simulate_trading

pytestmark = pytest.mark.django_db

START = datetime(2026, 5, 1, tzinfo=UTC)
END = datetime(2026, 8, 1, tzinfo=UTC)


def _account(login: str, group: str, currency: str = "USD") -> SimPlatformAccount:
    return SimPlatformAccount.objects.create(
        login=login, idempotency_key=f"k{login}", name=f"Trader {login}", group=group, leverage=100, currency=currency
    )


def _values() -> list[tuple[object, ...]]:
    return list(
        SimPlatformDeal.objects.order_by("run_key").values_list(
            "run_key", "symbol", "side", "lots", "opened_at", "closed_at", "spread", "commission", "swap", "profit"
        )
    )


def test_good_same_seed_same_deals_and_a_period_made_before_adds_nothing() -> None:
    _account("5000001", "real\\standard")
    made = simulate_trading(start=START, end=END, seed=42)
    first = _values()
    assert made == len(first) > 50
    assert simulate_trading(start=START + timedelta(days=10), end=END, seed=42) == 0
    SimPlatformDeal.objects.all().delete()
    assert simulate_trading(start=START, end=END, seed=42) == made
    assert _values() == first
    SimPlatformDeal.objects.all().delete()
    simulate_trading(start=START, end=END, seed=43)
    assert _values() != first


def test_good_deals_look_like_retail_trading() -> None:
    _account("5000002", "real\\standard")
    _account("5000003", "real\\ecn", "EUR")
    _account("5000004", "real\\islamic")
    simulate_trading(start=START, end=END, seed=1)
    deals = list(SimPlatformDeal.objects.select_related("account"))
    assert all(Decimal("0.01") <= d.lots <= Decimal("5.00") for d in deals)
    assert sorted(d.lots for d in deals)[len(deals) // 2] <= Decimal("0.30")  # skewed small
    holds = [(d.closed_at - d.opened_at).total_seconds() for d in deals]
    assert any(h < 120 for h in holds) and any(h > 2 * 86400 for h in holds)  # scalps and multi-day holds
    assert {d.symbol for d in deals} == {s.name for s in SYMBOLS}
    assert Counter(d.symbol for d in deals).most_common(1)[0][0] == "EURUSD"
    assert all(d.spread > 0 for d in deals)
    assert all(d.commission > 0 for d in deals if d.account.group.endswith("ecn"))
    assert all(d.commission == 0 for d in deals if not d.account.group.endswith("ecn"))
    assert all(d.swap == 0 for d in deals if d.opened_at.date() == d.closed_at.date())
    assert all(d.swap == 0 for d in deals if "islamic" in d.account.group)
    assert any(d.swap != 0 for d in deals if d.account.group.endswith("standard"))
    assert all(d.currency == d.account.currency for d in deals)
    assert all(d.closed_at.weekday() < 5 and START <= d.closed_at <= END for d in deals)
    tickets = [d.ticket for d in sorted(deals, key=lambda d: d.ticket)]
    closes = [d.closed_at for d in sorted(deals, key=lambda d: d.ticket)]
    assert closes == sorted(closes) and tickets == sorted(tickets)


def test_good_closed_deals_feed_pages_after_a_cursor() -> None:
    _account("5000005", "real\\pro")
    made = simulate_trading(start=START, end=START + timedelta(days=14), seed=9)
    platform = SimulatedPlatform()
    seen, after = [], None
    while page := platform.closed_deals(after=after, limit=7):
        assert len(page) <= 7
        seen.extend(page)
        after = page[-1].deal_id
    assert len(seen) == made
    assert [int(d.deal_id) for d in seen] == sorted(int(d.deal_id) for d in seen)
    assert seen[0].login == "5000005" and seen[0].currency == "USD"
    assert platform.closed_deals(after=after, limit=7) == []


def test_bad_cursor_that_is_no_ticket_is_a_platform_error() -> None:
    with pytest.raises(PlatformError):
        SimulatedPlatform().closed_deals(after="abc", limit=10)
