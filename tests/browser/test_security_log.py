"""Someone sprays passwords and pokes at pages they may not open; compliance finds the alert in its
queue, follows it to the security log, and filters it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ops.models import WorkItem
from ops.roles import Role
from ops.services.security_alerts import security_alerts_raise
from tests.browser.conftest import login, shot, sign_in
from tests.factories import staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_compliance_follows_a_spraying_alert_to_the_security_log(page, new_page, settings) -> None:
    # Every sign-in here comes from 127.0.0.1: a broker's office behind one address, with a lockout
    # limit above the seven tries, so the colleagues below can still sign in from it.
    settings.AXES_FAILURE_LIMIT = 20
    for i in range(7):
        staff(Role.SUPPORT, username=f"agent{i}")
    staff(Role.SUPPORT, username="sue", first_name="Sue", last_name="Porter")
    staff(Role.COMPLIANCE, username="olga")
    for i in range(7):  # one wrong password on each of seven accounts
        login(page, f"agent{i}", "Winter2026!")
        expect(page.get_by_role("alert")).to_contain_text("didn't match")
    sign_in(page, "sue")
    page.goto("/payments/")
    expect(page.get_by_test_id("refusal")).to_be_visible()
    [alert] = security_alerts_raise()

    officer = new_page()
    sign_in(officer, "olga")
    officer.goto(f"/items/{alert.pk}/")
    expect(officer.get_by_test_id("item-subject")).to_contain_text("Alert: password spraying")
    officer.get_by_test_id("item-subject").get_by_role("link").click()
    expect(officer).to_have_url(re.compile(r"/audit/security/\?ip=127\.0\.0\.1$"))
    expect(officer.get_by_role("heading", name="Security log")).to_be_visible()
    rows = officer.locator("[data-testid=security-events] tbody tr")
    expect(rows).to_have_count(9)  # the alert, sue's refusal, seven failed sign-ins
    expect(rows.first).to_contain_text("Alert: password spraying")
    expect(officer.locator("[data-testid=security-events]")).to_contain_text("Sue Porter")
    shot(officer, "security-log")

    officer.get_by_role("link", name="Clear").click()
    officer.get_by_label("Kind").select_option("login_failed")
    officer.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(7)
    expect(rows.first).to_contain_text("tried agent6")
    officer.get_by_role("link", name="Security log", exact=True).click()
    expect(rows).to_have_count(9)
    assert WorkItem.objects.filter(queue__code="security_alert").count() == 1
