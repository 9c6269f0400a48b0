"""Commission runs: starting one, carrying it out chunk by chunk, CPA, revenue share, statements,
and the deals that earned nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ib import errors
from ib.errors import PartnerError
from ib.models import CommissionLine, CommissionRun, LineKind, RuleKind, RunStatus, Statement
from ib.selectors import deals_unearned
from ib.services.runs import commission_run_execute, commission_run_start, statement_issue
from ops.roles import Role
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import deal, follow, plan, tree
from tests.ib.test_commission_engine import DAY, at, attribute

pytestmark = pytest.mark.django_db


def _run(start: date = DAY, end: date = DAY) -> CommissionRun:
    run = commission_run_start(period_start=start, period_end=end, actor=staff(Role.FINANCE))
    commission_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def clients() -> list[Any]:
    _, b, c = tree("AAA", "BBB", "CCC")
    version = plan(valid_from=date(2025, 1, 1))
    follow(c, version, valid_from=date(2025, 1, 1))
    follow(b, version, valid_from=date(2025, 1, 1))
    people = [approved_client(currency="EUR") for _ in range(3)]
    attribute(people[0], c)
    attribute(people[1], c)
    attribute(people[2], b)
    for i, person in enumerate(people):
        for hour in range(9, 12):
            deal(person, lots=f"0.{i + 3}{hour}", closed_at=at(hour))
    return people


def test_bad_only_finance_runs_commissions() -> None:
    with pytest.raises(PartnerError, match=errors.NOT_ALLOWED_RUN):
        commission_run_start(period_start=DAY, period_end=DAY, actor=staff(Role.SUPPORT))
    assert CommissionRun.objects.count() == 0


def test_bad_period_backwards_or_in_the_future_is_a_field_error() -> None:
    finance = staff(Role.FINANCE)
    with pytest.raises(ValidationError) as backwards:
        commission_run_start(period_start=DAY, period_end=DAY - timedelta(days=1), actor=finance)
    assert backwards.value.message_dict == {"period_end": [errors.RUN_PERIOD_BACKWARDS]}
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ValidationError) as future:
        commission_run_start(period_start=DAY, period_end=tomorrow, actor=finance)
    assert future.value.message_dict == {"period_end": [errors.RUN_PERIOD_FUTURE.format(date=tomorrow)]}
    assert CommissionRun.objects.count() == 0


@override_settings(COMMISSION_RUN_CHUNK_CLIENTS=2)
def test_good_run_in_chunks_then_rerun_adds_nothing(clients: list[Any]) -> None:
    run = _run()
    assert (run.status, run.progress_total, run.progress_done) == (RunStatus.DONE, 3, 3)
    # clients 0 and 1 under C (three levels), client 2 under B (two levels): 9 deals
    assert run.lines_created == 3 * 3 + 3 * 3 + 3 * 2 == CommissionLine.objects.count()
    assert AuditEvent.objects.filter(action=AuditAction.COMMISSION_RUN_FINISHED, subject_id=str(run.pk)).count() == 1
    again = _run()
    assert (again.status, again.lines_created) == (RunStatus.DONE, 0)
    assert CommissionLine.objects.count() == run.lines_created


def test_good_statement_hash_is_the_same_when_a_period_is_run_again(clients: list[Any]) -> None:
    _run()
    a, b, c = tree_partners()
    first = {s.partner_id: (s.total, s.sha256, s.lines_count) for s in Statement.objects.all()}
    assert set(first) == {a.pk, b.pk, c.pk}
    # the same period from scratch: new line ids, new run; the same facts, so the same hash
    CommissionLine.objects.all().delete()
    Statement.objects.all().delete()
    _run()
    second = {s.partner_id: (s.total, s.sha256, s.lines_count) for s in Statement.objects.all()}
    assert second == first
    (reissued,) = statement_issue(partner=c, period_start=DAY, period_end=DAY)
    assert (reissued.total, reissued.sha256) == first[c.pk][:2]
    assert Statement.objects.filter(partner=c).count() == 1
    total_c = sum(CommissionLine.objects.filter(partner=c).values_list("amount", flat=True), Decimal("0"))
    assert reissued.total == total_c


def tree_partners() -> list[Any]:
    from ib.models import Partner

    return [Partner.objects.get(code=code) for code in ("AAA", "BBB", "CCC")]


def test_good_cpa_qualifies_once_with_the_first_deposit() -> None:
    top, sub = tree("TOP", "SUB")
    version = plan("CPA", rules=[
        {"kind": RuleKind.CPA, "rate": "200", "tier_shares": ["75", "25"], "cpa_min_deposit": "100",
         "cpa_min_lots": "1.5", "cpa_days": 30}])  # fmt: skip
    follow(sub, version)
    person, small = approved_client(currency="EUR", provision=True), approved_client(currency="EUR")
    for someone in (person, small):
        attribute(someone, sub)
    first = card_deposit(person, "150.00")
    card_deposit(small, "50.00")
    card_deposit(small, "500.00")  # not the first deposit
    for someone in (person, small):  # traded after the approval
        deal(someone, lots="1.00", closed_at=someone.status_changed_at + timedelta(seconds=1))
        deal(someone, lots="0.50", closed_at=someone.status_changed_at + timedelta(seconds=2))
    run = _run(timezone.localdate(), timezone.localdate())
    lines = CommissionLine.objects.filter(kind=LineKind.CPA).order_by("level")
    assert [(line.client_id, line.partner_id, line.amount) for line in lines] == [
        (person.pk, sub.pk, Decimal("150.00")),
        (person.pk, top.pk, Decimal("50.00")),
    ]
    assert {line.qualifying_deposit_id for line in lines} == {first.pk}
    assert run.lines_created == 2
    _run(timezone.localdate(), timezone.localdate())
    assert CommissionLine.objects.filter(kind=LineKind.CPA).count() == 2


def test_good_revenue_share_carries_losses_forward() -> None:
    top, sub = tree("TOP", "SUB")
    version = plan("RS", valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.REVSHARE, "rate": "30", "tier_shares": ["70", "30"]}])  # fmt: skip
    follow(sub, version, valid_from=date(2025, 1, 1))
    person = approved_client(currency="EUR")
    attribute(person, sub)
    # September: the broker loses 83 (7 + 10 - 100); October: gains 217 (7 + 10 + 200); net 134
    deal(person, closed_at=at(10, date(2026, 9, 10)), profit="100.00")
    deal(person, closed_at=at(10, date(2026, 10, 10)), profit="-200.00")
    deal(person, closed_at=at(10, date(2026, 11, 3)), profit="-500.00")  # November: not complete in the run
    _run(date(2026, 9, 1), date(2026, 11, 5))
    lines = CommissionLine.objects.filter(kind=LineKind.REVSHARE).order_by("level")
    # 30 % of 134 = 40.20: the partner above trunc(40.20 * 30 %) = 12.06, the partner the rest
    assert [(line.partner_id, line.period, line.amount, line.base_amount) for line in lines] == [
        (sub.pk, date(2026, 10, 1), Decimal("28.14"), Decimal("134.00")),
        (top.pk, date(2026, 10, 1), Decimal("12.06"), Decimal("134.00")),
    ]
    assert {line.earned_on for line in lines} == {date(2026, 10, 31)}
    _run(date(2026, 9, 1), date(2026, 10, 31))
    assert CommissionLine.objects.filter(kind=LineKind.REVSHARE).count() == 2


def test_good_deals_that_earned_nothing_are_listed_with_the_reason() -> None:
    (top,) = tree("TOP")
    version = plan(valid_from=date(2025, 1, 1), rules=[
        {"kind": RuleKind.PER_LOT, "group": "fx", "rate": "8", "tier_shares": ["100"], "min_hold_seconds": 60}])  # fmt: skip
    follow(top, version, valid_from=date(2025, 1, 1))
    (lonely,) = tree("LONELY")  # follows no plan
    stray, attributed, planless = (approved_client(currency="EUR") for _ in range(3))
    attribute(attributed, top)
    attribute(planless, lonely)
    no_partner = deal(stray, closed_at=at(9))
    no_plan = deal(planless, closed_at=at(9, DAY))
    no_group = deal(attributed, symbol="BTCUSD", closed_at=at(10))
    no_rule = deal(attributed, symbol="XAUUSD", closed_at=at(11))
    short = deal(attributed, closed_at=at(12), held=timedelta(seconds=30))
    earned = deal(attributed, closed_at=at(13))
    _run()
    found = {u.deal.pk: u.reason for u in deals_unearned(DAY, DAY)}
    assert found == {
        no_partner.pk: "no_attribution", no_plan.pk: "no_plan", no_group.pk: "no_group", no_rule.pk: "no_rule",
        short.pk: "short_hold",
    }  # fmt: skip
    assert earned.pk not in found
