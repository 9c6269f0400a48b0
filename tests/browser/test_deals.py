"""The trade feed in the browser: a finance officer uploads a deal report file, sees what was new,
duplicate and refused with the reason, opens a deal from the batch, and follows the refusal to its
work item in the trade feed exception queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ib import errors
from ib.models import Deal
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import staff
from tests.ib.test_feed import account, csv_text, row

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_good_upload_a_deal_report_and_see_counts_and_the_refusal(page: Page, tmp_path: Path) -> None:
    acct = account("EUR")
    staff(Role.FINANCE, username="fiona")
    report = tmp_path / "november.csv"
    report.write_text(csv_text(row(acct, "N-1"), row(acct, "N-2", lots="-0.10"), row(acct, "N-1")))
    sign_in(page, "fiona")

    page.goto("/partners/")
    page.get_by_role("link", name="Deals").click()
    page.get_by_role("link", name="Import a deal report").click()
    page.get_by_label("Deal report file (CSV)").set_input_files(str(report))
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Batch #")
    expect(page.locator(".messages")).to_contain_text("Imported: 1 new, 1 duplicate, 1 refused.")
    expect(page.get_by_test_id("rows-total")).to_have_text("3")
    expect(page.get_by_test_id("rows-new")).to_have_text("1")
    expect(page.get_by_test_id("rows-duplicate")).to_have_text("1")
    expect(page.get_by_test_id("rows-rejected")).to_have_text("1")
    expect(page.get_by_test_id("rejections")).to_contain_text(errors.ROW_LOTS_NOT_POSITIVE.format(value="-0.10"))
    shot(page, "deal-batch")

    page.get_by_test_id("batch-deals").get_by_role("link", name="N-1").click()
    expect(page.get_by_test_id("deal-facts")).to_contain_text(acct.client.display_name)
    expect(page.get_by_test_id("deal-facts")).to_contain_text("-12.40 EUR")
    page.go_back()

    page.get_by_test_id("batch-work-item").click()
    expect(page.get_by_test_id("item-subject")).to_contain_text("november.csv")
    expect(page.locator("body")).to_contain_text("row 3:")
    assert list(Deal.objects.values_list("deal_id", flat=True)) == ["N-1"]


def test_bad_upload_missing_columns_shows_the_form_error(page: Page, tmp_path: Path) -> None:
    staff(Role.RISK, username="rick")
    report = tmp_path / "broken.csv"
    report.write_text("deal_id,login,lots\n1,2,3\n")
    sign_in(page, "rick")
    page.goto("/partners/deals/import/")
    page.get_by_label("Deal report file (CSV)").set_input_files(str(report))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("the header lacks the column(s) symbol, side")
    assert not Deal.objects.exists()
