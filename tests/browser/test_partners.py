"""Partners in the browser: support adds a master partner and a sub-partner, registers a client
with the sub-partner's referral code, sees the client on the partner's page and the partner on the
client's; then asks for a change of partner, which a finance officer approves."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Client
from ib.models import Partner
from ib.selectors import attribution_at
from ops.roles import Role
from tests.browser.conftest import shot, sign_in
from tests.factories import staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def add_partner(page: Page, name: str, *, code: str, parent: str | None = None) -> None:
    page.goto("/partners/")
    page.get_by_role("link", name="Add a partner").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Code", exact=True).fill(code)
    if parent:
        page.get_by_label("Parent", exact=True).select_option(label=parent)
    page.get_by_role("button", name="Add the partner").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_test_id("referral-code")).to_have_text(code)


def test_good_hierarchy_referral_and_an_approved_change_of_partner(page: Page, new_page: Callable[[], Page]) -> None:
    staff(Role.SUPPORT, username="sam")
    staff(Role.FINANCE, username="fiona")
    sign_in(page, "sam")
    add_partner(page, "Alpha Partners", code="ALPHA")
    add_partner(page, "Beta Introducers", code="BETA", parent="Alpha Partners (ALPHA)")
    expect(page.get_by_role("navigation", name="Partners above")).to_contain_text("Alpha Partners")

    page.goto("/clients/new/")
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
    page.get_by_label("Referral code", exact=True).fill("beta")
    page.get_by_label("Campaign", exact=True).fill("spring-webinar")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_test_id("current-partner")).to_contain_text("Introduced by Beta Introducers")
    shot(page, "client-with-partner")

    page.get_by_role("link", name="Beta Introducers").first.click()
    expect(page.get_by_test_id("partner-clients")).to_contain_text("Rita Referred")
    page.goto("/partners/")
    expect(page.get_by_test_id("partners")).to_contain_text("Beta Introducers")
    shot(page, "partners")

    rita = Client.objects.get(email="rita@example.test")
    page.goto(rita.get_absolute_url())
    page.get_by_text("Change the partner").click()
    form = page.get_by_role("form", name="Change the partner")
    form.get_by_label("New partner").select_option(label="Alpha Partners (ALPHA)")
    expect(form.get_by_label("Takes effect from")).to_have_value(timezone.localdate().isoformat())
    form.get_by_label("Reason").fill("the client moved to the master desk")
    form.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_test_id("partner-panel")).to_contain_text("waiting for approval")

    finance = new_page()
    sign_in(finance, "fiona")
    finance.goto("/approvals/")
    finance.get_by_role("link", name="Attribute").first.click()
    expect(finance.locator("body")).to_contain_text("Alpha Partners (ALPHA)")
    finance.get_by_label("Reason").fill("both partners agreed in writing")
    finance.get_by_role("button", name="Approve").click()
    finance.goto(rita.get_absolute_url())
    expect(finance.get_by_test_id("current-partner")).to_contain_text("Introduced by Alpha Partners")
    current = attribution_at(rita)
    assert current is not None and current.partner == Partner.objects.get(code="ALPHA")
