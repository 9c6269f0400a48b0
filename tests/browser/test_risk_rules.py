"""Monitoring rules in the browser: an injected deposit-then-withdrawal raises an alert whose page
shows the deposit and the withdrawal that fired it; a risk officer proposes a wider version of the
rule; a second risk officer reads the 30-day backtest beside the version in force and approves; the
rule page shows the new version next to the first with its precision."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from ops.roles import Role
from risk.services import rule_evaluate
from tests.browser.conftest import shot, sign_in
from tests.factories import staff
from tests.risk.test_rules import _patterns, _rule_in_force

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_good_risk_officer_edits_a_rule_checker_reads_the_backtest_and_approves(
    page: Page, new_page: Callable[[], Page]
) -> None:
    staff(Role.RISK, username="rita")
    staff(Role.RISK, username="rick")
    _, deposit, withdrawal = _patterns()
    rule = _rule_in_force({"min_pct": 80, "within_hours": 24, "max_lots": "0.10"}, code="QUICK-EXIT")
    rule_evaluate(rule_id=rule.pk)

    sign_in(page, "rita")
    page.goto("/risk/alerts/")
    page.get_by_test_id("risk-alerts").get_by_role("link").first.click()
    evidence = page.get_by_test_id("alert-evidence")
    expect(evidence).to_contain_text(deposit.reference)
    expect(evidence).to_contain_text(withdrawal.reference)
    page.get_by_label("True match").check()
    page.get_by_label("Reason").fill("the client withdrew to a card that is not theirs")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_test_id("alert-status")).to_have_text("True match")

    page.goto("/risk/rules/")
    page.get_by_role("link", name="Rule QUICK-EXIT").click()
    expect(page.get_by_test_id("precision-1")).to_have_text("100.0%")
    page.get_by_role("link", name="Propose a new version").click()
    page.get_by_label("Parameters (JSON)").fill('{"min_pct": 10, "within_hours": 24, "max_lots": "0.10"}')
    page.get_by_label("Reason", exact=True).fill("partial exits slipped through")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")
    shot(page, "risk-rule-change")

    checker = new_page()
    sign_in(checker, "rick")
    checker.goto("/approvals/")
    checker.get_by_role("link", name="New version of monitoring rule Rule QUICK-EXIT").first.click()
    expect(checker.get_by_test_id("backtest-proposed")).to_contain_text("2")
    expect(checker.get_by_test_id("backtest-current")).to_contain_text("Version 1 (in force)")
    expect(checker.get_by_test_id("backtest-proposed")).to_contain_text("100.0%")
    expect(checker.get_by_test_id("backtest-rows")).to_contain_text("Small Part")
    shot(checker, "risk-rule-backtest")
    checker.get_by_label("Reason").fill("the backtest adds one partial exit and keeps the true match")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.get_by_test_id("approval-status")).to_have_text("Executed")

    page.goto(f"/risk/rules/{rule.pk}/")
    expect(page.get_by_test_id("rule-version-2")).to_contain_text("min_pct=10")
    expect(page.get_by_test_id("rule-version-1")).to_contain_text("in force")


def test_good_a_missing_fx_rate_is_proposed_approved_and_its_work_item_closes(
    page: Page, new_page: Callable[[], Page]
) -> None:
    from tests.risk.test_fx_gaps import _gap_in_eur

    staff(Role.RISK, username="rita")
    staff(Role.FINANCE, username="fiona")
    gap, _rule = _gap_in_eur()

    sign_in(page, "rita")
    page.goto("/risk/fx-gaps/")
    page.get_by_role("link", name="EUR → GBP").click()
    expect(page.get_by_test_id("fx-gap-rate")).to_have_text("Still missing.")
    page.get_by_role("textbox", name="Rate").fill("0.999")
    page.get_by_role("textbox", name="Reason").fill("ECB reference rate of the day")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")

    checker = new_page()
    sign_in(checker, "fiona")
    checker.goto("/approvals/")
    checker.get_by_role("link", name="EUR/GBP at 0.999", exact=False).first.click()
    expect(checker.get_by_test_id("fx-rate-panel")).to_contain_text("No EUR/GBP rate is known")
    shot(checker, "fx-rate-approval")
    checker.get_by_label("Reason").fill("matches the ECB")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.get_by_test_id("approval-status")).to_have_text("Executed")

    page.goto(f"/risk/fx-gaps/{gap.pk}/")
    expect(page.get_by_test_id("fx-gap-item")).to_contain_text("Resolved")
    expect(page.get_by_test_id("fx-gap-rate")).to_contain_text("the work item is closed")
