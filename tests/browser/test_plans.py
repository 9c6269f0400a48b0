"""Commission plans in the browser: a support agent proposes version 2 of a plan; a finance officer
reads what it would have paid last month next to what version 1 paid, and approves; the plan page
shows version 2 in words and version 1 ending where it starts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ib.models import Attribution, AttributionSource, CommissionRun
from ib.selectors import last_full_month
from ib.services.commissions import deal_lines_write
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import approved_client, staff
from tests.ib.factories import deal, follow, plan, tree

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _paid_last_month() -> None:
    """A → B → C; C follows Plan STD (8.00 EUR per lot on FX majors, 50/30/20); C's client traded
    3 lots last month and the run paid 24.00 EUR."""
    _a, _b, c = tree("AAA", "BBB", "CCC")
    v1 = plan(valid_from=timezone.localdate() - timedelta(days=400))
    follow(c, v1, valid_from=timezone.localdate() - timedelta(days=400))
    client = approved_client(currency="EUR")
    Attribution.objects.create(client=client, partner=c, source=AttributionSource.REFERRAL,
                               valid_from=timezone.now() - timedelta(days=400))  # fmt: skip
    start, end = last_full_month()
    for day, lots in ((3, "1.00"), (20, "2.00")):
        deal(client, lots=lots, closed_at=timezone.make_aware(datetime(start.year, start.month, day, 12)))
    run = CommissionRun.objects.create(period_start=start, period_end=end, started_by="tests")
    deal_lines_write(run=run, client_ids=[client.pk])


def test_good_support_proposes_a_version_finance_compares_and_approves(
    page: Page, new_page: Callable[[], Page]
) -> None:
    staff(Role.SUPPORT, username="sam")
    staff(Role.FINANCE, username="fiona")
    _paid_last_month()
    start = timezone.localdate() + timedelta(days=1)

    sign_in(page, "sam")
    page.goto("/partners/")
    page.get_by_role("link", name="Commission plans").click()
    expect(page.get_by_test_id("plans")).to_contain_text("v1 since")
    page.get_by_role("link", name="Plan STD").click()
    expect(page.get_by_test_id("plan-version-1")).to_contain_text("8.00 EUR per lot on FX majors, split 50/30/20")
    page.get_by_role("link", name="Propose a new version").click()
    page.get_by_label("In force from").fill(start.isoformat())
    rule = page.get_by_test_id("rule-0")
    expect(rule.get_by_label("Tier shares")).to_have_value("50/30/20")  # starts from version 1
    rule.get_by_label("Rate", exact=True).fill("10")
    rule.get_by_label("Client rebate %").fill("10")
    page.get_by_label("Reason", exact=True).fill("partners asked for 10 per lot with a rebate")
    shot(page, "plan-version-form")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")
    expect(page.get_by_test_id("approval-payload")).to_contain_text(
        "10.00 EUR per lot on FX majors, split 50/30/20, 10% back to the client"
    )

    finance = new_page()
    sign_in(finance, "fiona")
    finance.goto("/approvals/")
    finance.get_by_role("link", name="New version of Plan STD").first.click()
    table = finance.get_by_test_id("plan-comparison-table")
    expect(table).to_contain_text("Partner CCC")
    expect(table.get_by_role("row", name="Partner CCC")).to_contain_text("13.50 EUR")
    expect(table.get_by_role("row", name="Partner CCC")).to_contain_text("12.00 EUR")
    expect(finance.get_by_test_id("plan-comparison-total")).to_contain_text("30.00 EUR")
    expect(finance.get_by_test_id("plan-comparison-total")).to_contain_text("24.00 EUR")
    expect(finance.get_by_test_id("plan-comparison-total")).to_contain_text("+6.00 EUR")
    shot(finance, "plan-change-comparison")
    finance.get_by_label("Reason").fill("the rebate is within budget")
    finance.get_by_role("button", name="Approve").click()
    expect(finance.get_by_test_id("approval-status")).to_have_text("Executed")

    page.goto("/partners/plans/")
    page.get_by_role("link", name="Plan STD").click()
    expect(page.get_by_test_id("plan-version-2")).to_contain_text(
        "10.00 EUR per lot on FX majors, split 50/30/20, 10% back to the client"
    )
    expect(page.get_by_test_id("plan-version-2")).to_contain_text(f"In force from {start.isoformat()}")
    expect(page.get_by_test_id("plan-version-1")).to_contain_text(f"until {start.isoformat()}")
    shot(page, "plan-versions")
