"""A missing FX rate never silently switches a rule off: when a rule's run meets amounts in a
currency with no rate into the rule's currency at their moment, one work item per pair and day
lands in the "Missing FX rate" queue for finance and risk (opened once, however often the rules
run and however many rules meet it), the rule's page and the backtest say which amounts were not
compared, and once the rate is in the rule fires on them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.test import Client as HttpClient
from django.utils import timezone

from audit.models import AuditEvent
from ops.models import ApprovalRequest, WorkItem
from ops.roles import Role
from payments.models import FxRate
from risk.models import FxRateGap, RuleKind
from risk.rules import params_clean
from risk.selectors import rule_backtest
from risk.services import rule_evaluate, rule_version_propose
from tests.factories import approved_client, card_deposit, staff
from tests.personas import sign_in
from tests.risk.test_rules import _rule_in_force

pytestmark = pytest.mark.django_db

STRUCTURING_GBP = {"direction": "deposit", "threshold": "1000", "band_pct": 10, "min_count": 3, "currency": "GBP"}


def _as(role: Role, username: str) -> HttpClient:
    return sign_in(HttpClient(), staff(role, username=username))


def _structured_in_eur() -> list:
    """Three EUR deposits just under 1,000 (in GBP they would be just under too, at 1.00)."""
    c = approved_client(first_name="Split", last_name="Payer")
    return [card_deposit(c, amount) for amount in ("950.00", "960.00", "980.00")]


def test_good_a_rule_meeting_amounts_without_a_rate_opens_one_work_item_per_pair_and_day() -> None:
    deposits = _structured_in_eur()
    (day,) = {d.created_at.astimezone(UTC).date() for d in deposits}
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    assert rule_evaluate(rule_id=rule.pk) == []  # nothing comparable: no alert, but not silent
    gap = FxRateGap.objects.get()
    assert (gap.base, gap.quote, gap.day, gap.transactions, gap.for_exposure) == ("EUR", "GBP", day, 3, False)
    assert gap.examples == [d.reference for d in deposits]
    assert list(gap.rules.all()) == [rule]
    item = WorkItem.objects.get(queue__code="fx_rate_missing")
    assert item.title == f"No EUR/GBP rate on {day:%Y-%m-%d}: 3 amount(s) not compared by rule Rule STRUCT-GBP"
    assert (item.details["pair"], item.details["day"], item.details["rule"]) == (
        "EUR/GBP",
        day.isoformat(),
        "STRUCT-GBP",
    )
    assert sorted(item.queue.roles) == ["finance", "risk"]
    assert AuditEvent.objects.filter(action="work_item.opened", subject_id=str(item.pk)).count() == 1
    # again, and another rule meeting the same pair and day: still one gap, one work item
    assert rule_evaluate(rule_id=rule.pk) == []
    dormant = _rule_in_force(
        {"dormant_days": 7, "min_amount": "1", "currency": "GBP"}, kind=RuleKind.DORMANT_THEN_LARGE, code="DORMANT"
    )
    rule_evaluate(rule_id=dormant.pk)
    assert FxRateGap.objects.count() == 1 and WorkItem.objects.filter(queue__code="fx_rate_missing").count() == 1
    assert sorted(r.code for r in FxRateGap.objects.get().rules.all()) == ["DORMANT", "STRUCT-GBP"]


def test_bad_a_second_gap_for_the_same_pair_and_day_is_refused_by_the_database() -> None:
    now = timezone.now()
    FxRateGap.objects.create(base="EUR", quote="GBP", day=now.date(), first_needed_at=now)
    with pytest.raises(IntegrityError, match="fx_rate_gap_once_per_day"), transaction.atomic():
        FxRateGap.objects.create(base="EUR", quote="GBP", day=now.date(), first_needed_at=now)


def test_good_amounts_in_the_rules_currency_need_no_rate_and_open_nothing() -> None:
    c = approved_client(currency="GBP", first_name="Pound", last_name="Payer")
    for amount in ("950.00", "960.00", "980.00"):
        card_deposit(c, amount, currency="GBP")
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    (alert,) = rule_evaluate(rule_id=rule.pk)
    assert alert.client_id == c.pk
    assert not FxRateGap.objects.exists() and not WorkItem.objects.filter(queue__code="fx_rate_missing").exists()


def test_good_pages_show_the_gap_and_once_the_rate_is_in_the_rule_fires() -> None:
    deposits = _structured_in_eur()
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    rule_evaluate(rule_id=rule.pk)
    gap = FxRateGap.objects.get()
    item = WorkItem.objects.get(queue__code="fx_rate_missing")
    risk = _as(Role.RISK, "analyst")
    page = risk.get(f"/risk/rules/{rule.pk}/").content.decode()
    assert 'data-testid="rule-fx-gaps"' in page and "EUR → GBP" in page and "still missing" in page
    assert f"/items/{item.pk}/" in page
    finance = _as(Role.FINANCE, "treasurer")
    listed = finance.get("/risk/fx-gaps/")
    assert listed.status_code == 200 and "Rule STRUCT-GBP" in listed.content.decode()
    detail = finance.get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    assert f"No EUR/GBP rate on {gap.day:%Y-%m-%d}" in detail and deposits[0].reference in detail
    assert "Add the EUR/GBP rate" not in detail  # finance does not add rates: an administrator does
    admin_page = _as(Role.ADMIN, "configurer").get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    assert f"/admin/payments/fxrate/add/?base=EUR&amp;quote=GBP&amp;as_of_0={gap.day:%Y-%m-%d}" in admin_page
    assert _as(Role.SUPPORT, "helper").get(f"/risk/fx-gaps/{gap.pk}/").status_code == 404
    # the rate for the day arrives; the rule's next run compares the amounts and fires
    start_of_day = datetime.combine(gap.day, time.min, tzinfo=UTC)
    FxRate.objects.create(base="EUR", quote="GBP", rate=Decimal("1.00"), as_of=start_of_day)
    assert "A rate for the day is in" in finance.get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    (alert,) = rule_evaluate(rule_id=rule.pk)
    assert alert.client_id == deposits[0].client_id
    assert FxRateGap.objects.count() == 1


def test_good_the_backtest_says_which_amounts_it_could_not_compare() -> None:
    _structured_in_eur()
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    backtest = rule_backtest(rule, params_clean(RuleKind.STRUCTURING, {**STRUCTURING_GBP, "band_pct": 20}))
    (unconverted,) = backtest.unconverted
    assert (unconverted.currency, unconverted.count) == ("EUR", 3)
    assert not FxRateGap.objects.exists()  # reading the backtest opens nothing
    request = rule_version_propose(
        actor=staff(Role.RISK, username="proposer"), rule=rule, params={**STRUCTURING_GBP, "band_pct": 20},
        valid_from=timezone.now(), valid_to=None, note="", reason="wider band",
    )  # fmt: skip
    page = _as(Role.RISK, "checker").get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-testid="backtest-unconverted"' in page and f"3 in EUR on {unconverted.day:%Y-%m-%d}" in page
    assert ApprovalRequest.objects.count() == 2


def test_good_a_version_from_before_the_currency_parameter_names_its_default_currency_in_the_gap() -> None:
    from risk.models import RiskRule, RiskRuleVersion

    c = approved_client(currency="GBP", first_name="Old", last_name="Version")
    for amount in ("950.00", "960.00", "980.00"):
        card_deposit(c, amount, currency="GBP")
    rule = RiskRule.objects.create(code="OLD-STRUCT", name="Old structuring", kind=RuleKind.STRUCTURING)
    old = {"direction": "deposit", "threshold": "1000.00", "band_pct": 10, "min_count": 3, "window_days": 7}
    RiskRuleVersion.objects.create(rule=rule, number=1, params=old, valid_from=timezone.now() - timedelta(days=1))
    assert rule_evaluate(rule_id=rule.pk) == []
    gap = FxRateGap.objects.get()
    assert (gap.base, gap.quote) == ("GBP", "EUR")  # the kind's default currency, as the statement ran
