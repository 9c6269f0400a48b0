"""Issue 15's journey in one browser session: support builds a two-level hierarchy and asks that
the sub-partner follow a plan, finance approves; a client registers through the sub-partner's
referral link and is approved with a trading account; its deals arrive as the platform's deal
report; finance runs the commissions and watches the progress bar (the run executes in a real
Celery worker), drills from a statement line down to its deal, disputes the line and proposes an
adjustment, which a second finance officer approves; the dispute is resolved, the partner's payable
agrees with the ledger, and ``ledger_verify`` passes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Client
from accounts.services.clients import client_transition
from accounts.services.trading_accounts import trading_account_provision
from ib.models import (
    Attribution,
    CommissionLine,
    CommissionRun,
    Dispute,
    DisputeResolution,
    DisputeStatus,
    LineKind,
    Partner,
    RunStatus,
)
from ib.services.money import partner_payables
from ops.roles import Role
from payments.services.ledger import ledger_verify
from tests.browser.conftest import shot, sign_in
from tests.browser.test_partners import add_partner
from tests.factories import kyc_ready, staff
from tests.ib.factories import plan
from tests.ib.test_feed import csv_text, row

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]
RUN_TIMEOUT = 30_000  # ms the worker gets to finish the run


def test_good_hierarchy_referral_trading_run_drilldown_dispute_and_adjustment(
    page: Page,
    new_page: Callable[[], Page],
    celery_worker_process: subprocess.Popen[str],
    tmp_path: Path,
) -> None:
    staff(Role.SUPPORT, username="sam")
    staff(Role.FINANCE, username="fiona")
    staff(Role.FINANCE, username="felix")
    plan("STD")  # 8.00 EUR per lot on FX majors, split 50/30/20 (plans have their own journey)
    today = timezone.localdate()

    # --- support: a master partner and a sub-partner under it; the sub-partner is to follow Plan STD ---
    sign_in(page, "sam")
    add_partner(page, "Alpha Partners", code="ALPHA")
    add_partner(page, "Beta Introducers", code="BETA", parent="Alpha Partners (ALPHA)")
    expect(page.get_by_role("navigation", name="Partners above")).to_contain_text("Alpha Partners")
    expect(page.locator("body")).to_contain_text("level 2, under Alpha Partners")
    expect(page.get_by_test_id("plan-now")).to_contain_text("Follows no plan today")
    beta_url = page.url
    page.get_by_text("Change the plan").click()
    form = page.get_by_role("form", name="Change the plan")
    form.get_by_label("Plan", exact=True).select_option(label="Plan STD (STD, EUR)")
    form.get_by_label("Follows it from").fill(today.isoformat())
    form.get_by_label("Reason").fill("Beta signed the standard agreement")
    form.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")
    page.goto(beta_url)
    expect(page.get_by_test_id("partner-plan")).to_contain_text("A change of plan is waiting for approval")

    # --- finance approves the plan assignment ---
    fiona = new_page()
    sign_in(fiona, "fiona")
    fiona.goto("/approvals/")
    fiona.get_by_role("link", name=re.compile("follows Plan STD")).first.click()
    expect(fiona.locator("body")).to_contain_text("Beta Introducers")
    fiona.get_by_label("Reason").fill("agreement on file")
    fiona.get_by_role("button", name="Approve").click()
    expect(fiona.get_by_test_id("approval-status")).to_have_text("Executed")
    page.goto(beta_url)
    expect(page.get_by_test_id("plan-now")).to_contain_text(f"Follows Plan STD since {today.isoformat()}")

    # --- support registers a client through the sub-partner's referral link ---
    link = page.get_by_test_id("referral-link")
    expect(link).to_contain_text("/clients/new/?ref=BETA")
    link.click()
    expect(page.get_by_label("Referral code", exact=True)).to_have_value("BETA")
    page.get_by_label("Kind", exact=True).select_option(label="Individual")
    page.get_by_label("First name", exact=True).fill("Rita")
    page.get_by_label("Last name", exact=True).fill("Referred")
    page.get_by_label("Date of birth", exact=True).fill("1990-04-02")
    page.get_by_label("Nationality", exact=True).select_option("DE")
    page.get_by_label("Country", exact=True).select_option("DE")
    page.get_by_label("Email", exact=True).fill("rita@example.test")
    page.get_by_label("Phone", exact=True).fill("+49 151 12345678")
    page.get_by_label("Account type", exact=True).select_option(label="Standard")
    page.get_by_label("Base currency", exact=True).fill("EUR")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_test_id("current-partner")).to_contain_text("Introduced by Beta Introducers")

    # KYC and approval have their own journeys (tests/browser/test_client_lifecycle.py): done here
    # through the services, the trading account provisioned on the simulated platform.
    rita = kyc_ready(Client.objects.get(email="rita@example.test"))
    client_transition(client_id=rita.pk, name="submit_for_review", actor=None)
    client_transition(client_id=rita.pk, name="approve", actor=staff(Role.COMPLIANCE), reason="KYC complete")
    (account,) = rita.trading_accounts.all()
    trading_account_provision(account_id=account.pk)
    account.refresh_from_db()
    assert account.login

    # --- the platform's deal report for Rita's login, uploaded by finance ---
    # The deals must close after the referral (the attribution in force at the close) and no later
    # than now, so they are the platform's report of the last seconds, not simulate_trading's days.
    referred = Attribution.objects.get(client=rita).valid_from
    step = (timezone.now() - referred) / 3
    report = tmp_path / "today.csv"
    report.write_text(
        csv_text(
            row(account, "J-1", lots="1.00", open_time=(referred - timedelta(minutes=5)).isoformat(),
                close_time=(referred + step).isoformat()),
            row(account, "J-2", lots="0.50", open_time=(referred - timedelta(minutes=5)).isoformat(),
                close_time=(referred + 2 * step).isoformat()),
        )
    )  # fmt: skip
    fiona.goto("/partners/deals/import/")
    fiona.get_by_label("Deal report file (CSV)").set_input_files(str(report))
    fiona.get_by_role("button", name="Import").click()
    expect(fiona.locator(".messages")).to_contain_text("Imported: 2 new, 0 duplicate, 0 refused.")
    fiona.get_by_test_id("batch-deals").get_by_role("link", name="J-1").click()
    expect(fiona.get_by_test_id("deal-attribution")).to_contain_text("Introduced by Beta Introducers")

    # --- finance runs the commissions of today and watches the progress bar reach done ---
    fiona.goto("/partners/")
    fiona.get_by_role("link", name="Commission runs").click()
    run_form = fiona.get_by_test_id("run-form")
    run_form.get_by_label(re.compile(r"^From")).fill(today.isoformat())
    run_form.get_by_label(re.compile(r"^To \(inclusive\)")).fill(today.isoformat())
    # the run page reloads itself once the run ends (which a quick worker may do at once): the
    # confirmation is read from the page the redirect answered, not from whichever page is showing
    with fiona.expect_response(lambda r: "/partners/runs/" in r.url and r.request.method == "GET") as answered:
        run_form.get_by_role("button", name="Run commissions").click()
    assert f"Started the commission run of {today} to {today}." in answered.value.text()
    run_card = fiona.get_by_role("region", name="Run")
    expect(run_card.locator("[data-role=status]")).to_have_text("Done", timeout=RUN_TIMEOUT)
    # the page reloads itself when the run ends, to show what the run wrote:
    # 1.50 lots x 8.00 EUR = 12.00 EUR in four lines: Beta, who introduced Rita, 50% = 6.00; Alpha,
    # the top of a two-level tree, its own 30% and the 20% of the missing third level = 6.00
    expect(fiona.get_by_test_id("run-figures")).to_contain_text("12.00 EUR")
    expect(fiona.get_by_test_id("lines-created")).to_have_text("4")
    expect(run_card.locator("[data-role=count]")).to_have_text(re.compile(r"^(\d+) of \1$"))
    assert run_card.locator("progress[data-role=bar]").evaluate("b => b.value === b.max && b.max > 0")
    statements = fiona.get_by_test_id("run-statements")
    expect(statements.get_by_role("row", name=re.compile("Beta Introducers"))).to_contain_text("6.00 EUR")
    expect(statements.get_by_role("row", name=re.compile("Alpha Partners"))).to_contain_text("6.00 EUR")
    shot(fiona, "journey-run-done")
    assert CommissionRun.objects.get().status == RunStatus.DONE

    # --- from the run to the partner, its statement lines, one line, and its deal ---
    statements.get_by_role("link", name="Beta Introducers").click()
    fiona.get_by_test_id("partner-payouts-link").click()
    lines = fiona.get_by_test_id("partner-lines")
    expect(lines).to_contain_text("Rita Referred")
    j1 = CommissionLine.objects.get(partner__code="BETA", deal__deal_id="J-1")
    lines.get_by_role("link", name=f"#{j1.pk}").click()
    expect(fiona.get_by_role("heading", level=1)).to_have_text(f"Statement line #{j1.pk}")
    expect(fiona.get_by_test_id("line-amount")).to_have_text("4.00 EUR")
    expect(fiona.get_by_test_id("line-tree")).to_contain_text("Beta Introducers")
    expect(fiona.get_by_test_id("line-tree")).to_contain_text("Alpha Partners")
    expect(fiona.get_by_test_id("line-entry")).to_contain_text("Partner commission")
    line_url = fiona.url
    fiona.get_by_test_id("line-deal").get_by_role("link", name="J-1").click()
    expect(fiona).to_have_url(re.compile(r"/partners/deals/J-1/$"))
    expect(fiona.get_by_test_id("deal-facts")).to_contain_text("Rita Referred")
    expect(fiona.get_by_test_id("deal-lines")).to_contain_text("4.00 EUR")
    shot(fiona, "journey-deal")

    # --- finance disputes the line and proposes an adjustment ---
    fiona.goto(line_url)
    dispute_form = fiona.get_by_role("form", name="Dispute this line")
    dispute_form.get_by_label("Claim", exact=True).fill("Beta says the 1-lot deal was agreed at 10.00 per lot")
    dispute_form.get_by_label("Amount claimed (optional)").fill("1.00")
    dispute_form.get_by_role("button", name="Raise the dispute").click()
    expect(fiona.get_by_test_id("dispute-status")).to_have_text("Open")
    expect(fiona.get_by_test_id("derivation")).to_contain_text(f"Line #{j1.pk}")
    dispute = Dispute.objects.get()
    adjust = fiona.get_by_role("form", name="Propose an adjustment")
    adjust.get_by_label("Amount", exact=True).fill("1.00")
    adjust.get_by_label("Reason", exact=True).fill("the side letter confirms 10.00 per lot")
    adjust.get_by_role("button", name="Ask for approval").click()
    expect(fiona.get_by_test_id("dispute-status")).to_have_text("Adjustment waiting for approval")

    # --- a second finance officer approves the adjustment ---
    felix = new_page()
    sign_in(felix, "felix")
    felix.goto("/approvals/")
    felix.get_by_role("link", name="Adjust the commission").first.click()
    expect(felix.locator("body")).to_contain_text(dispute.reference)
    felix.get_by_label("Reason").fill("side letter checked")
    felix.get_by_role("button", name="Approve").click()
    expect(felix.get_by_test_id("approval-status")).to_have_text("Executed")
    felix.goto(dispute.get_absolute_url())
    expect(felix.get_by_test_id("dispute-status")).to_have_text("Resolved")
    expect(felix.get_by_test_id("dispute-resolution")).to_contain_text("Adjusted (approved)")
    shot(felix, "journey-dispute-resolved")

    # --- the partner's payable agrees with the ledger ---
    felix.goto(beta_url)
    felix.get_by_test_id("partner-payouts-link").click()
    payables = felix.get_by_test_id("payables")
    expect(felix.get_by_test_id("payable-pending")).to_have_text("6.00 EUR")
    expect(felix.get_by_test_id("payable-available")).to_have_text("1.00 EUR")
    expect(payables.get_by_role("row", name=re.compile("EUR"))).to_contain_text("yes")
    shot(felix, "journey-payables")

    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolution) == (DisputeStatus.RESOLVED, DisputeResolution.ADJUSTED)
    adjustment = CommissionLine.objects.get(kind=LineKind.ADJUSTMENT)
    assert (adjustment.amount, adjustment.entry is not None) == (Decimal("1.00"), True)
    (beta,) = partner_payables(Partner.objects.get(code="BETA"))
    assert (beta.pending, beta.available, beta.agree) == (Decimal("6.00"), Decimal("1.00"), True)
    assert ledger_verify().breaks == []
