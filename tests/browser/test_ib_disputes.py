"""A commission dispute in the browser: support opens a statement line, sees its derivation,
disputes it, lands on the dispute page, proposes an adjustment; a second person (finance)
approves it; the dispute shows resolved as adjusted, and the partner's payables agree with the
ledger."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from ib.models import CommissionLine, Dispute, DisputeResolution, DisputeStatus, LineKind
from ib.services.money import commission_lines_post, partner_payables
from ops.roles import Role
from payments.services.ledger import ledger_verify
from tests.browser.conftest import shot, sign_in
from tests.factories import approved_client, staff
from tests.ib.factories import plan, tree
from tests.ib.lines import line

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_good_line_dispute_adjustment_approved_by_finance(page: Page, new_page: Callable[[], Page]) -> None:
    staff(Role.SUPPORT, username="sam")
    staff(Role.FINANCE, username="fiona")
    master, sub = tree("MASTER", "SUBIB")
    version = plan("STDB")
    client = approved_client(provision=False)
    earned = line(sub, client, "4.00", version=version, tree=[sub.pk, master.pk])
    commission_lines_post()

    sign_in(page, "sam")
    page.goto(earned.get_absolute_url())
    expect(page.get_by_test_id("line-deal")).to_contain_text(earned.deal.deal_id)  # type: ignore[union-attr]
    expect(page.get_by_test_id("line-rule")).to_contain_text("8 per lot on FX majors")
    expect(page.get_by_test_id("line-tree")).to_contain_text("Partner SUBIB")
    expect(page.get_by_test_id("line-tree")).to_contain_text("Partner MASTER")
    expect(page.get_by_test_id("line-entry")).to_contain_text("Partner commission")
    shot(page, "ib-line")

    form = page.get_by_role("form", name="Dispute this line")
    form.get_by_label("Claim", exact=True).fill(
        "Level 0 gets 50% of 8.00 per lot: 4.00 is right, but the rebate tier was missed"
    )
    form.get_by_label("Amount claimed (optional)").fill("1.50")
    form.get_by_role("button", name="Raise the dispute").click()
    expect(page.get_by_test_id("dispute-status")).to_have_text("Open")
    expect(page.get_by_test_id("derivation")).to_contain_text(f"Line #{earned.pk}")
    dispute = Dispute.objects.get()

    adjust = page.get_by_role("form", name="Propose an adjustment")
    adjust.get_by_label("Amount", exact=True).fill("1.50")
    adjust.get_by_label("Reason", exact=True).fill("tier 2 rebate missed for March")
    adjust.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_test_id("dispute-status")).to_have_text("Adjustment waiting for approval")
    shot(page, "ib-dispute-pending")

    finance = new_page()
    sign_in(finance, "fiona")
    finance.goto("/approvals/")
    finance.get_by_role("link", name="Adjust the commission").first.click()
    expect(finance.locator("body")).to_contain_text(dispute.reference)
    finance.get_by_label("Reason").fill("checked against the plan")
    finance.get_by_role("button", name="Approve").click()

    finance.goto(dispute.get_absolute_url())
    expect(finance.get_by_test_id("dispute-status")).to_have_text("Resolved")
    expect(finance.get_by_test_id("dispute-resolution")).to_contain_text("Adjusted (approved)")
    shot(finance, "ib-dispute-resolved")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolution) == (DisputeStatus.RESOLVED, DisputeResolution.ADJUSTED)
    adjustment = CommissionLine.objects.get(kind=LineKind.ADJUSTMENT)
    assert (adjustment.amount, adjustment.entry is not None) == (Decimal("1.50"), True)
    (payables,) = partner_payables(sub)
    assert (payables.pending, payables.available) == (Decimal("4.00"), Decimal("1.50"))
    assert payables.agree
    assert ledger_verify().breaks == []
