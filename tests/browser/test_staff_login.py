from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from ops.roles import Role
from tests.browser.conftest import login
from tests.factories import PASSWORD, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SHOTS = os.environ.get("BROWSER_SCREENSHOTS")


def test_auditor_signs_in_reads_and_filters_the_audit_trail_then_signs_out(page) -> None:
    staff(Role.AUDITOR, username="audrey")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    login(page, "audrey", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    login(page, "audrey", PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text("audrey")
    expect(page.get_by_test_id("capabilities")).to_contain_text("View the audit trail")
    page.get_by_role("link", name="Audit trail", exact=True).click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.locator("table.data tbody")).to_contain_text("Staff login failed")
    page.get_by_label("Action").select_option("staff.login")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("audrey")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/audit-trail.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert "staff.login" in open(download.value.path()).read()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    page.goto("/audit/")
    expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()


def test_support_does_not_see_the_audit_trail(page) -> None:
    staff(Role.SUPPORT, username="sue")
    login(page, "sue", PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text("sue")
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    page.goto("/audit/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
