"""The quarterly access review in a real browser: a compliance reviewer finds the quarter's review in
their queue, reads who holds what (an incompatible pair and a dormant account flagged), and signs it
off; an auditor reads it but cannot sign it off."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.models import AccessReview, WorkItem, WorkItemStatus
from ops.roles import Role
from ops.selectors import access_review_period
from ops.services.access_review import access_review_open_due
from tests.browser.conftest import shot, sign_in
from tests.factories import staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_compliance_reviews_access_and_signs_off_the_quarter(page: Page, new_page: Callable[[], Page]) -> None:
    rita = staff(Role.RISK, username="rita", last_login=timezone.now())
    rita.groups.add(Group.objects.get(name="auditor"))  # a pair made before the table existed
    staff(Role.FINANCE, username="fred", last_login=timezone.now() - timedelta(days=120))
    staff(Role.COMPLIANCE, username="carla")
    staff(Role.AUDITOR, username="audrey")
    access_review_open_due()  # what the daily beat job does
    period = access_review_period()

    # Carla finds the review in her queue and opens the page from the nav.
    sign_in(page, "carla")
    page.get_by_role("link", name="Staff access review", exact=True).click()
    expect(page.get_by_test_id("queue-items")).to_contain_text(f"Quarterly access review {period} is due")
    page.get_by_role("link", name="Access review", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Quarterly access review {period}")
    table = page.get_by_test_id("access-table")
    expect(table.locator("tr[data-user=rita]").get_by_test_id("findings")).to_have_text(
        "incompatible roles: risk + auditor"
    )
    expect(table.locator("tr[data-user=fred]").get_by_test_id("findings")).to_contain_text("dormant")
    expect(table.locator("tr[data-user=carla]").get_by_test_id("findings")).to_have_text("—")
    expect(page.get_by_test_id("incompatible-roles")).to_contain_text("Auditor")
    with page.expect_download() as download:
        page.get_by_test_id("access-review-csv").click()
    assert download.value.suggested_filename == f"access-review-{period}.csv"
    shot(page, "access-review")

    # An empty note is refused on the page; then she signs off.
    page.get_by_role("button", name=f"Sign off the {period} review").click()  # the browser's required check
    expect(page.get_by_test_id("sign-off-state")).to_contain_text("not signed off")
    page.get_by_label("Sign-off note").fill("rita's auditor role to be revoked (ticket OPS-7); fred disabled.")
    page.get_by_role("button", name=f"Sign off the {period} review").click()
    expect(page.locator(".messages")).to_contain_text(f"The access review for {period} is signed off.")
    expect(page.get_by_test_id("sign-off-state")).to_contain_text("signed off by carla on")
    expect(page.get_by_role("button", name=f"Sign off the {period} review")).to_have_count(0)

    review = AccessReview.objects.get(period=period)
    assert review.signed_off_by is not None and review.signed_off_by.username == "carla"
    event = AuditEvent.objects.get(action=AuditAction.ACCESS_REVIEW_SIGNED_OFF)
    assert event.actor_label == "carla" and event.reason.startswith("rita's auditor role")
    assert WorkItem.objects.get(queue__code="access_review").status == WorkItemStatus.RESOLVED

    # The auditor reads the review and its sign-off, with no form to sign.
    audrey = new_page()
    sign_in(audrey, "audrey")
    audrey.get_by_role("link", name="Access review", exact=True).click()
    expect(audrey.get_by_test_id("sign-off-state")).to_contain_text("signed off by carla on")
    expect(audrey.get_by_test_id("access-table").locator("tr[data-user=rita]")).to_contain_text("risk + auditor")
    expect(audrey.get_by_role("button", name=f"Sign off the {period} review")).to_have_count(0)
