"""A suspicious activity report in the browser: a compliance officer opens an escalated structuring
alert, starts a report (prefilled with the client and the deposits that fired the rule), writes the
narrative, submits it; a second compliance officer reads the draft beside the approval and approves;
the first downloads the file, whose sha256 is the approved one, and records the filing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ops.roles import Role
from risk.models import SuspiciousActivityReport
from risk.services import alert_dispose
from tests.browser.conftest import shot, sign_in
from tests.factories import staff
from tests.risk.test_sar import _structured

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_good_compliance_drafts_a_sar_from_an_alert_second_officer_approves_file_downloads(
    page: Page, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    staff(Role.COMPLIANCE, username="carla")
    staff(Role.COMPLIANCE, username="conor")
    c, deposits, _, alert = _structured()
    alert_dispose(alert_id=alert.pk, actor=staff(Role.RISK, username="rita"), disposition="escalated",
                  reason="structured under the threshold")  # fmt: skip

    sign_in(page, "carla")
    page.goto(f"/risk/alerts/{alert.pk}/")
    page.get_by_test_id("start-sar").click()
    expect(page.get_by_test_id("sar-subject")).to_contain_text(c.reference)
    expect(page.get_by_test_id("sar-fired")).to_contain_text("Rule STRUCT")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Write the analyst's narrative")).to_be_visible()
    page.get_by_label("Analyst's narrative").fill("Three card deposits just under 1,000 within minutes.")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_test_id("sar-status")).to_have_text("Draft")
    expect(page.get_by_test_id("sar-transactions")).to_contain_text(deposits[0].reference)
    page.get_by_label("Reason").fill("structuring, please approve for filing")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")
    sar = SuspiciousActivityReport.objects.get()

    checker = new_page()
    sign_in(checker, "conor")
    checker.goto("/approvals/")
    checker.get_by_role("link", name=f"File suspicious activity report {sar.reference}").first.click()
    expect(checker.get_by_test_id("sar-hash-check")).to_contain_text("still has the submitted sha256")
    expect(checker.get_by_test_id("sar-narrative")).to_contain_text("just under 1,000")
    shot(checker, "sar-approval")
    checker.get_by_label("Reason").fill("narrative and evidence agree")
    checker.get_by_role("button", name="Approve").click()
    expect(checker.get_by_test_id("approval-status")).to_have_text("Executed")

    page.goto(sar.get_absolute_url())
    expect(page.get_by_test_id("sar-status")).to_have_text("Approved, to be filed")
    with page.expect_download() as download_info:
        page.get_by_test_id("sar-export").click()
    download = download_info.value
    assert download.suggested_filename == f"{sar.reference}.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sar.refresh_from_db()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == sar.content_sha256
    page.get_by_label("The regulator's reference").fill("FIU-2026-77")
    page.get_by_role("button", name="Record as filed").click()
    expect(page.get_by_test_id("sar-filed")).to_contain_text("FIU-2026-77")
    page.goto(f"/risk/alerts/{alert.pk}/")
    expect(page.get_by_test_id("alert-sar")).to_contain_text("SAR filed")
    shot(page, "sar-filed-on-alert")
