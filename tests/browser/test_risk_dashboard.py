"""The risk dashboard in the browser: a risk officer reads the exposure in money, the net notional
per symbol as a chart (bars to scale, long above the line), the table that says which symbol the
platform could not price, the broker's B-book floating P&L, and the net per currency (short USD
below the line); then asks for the figures in euros and the chart follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import staff
from tests.risk.test_exposure_notional import _book

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_good_risk_officer_reads_notional_exposure_on_the_dashboard_chart(page: Page) -> None:
    staff(Role.RISK, username="rita")
    _book()

    sign_in(page, "rita")
    page.get_by_role("link", name="Risk", exact=True).click()
    chart = page.get_by_test_id("notional-chart")
    expect(chart.locator("g.chart-bar")).to_have_count(3)  # the symbol the platform does not list: no bar
    gold, euro, dax = (chart.locator(f'g[data-label="{s}"]') for s in ("XAUUSD", "EURUSD", "GER40"))
    expect(gold).to_have_attribute("data-value", "530050.00")
    expect(euro.locator("title")).to_have_text("EURUSD: 216,910.00 USD")
    expect(dax).to_have_attribute("data-value", "21451.10")
    boxes = [b.locator("rect").bounding_box() for b in (gold, euro, dax)]
    heights = [box["height"] for box in boxes if box is not None]
    assert len(heights) == 3
    assert heights[0] > heights[1] > heights[2] > 0  # to scale
    table = page.get_by_test_id("exposure-notional")
    expect(table.locator('tr[data-symbol="XAUUSD"]')).to_contain_text("530,050.00 USD")
    expect(table.locator('tr[data-symbol="BTCUSD"]')).to_contain_text("The platform has not described this symbol")
    expect(page.get_by_test_id("broker-b-floating")).to_have_text("-10,560.00 USD")
    currencies = page.get_by_test_id("currency-chart")
    expect(currencies.locator('g.chart-bar.negative[data-label="USD"]')).to_have_attribute("data-value", "-746960.00")
    expect(page.get_by_test_id("exposure-symbols")).to_contain_text("EURUSD")  # the lots view is still there
    shot(page, "risk-dashboard-notional")

    page.get_by_label("Notional in").select_option("EUR")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Net exposure per symbol in EUR (notional)")).to_be_visible()
    expect(chart.locator('g[data-label="GER40"]')).to_have_attribute("data-value", "19501.00")
    expect(chart.locator('g[data-label="GER40"] title')).to_have_text("GER40: 19,501.00 EUR")
