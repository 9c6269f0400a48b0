"""Operator journeys through the ops pages: a queue worked end to end, an admin role grant through
maker-checker (checked by compliance), and what a role that does not work a queue sees (plus a
layout check at 1280 px)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from ops import errors
from ops.models import ApprovalRequest, ApprovalStatus, RiskLevel, WorkItem, WorkItemStatus
from ops.roles import Role
from tests.browser.conftest import WIDTH, shot, sign_in
from tests.factories import staff, work_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


# --- helpers ------------------------------------------------------------------------------------


def queue_row(page: Page, queue_name: str) -> Locator:
    """The row of a queue in the "My queues" table of the home page."""
    return (
        page.get_by_test_id("queue-summary")
        .get_by_role("row")
        .filter(has=page.get_by_role("link", name=queue_name, exact=True))
    )


def expect_queue_counts(page: Page, queue_name: str, *, open_: int, unassigned: int) -> None:
    cells = queue_row(page, queue_name).locator("td.num")
    expect(cells.nth(0)).to_have_text(str(open_))
    expect(cells.nth(1)).to_have_text(str(unassigned))


def expect_no_horizontal_overflow(page: Page) -> None:
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} is {width}px wide at a {WIDTH}px viewport"


# --- 1. a compliance officer works the KYC review queue ----------------------------------------


def test_compliance_takes_the_most_urgent_kyc_item_and_resolves_it(page: Page) -> None:
    staff(Role.COMPLIANCE, username="carla")
    low = work_item("kyc_review", title="KYC review: low-risk client", risk_level=RiskLevel.LOW)
    high = work_item("kyc_review", title="KYC review: high-risk client", risk_level=RiskLevel.HIGH)
    critical = work_item("kyc_review", title="KYC review: critical client", risk_level=RiskLevel.CRITICAL)

    sign_in(page, "carla")
    expect(queue_row(page, "KYC review")).to_have_count(1)
    expect_queue_counts(page, "KYC review", open_=3, unassigned=3)
    expect_no_horizontal_overflow(page)
    shot(page, "home-compliance")

    # The queue lists the critical item first (most urgent), then high, then low.
    page.get_by_role("link", name="KYC review", exact=True).click()
    expect(page.get_by_role("heading", name="KYC review", exact=True)).to_be_visible()
    rows = page.get_by_test_id("queue-items").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(critical.title)
    expect(rows.nth(1)).to_contain_text(high.title)
    expect(rows.nth(2)).to_contain_text(low.title)
    expect_no_horizontal_overflow(page)
    shot(page, "queue-kyc-review")

    # "Next item" on home takes the critical one.
    page.get_by_role("link", name="Home").click()
    queue_row(page, "KYC review").get_by_role("button", name="Next item").click()
    expect(page).to_have_url(re.compile(rf"/items/{critical.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{critical.pk} {critical.title}")
    expect(page.locator(".messages")).to_contain_text(f"You took #{critical.pk}")
    expect(page.get_by_test_id("item-status")).to_have_text("In progress")
    expect(page.get_by_test_id("item-owner")).to_have_text("carla")
    expect_no_horizontal_overflow(page)
    shot(page, "item-in-progress")

    resolve = page.get_by_role("form", name="Resolve")
    note = "Name match is a different person: date of birth and nationality differ."

    # Resolve without a code: the browser itself refuses (the select is required) ...
    resolve.get_by_label("Resolution note").fill(note)
    resolve.get_by_role("button", name="Resolve", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/items/{critical.pk}/$"))
    assert resolve.get_by_label("Resolution code").evaluate("el => el.validity.valueMissing") is True
    # ... and so does the server for a client that skips HTML validation.
    resolve.evaluate("form => { form.noValidate = true; }")
    resolve.get_by_role("button", name="Resolve", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/items/{critical.pk}/resolve/$"))
    expect(resolve.get_by_role("alert")).to_have_text(errors.RESOLUTION_CODE_REQUIRED)
    expect(resolve.get_by_label("Resolution note")).to_have_value(note)
    expect(page.get_by_test_id("item-status")).to_have_text("In progress")
    expect(page.get_by_test_id("item-resolution")).to_have_count(0)
    critical.refresh_from_db()
    assert critical.status == WorkItemStatus.IN_PROGRESS and critical.resolution_code == ""

    # With a code and a note it is resolved.
    resolve.get_by_label("Resolution code").select_option(label="False positive")
    resolve.get_by_role("button", name="Resolve", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/items/{critical.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("Resolved.")
    expect(page.get_by_test_id("item-status")).to_have_text("Resolved")
    expect(page.get_by_test_id("item-resolution")).to_contain_text("False positive")
    expect(page.get_by_test_id("item-resolution")).to_contain_text(note)
    expect(page.get_by_role("form", name="Resolve")).to_have_count(0)
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    shot(page, "item-resolved")

    # The queue count drops; the other two are still waiting.
    page.get_by_role("link", name="Home").click()
    expect_queue_counts(page, "KYC review", open_=2, unassigned=2)
    expect(page.get_by_text("Nothing assigned to you.")).to_be_visible()
    page.goto("/queues/kyc_review/")
    rows = page.get_by_test_id("queue-items").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("queue-items")).not_to_contain_text(critical.title)


# --- 2. maker-checker: an admin role grant is checked by compliance, not by another admin -------------


def test_admin_role_grant_is_checked_by_compliance_then_lands_in_access_review(
    page: Page, new_page: Callable[[], Page]
) -> None:
    staff(Role.ADMIN, username="alice")
    staff(Role.ADMIN, username="bob")
    staff(Role.SUPPORT, username="xavier")
    staff(Role.COMPLIANCE, username="carla")

    # Alice (maker) asks for the admin role for xavier.
    sign_in(page, "alice")
    page.get_by_role("link", name="Staff", exact=True).click()
    expect(page.get_by_role("heading", name="Staff and roles")).to_be_visible()
    expect(page.locator("tr[data-user=xavier]")).not_to_contain_text("admin")
    page.get_by_label("Staff user").select_option(label="xavier")
    page.get_by_label("Role", exact=True).select_option(label="Administrator")
    page.get_by_label("Reason", exact=True).fill("Takes over the on-call admin rota (ticket OPS-42).")
    page.get_by_role("button", name="Submit for approval").click()

    expect(page).to_have_url(re.compile(r"/approvals/\d+/$"))
    pk = int(re.search(r"/approvals/(\d+)/$", page.url).group(1))  # type: ignore[union-attr]
    expect(page.locator(".messages")).to_contain_text(f"Request #{pk} is waiting for approval by compliance.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Grant the admin role to xavier")
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")
    expect(page.get_by_test_id("maker-note")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    shot(page, "approval-pending-maker")

    # A forged decision by the maker is refused and changes nothing.
    request = ApprovalRequest.objects.get(pk=pk)
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    response = page.request.post(
        f"/approvals/{pk}/decide/",
        form={
            "csrfmiddlewaretoken": token,
            "decision": "approve",
            "reason": "Approving my own request.",
            "payload_hash": request.payload_hash,
        },
    )
    assert response.status == 403, response.status
    assert errors.CHECKER_IS_MAKER in response.text()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert not request.decisions.exists()
    page.reload()
    expect(page.get_by_test_id("approval-status")).to_have_text("Pending")

    # Bob, another administrator, is not asked: administrators do not check each other's access.
    bob = new_page()
    sign_in(bob, "bob")
    bob.get_by_role("link", name="Approvals", exact=True).click()
    expect(bob.get_by_test_id("approvals-waiting")).to_contain_text("Nothing is waiting for you.")

    # Carla (compliance) finds it waiting for her and approves it.
    carla = new_page()
    sign_in(carla, "carla")
    carla.get_by_role("link", name="Approvals", exact=True).click()
    waiting = carla.get_by_test_id("approvals-waiting")
    expect(waiting).to_contain_text("Grant the admin role to xavier")
    expect(waiting).to_contain_text("alice")
    waiting.get_by_role("link", name="Grant the admin role to xavier").click()
    expect(carla).to_have_url(re.compile(rf"/approvals/{pk}/$"))
    expect(carla.get_by_test_id("approval-status")).to_have_text("Pending")
    expect(carla.get_by_test_id("maker-note")).to_have_count(0)
    carla.get_by_label("Reason for your decision").fill("Confirmed with the head of operations.")
    carla.get_by_role("button", name="Approve").click()
    expect(carla).to_have_url(re.compile(rf"/approvals/{pk}/$"))
    expect(carla.locator(".messages")).to_contain_text("The request is now executed.")
    expect(carla.get_by_test_id("approval-status")).to_have_text("Executed")
    expect(carla.locator("ol.levels")).to_contain_text("Approved")
    expect(carla.locator("ol.levels")).to_contain_text("carla")
    expect(carla.get_by_role("button", name="Approve")).to_have_count(0)
    expect_no_horizontal_overflow(carla)
    shot(carla, "approval-executed")

    carla.goto("/approvals/")
    expect(carla.get_by_test_id("approvals-waiting")).to_contain_text("Nothing is waiting for you.")
    bob.get_by_role("link", name="Staff", exact=True).click()
    expect(bob.locator("tr[data-user=xavier]")).to_contain_text("admin")
    expect(bob.locator("tr[data-user=xavier]")).to_contain_text("support")

    # The maker sees the outcome in "Requests I made".
    page.goto("/approvals/")
    expect(page.get_by_test_id("approvals-mine")).to_contain_text("Executed")

    # Compliance finds the access review in its queue.
    carla.goto("/")
    expect_queue_counts(carla, "Staff access review", open_=1, unassigned=1)
    carla.get_by_role("link", name="Staff access review", exact=True).click()
    items = carla.get_by_test_id("queue-items")
    expect(items.locator("tbody tr")).to_have_count(1)
    expect(items).to_contain_text("Access review: xavier was granted admin")
    expect(items).to_contain_text("High")
    item = WorkItem.objects.get(queue__code="access_review")
    assert item.details == {"approval_request": pk, "role": "admin"}


# --- 3. a role that does not work a queue ---------------------------------------------------------


def test_support_cannot_reach_kyc_items_and_pages_fit_1280px(page: Page) -> None:
    staff(Role.SUPPORT, username="sam")
    kyc = work_item("kyc_review", title="KYC review: support must not see this", risk_level=RiskLevel.HIGH)
    dispute = work_item(
        "ib_dispute",
        title="IB dispute: rebate for March disputed by introducing broker 10442",
        risk_level=RiskLevel.MEDIUM,
    )

    sign_in(page, "sam")
    expect(queue_row(page, "IB dispute")).to_have_count(1)
    expect(queue_row(page, "KYC review")).to_have_count(0)
    expect_no_horizontal_overflow(page)
    shot(page, "home-support")

    # Items of queues support cannot see are not found, and cannot be claimed by a direct POST.
    response = page.goto(f"/items/{kyc.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    page.goto("/")
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    claim = page.request.post(f"/items/{kyc.pk}/claim/", form={"csrfmiddlewaretoken": token})
    assert claim.status == 404, claim.status
    next_kyc = page.request.post(
        "/queues/next/", form={"csrfmiddlewaretoken": token, "queue": "kyc_review"}, max_redirects=0
    )
    assert next_kyc.status == 302, next_kyc.status  # refused with a message, nothing taken
    kyc.refresh_from_db()
    assert kyc.owner_id is None and kyc.status == WorkItemStatus.OPEN

    # The KYC queue itself is not found for support.
    response = page.goto("/queues/kyc_review/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    expect(page.get_by_test_id("queue-items")).to_have_count(0)

    # Its own queue and item work, and fit the viewport.
    page.goto("/queues/ib_dispute/")
    expect(page.get_by_role("heading", name="IB dispute", exact=True)).to_be_visible()
    expect(page.get_by_test_id("queue-items").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("queue-items")).to_contain_text(dispute.title)
    expect_no_horizontal_overflow(page)
    shot(page, "queue-support")
    page.get_by_role("link", name=dispute.title).click()
    expect(page.get_by_test_id("item-status")).to_have_text("Open")
    expect(page.get_by_role("button", name="Claim")).to_be_visible()
    expect_no_horizontal_overflow(page)
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_test_id("item-owner")).to_have_text("sam")
    expect(page.get_by_role("form", name="Resolve")).to_be_visible()
    expect_no_horizontal_overflow(page)
    shot(page, "item-support")


def test_auditor_reads_a_kyc_item_without_claim_or_resolve(page: Page) -> None:
    """A role that may see every queue but works none of them gets a read-only item page."""
    staff(Role.AUDITOR, username="audrey")
    kyc = work_item("kyc_review", title="KYC review: read-only for auditors", risk_level=RiskLevel.CRITICAL)

    sign_in(page, "audrey")
    expect(queue_row(page, "KYC review")).to_contain_text("read-only")
    expect(queue_row(page, "KYC review").get_by_role("button", name="Next item")).to_have_count(0)
    page.goto(f"/items/{kyc.pk}/")
    expect(page.get_by_test_id("item-status")).to_have_text("Open")
    actions = page.get_by_role("region", name="Actions")
    expect(actions).to_contain_text(errors.NOT_YOUR_QUEUE.format(queue="KYC review"))
    for name in ("Claim", "Resolve", "Assign", "Wait on client", "Give back to the queue"):
        expect(actions.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect_no_horizontal_overflow(page)
    page.goto("/queues/kyc_review/")
    expect(page.get_by_test_id("queue-items")).to_contain_text(kyc.title)
    expect(page.get_by_role("button", name="Next item")).to_have_count(0)
