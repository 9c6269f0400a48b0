"""The reports' pre-launch checks in a browser: one report filtered by date, account type, region
and staff member at once, its chart drawn with the right values, exported, and the export's rows
equal to the page's; the balances page showing a drift injected on the simulated platform as a
difference with its open reconciliation item."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from payments.models import ReconciliationBreak
from payments.services.reconciliation import platform_balances_check
from sim.platform import SimulatedPlatform
from tests.browser.conftest import shot, sign_in
from tests.factories import staff
from tests.reporting.world import world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _table_rows(page: Page, testid: str) -> list[list[str]]:
    return (
        page.get_by_test_id(testid)
        .locator("tbody tr")
        .evaluate_all("rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.textContent))")
    )


def test_report_filtered_by_date_type_region_and_staff_exports_the_rows_it_shows(page: Page) -> None:
    from ops.roles import Role

    w = world()
    staff(Role.AUDITOR, username="audrey")
    sign_in(page, "audrey")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_test_id("report-catalogue").get_by_role("link", name="Accounts").click()

    # the unfiltered funnel: three registered, two approved, two with a first deposit
    funnel = page.locator("svg.funnel-chart g.chart-stage")
    expect(funnel).to_have_count(4)
    values = funnel.evaluate_all("gs => gs.map(g => [g.dataset.label, g.dataset.value])")
    assert values == [["Registered", "3"], ["Approved", "2"], ["First deposit", "2"], ["First trade", "0"]]
    widths = page.locator("svg.funnel-chart g.chart-stage rect").evaluate_all("rs => rs.map(r => r.getBBox().width)")
    assert widths[0] > 0 and abs(widths[1] / widths[0] - 2 / 3) < 0.01  # drawn in proportion

    today = timezone.localdate()
    bar = page.get_by_test_id("filter-bar")
    bar.get_by_label("From").fill((today - timedelta(days=7)).isoformat())
    bar.get_by_label("To").fill(today.isoformat())
    bar.get_by_label("Account type").select_option(label="Standard")
    bar.get_by_label("Region").select_option(label="United Kingdom and Crown dependencies")
    bar.get_by_label("Account manager").select_option(value="mgr")
    bar.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"account_type=standard.*region=uk.*staff=mgr"))
    rows = _table_rows(page, "dataset")
    assert [r[0] for r in rows] == [w.gb.reference]
    assert rows[0][6] == "Mona Manager" and rows[0][3] == "United Kingdom and Crown dependencies"
    expect(page.locator("svg.funnel-chart g.chart-stage").first).to_have_attribute("data-value", "1")
    shot(page, "report-accounts-filtered")

    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    with open(download.value.path(), newline="") as handle:
        exported = list(csv.reader(handle))
    assert exported[1:] == rows
    event = AuditEvent.objects.filter(action="report.exported").latest("id")
    assert event.actor_label == "audrey"
    assert {k: event.after["filters"][k] for k in ("account_type", "region", "staff")} == {
        "account_type": "standard", "region": "uk", "staff": "mgr",
    }  # fmt: skip


def test_balances_page_shows_a_platform_drift_and_its_open_item(page: Page) -> None:
    from ops.roles import Role
    from tests.reporting.test_balances import _funded_trading_account

    login, _ = _funded_trading_account()
    SimulatedPlatform.drift(login, balance=Decimal("612.50"))
    platform_balances_check()
    brk = ReconciliationBreak.objects.get(kind="platform_balance", key=login, resolved_at__isnull=True)
    staff(Role.FINANCE, username="fred")
    sign_in(page, "fred")
    page.goto("/reports/balances/")
    row = page.get_by_test_id("dataset").locator("tbody tr", has_text=login)
    expect(row).to_contain_text("600.00")
    expect(row).to_contain_text("612.50")
    expect(row).to_contain_text("12.50")
    expect(row).to_contain_text(f"break #{brk.pk}")
    bars = page.locator("svg.bar-chart g.chart-bar")
    expect(bars.first).to_have_attribute("data-label", login)
    expect(bars.first).to_have_attribute("data-value", "12.50")
    shot(page, "report-balances-drift")
