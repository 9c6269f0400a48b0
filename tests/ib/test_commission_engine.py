"""The commission engine's statement: pools, caps, FX, the split across the tree, the preview."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from ib.models import Attribution, AttributionSource, CommissionLine, CommissionRun, LineKind, Partner, RuleKind
from ib.services.commissions import commission_paid, commission_preview, deal_lines_write, split_pool
from payments.models import FxRate
from tests.factories import approved_client
from tests.ib.factories import deal, follow, plan, tree

pytestmark = pytest.mark.django_db

DAY = date(2026, 10, 14)


def at(hour: int, day: date = DAY) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, 0))


def attribute(client: Any, partner: Partner, since: datetime | None = None) -> Attribution:
    return Attribution.objects.create(
        client=client, partner=partner, source=AttributionSource.REFERRAL,
        valid_from=since or timezone.make_aware(datetime(2025, 1, 1)),
    )  # fmt: skip


def run_for(start: date = DAY, end: date = DAY) -> CommissionRun:
    return CommissionRun.objects.create(period_start=start, period_end=end, started_by="tests")


def lines_of(d: Any) -> dict[int, Decimal]:
    return {line.level: line.amount for line in CommissionLine.objects.filter(deal=d)}


@pytest.fixture
def setup() -> dict[str, Any]:
    a, b, c = tree("AAA", "BBB", "CCC")
    version = plan(currency="EUR", valid_from=date(2025, 1, 1))
    follow(c, version, valid_from=date(2025, 1, 1))
    client = approved_client(currency="EUR")
    attribute(client, c)
    return {"tree": [a, b, c], "version": version, "client": client}


def test_good_per_lot_pool_split_across_three_levels(setup: dict[str, Any]) -> None:
    d = deal(setup["client"], lots="1.37", closed_at=at(10))
    written = deal_lines_write(run=run_for(), client_ids=[setup["client"].pk])
    assert written == 3
    a, b, c = setup["tree"]
    # pool 8 * 1.37 = 10.96; level 1: trunc(10.96 * 0.30) = 3.28, level 2: trunc(10.96 * 0.20) = 2.19
    assert lines_of(d) == {0: Decimal("5.49"), 1: Decimal("3.28"), 2: Decimal("2.19")}
    line = CommissionLine.objects.get(deal=d, level=0)
    assert (line.partner_id, line.tree, line.kind) == (c.pk, [c.pk, b.pk, a.pk], LineKind.DEAL)
    assert (line.base_amount, line.base_currency, line.currency) == (Decimal("10.96"), "EUR", "EUR")
    assert line.available_on == DAY + timedelta(days=7)
    assert line.plan_version_id == setup["version"].pk and line.rule_id is not None


def test_good_rerun_adds_nothing_twice(setup: dict[str, Any]) -> None:
    deal(setup["client"], closed_at=at(10))
    assert deal_lines_write(run=run_for(), client_ids=[setup["client"].pk]) == 3
    assert deal_lines_write(run=run_for(), client_ids=[setup["client"].pk]) == 0
    assert CommissionLine.objects.count() == 3


def test_good_fx_at_close_converts_the_pool() -> None:
    (top,) = tree("TOP")
    version = plan(currency="EUR", valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.PER_LOT, "group": "fx", "rate": "10", "tier_shares": ["100"]}])  # fmt: skip
    follow(top, version, valid_from=date(2025, 1, 1))
    client = approved_client(currency="USD")
    attribute(client, top)
    FxRate.objects.create(base="USD", quote="EUR", rate=Decimal("0.9"), as_of=at(8))
    FxRate.objects.create(base="USD", quote="EUR", rate=Decimal("0.8"), as_of=at(12))
    early, late = deal(client, closed_at=at(10)), deal(client, closed_at=at(13))
    deal_lines_write(run=run_for(), client_ids=[client.pk])
    assert lines_of(early) == {0: Decimal("9.00")} and lines_of(late) == {0: Decimal("8.00")}
    line = CommissionLine.objects.get(deal=early)
    assert (line.fx_rate, line.fx_at, line.base_currency) == (Decimal("0.9"), at(8), "USD")


def test_good_fx_falls_back_to_the_inverse_of_the_reverse_pair() -> None:
    (top,) = tree("TOP")
    version = plan(currency="EUR", valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.PER_LOT, "group": "fx", "rate": "10", "tier_shares": ["100"]}])  # fmt: skip
    follow(top, version, valid_from=date(2025, 1, 1))
    client = approved_client(currency="USD")
    attribute(client, top)
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.25"), as_of=at(8))
    d = deal(client, closed_at=at(10))
    deal_lines_write(run=run_for(), client_ids=[client.pk])
    line = CommissionLine.objects.get(deal=d)
    assert (line.amount, line.fx_rate, line.fx_at) == (Decimal("8.00"), Decimal("0.8"), at(8))


def test_good_caps_per_trade_day_and_month_count_earlier_runs() -> None:
    (top,) = tree("TOP")
    version = plan(valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.PER_LOT, "group": "fx", "rate": "10", "tier_shares": ["100"], "cap_per_trade": "15",
         "cap_per_day": "40", "cap_per_client": "50"}])  # fmt: skip
    follow(top, version, valid_from=date(2025, 1, 1))
    client = approved_client(currency="EUR")
    attribute(client, top)
    d1 = deal(client, lots="2", closed_at=at(9))  # 20 -> 15 (trade cap)
    d2 = deal(client, lots="1", closed_at=at(10))  # 10
    deal_lines_write(run=run_for(), client_ids=[client.pk])
    d3 = deal(client, lots="2", closed_at=at(11))  # 15 -> 15 (day: 25 + 15 = 40)
    d4 = deal(client, lots="1", closed_at=at(12))  # day cap reached: nothing
    d5 = deal(client, lots="2", closed_at=at(9, DAY + timedelta(days=1)))  # month: 40 + 15 > 50 -> 10
    deal_lines_write(run=run_for(DAY, DAY + timedelta(days=1)), client_ids=[client.pk])
    amounts = [sum(lines_of(d).values(), Decimal("0")) for d in (d1, d2, d3, d4, d5)]
    assert amounts == [Decimal("15"), Decimal("10"), Decimal("15"), Decimal("0"), Decimal("10")]


def test_good_short_deal_earns_nothing_and_rebate_goes_to_client(setup: dict[str, Any]) -> None:
    (top,) = tree("TOP")
    version = plan("REB", valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.SPREAD_PCT, "group": "fx", "rate": "50", "tier_shares": ["100"], "client_rebate_pct": "33",
         "min_hold_seconds": 120}])  # fmt: skip
    follow(top, version, valid_from=date(2025, 1, 1))
    client = approved_client(currency="EUR")
    attribute(client, top)
    scalp = deal(client, closed_at=at(10), held=timedelta(seconds=90))
    kept = deal(client, closed_at=at(11), spread="10.01")
    deal_lines_write(run=run_for(), client_ids=[client.pk])
    assert lines_of(scalp) == {}
    # pool round(5.005) = 5.01; rebate trunc(5.01 * 0.33) = 1.65; the partner the rest
    assert lines_of(kept) == {-1: Decimal("1.65"), 0: Decimal("3.36")}
    rebate = CommissionLine.objects.get(deal=kept, level=-1)
    assert (rebate.kind, rebate.partner_id, rebate.client_id) == (LineKind.REBATE, None, client.pk)


def test_good_shares_above_the_top_fold_into_the_top_partner() -> None:
    a, b = tree("AAA", "BBB")
    version = plan(valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.PER_LOT, "group": "fx", "rate": "10", "tier_shares": ["50", "30", "20"]}])  # fmt: skip
    follow(b, version, valid_from=date(2025, 1, 1))
    client = approved_client(currency="EUR")
    attribute(client, b)
    d = deal(client, lots="1", closed_at=at(10))
    deal_lines_write(run=run_for(), client_ids=[client.pk])
    assert lines_of(d) == {0: Decimal("5.00"), 1: Decimal("5.00")}
    assert CommissionLine.objects.get(deal=d, level=1).partner_id == a.pk


def test_good_preview_matches_the_run_and_writes_nothing(setup: dict[str, Any]) -> None:
    for hour in (9, 10, 11):
        deal(setup["client"], lots="0.73", closed_at=at(hour))
    the_plan = setup["version"].plan
    rules = [{"kind": "per_lot", "symbol_group": "fx", "rate": Decimal("8"), "tier_shares": ["50", "30", "20"]}]
    preview = commission_preview(plan=the_plan, rules=rules, start=DAY, end=DAY)
    assert CommissionLine.objects.count() == 0
    deal_lines_write(run=run_for(), client_ids=[setup["client"].pk])
    paid = commission_paid(plan=the_plan, start=DAY, end=DAY)
    assert (preview.total, preview.deals, preview.by_partner) == (paid.total, paid.deals, paid.by_partner)
    assert paid.total == Decimal("17.52") and paid.deals == 3
    doubled = commission_preview(plan=the_plan, rules=[{**rules[0], "rate": "16"}], start=DAY, end=DAY)
    assert doubled.total == Decimal("35.04")


def test_split_pool_examples() -> None:
    split = split_pool(Decimal("10.96"), tier_shares=[Decimal("50"), Decimal("30"), Decimal("20")], tree_size=3,
                       client_rebate_pct=Decimal("0"))  # fmt: skip
    assert split.levels == [Decimal("5.49"), Decimal("3.28"), Decimal("2.19")]
    folded = split_pool(Decimal("10"), tier_shares=[Decimal("50"), Decimal("30"), Decimal("20")], tree_size=2,
                        client_rebate_pct=Decimal("10"))  # fmt: skip
    assert (folded.rebate, folded.levels) == (Decimal("1.00"), [Decimal("4.50"), Decimal("4.50")])
