"""A client's life through the back office pages, with a real Celery worker provisioning and
updating the trading account on the simulated platform: support registers and submits, compliance
approves, restricts and asks for the restriction to be lifted, and a second officer lifts it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from accounts import errors
from accounts.models import Client, ClientStatus, TradingAccount, TradingAccountStatus
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from sim.platform import SimulatedPlatform
from tests.browser.conftest import shot, sign_in
from tests.conftest import wait_for
from tests.factories import kyc_ready, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]
WORKER_TIMEOUT = 30.0  # seconds the worker gets for one provisioning or push
VALID_PHONE = "+44 7911 123456"
INVALID_PHONE = "+44 12"
platform = SimulatedPlatform()


# --- helpers ------------------------------------------------------------------------------------


def field(page: Page, label: str) -> Locator:
    """The wrapper of one registration form field (label, input, help text and errors)."""
    return page.locator("form .field").filter(has=page.get_by_label(label, exact=True))


def fill_registration(page: Page, *, phone: str) -> None:
    page.get_by_label("Kind", exact=True).select_option(label="Individual")
    page.get_by_label("First name", exact=True).fill("Grace")
    page.get_by_label("Last name", exact=True).fill("Hopper")
    page.get_by_label("Date of birth", exact=True).fill("1986-12-09")
    page.get_by_label("Nationality", exact=True).select_option("GB")
    page.get_by_label("Country", exact=True).select_option("GB")
    page.get_by_label("Email", exact=True).fill("grace.hopper@example.test")
    page.get_by_label("Phone", exact=True).fill(phone)
    page.get_by_label("Account type", exact=True).select_option(label="Standard")
    page.get_by_label("Base currency", exact=True).fill("USD")


def account_row(page: Page) -> Locator:
    rows = page.get_by_test_id("trading-accounts").locator("tbody tr")
    expect(rows).to_have_count(1)
    return rows.first


def expect_account(page: Page, *, login: str, status: str) -> None:
    row = account_row(page)
    expect(row.locator("td").nth(0)).to_have_text(login)
    expect(row.locator(".chip")).to_have_text(status)


def wait_for_account(pk: int, status: str) -> TradingAccount:
    """The worker's work is done once the back office records the status it pushed."""

    def done() -> TradingAccount | None:
        account = TradingAccount.objects.get(pk=pk)
        return account if account.status == status and account.login else None

    account = wait_for(done, timeout=WORKER_TIMEOUT)
    assert account is not None
    return account


def wait_for_platform(login: str, **wanted: object) -> None:
    def matches() -> bool:
        state = platform.get_account(login)
        return all(getattr(state, k) == v for k, v in wanted.items())

    wait_for(matches, timeout=WORKER_TIMEOUT)


def capabilities(page: Page) -> Locator:
    return page.get_by_test_id("capabilities").locator(".chip")


# --- the journey ----------------------------------------------------------------------------------


def test_client_registered_approved_provisioned_restricted_and_unfrozen_by_a_second_officer(
    page: Page, new_page: Callable[[], Page], celery_worker_process: subprocess.Popen[str]
) -> None:
    staff(Role.SUPPORT, username="sam")
    staff(Role.COMPLIANCE, username="carla")
    staff(Role.COMPLIANCE, username="olga")

    # --- support registers the client; an invalid phone is refused first and creates nothing ---
    sign_in(page, "sam")
    page.get_by_role("link", name="Clients", exact=True).click()
    expect(page.get_by_role("heading", name="Clients", exact=True)).to_be_visible()
    page.get_by_role("link", name="Register a client").click()
    expect(page).to_have_url(re.compile(r"/clients/new/$"))
    expect(page.get_by_role("heading", name="Register a client")).to_be_visible()

    fill_registration(page, phone=INVALID_PHONE)
    with page.expect_response(lambda r: r.request.method == "POST" and "/clients/new/" in r.url) as posted:
        page.get_by_role("button", name="Register").click()
    assert posted.value.status == 400, posted.value.status
    expect(page).to_have_url(re.compile(r"/clients/new/$"))
    expect(field(page, "Phone").get_by_role("alert")).to_have_text(errors.INVALID_PHONE)
    expect(page.locator("form .field.invalid")).to_have_count(1)  # only the phone is wrong
    expect(page.get_by_label("Last name", exact=True)).to_have_value("Hopper")  # nothing retyped
    expect(page.get_by_label("Phone", exact=True)).to_have_value(INVALID_PHONE)
    shot(page, "client-form-phone-error")
    assert not Client.objects.exists()

    page.get_by_label("Phone", exact=True).fill(VALID_PHONE)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/clients/\d+/$"))
    client = Client.objects.get()
    assert page.url.endswith(f"/clients/{client.pk}/")
    assert client.phone == "+447911123456" and client.account_type.code == "standard"
    expect(page.locator(".messages")).to_contain_text(f"Registered Grace Hopper as {client.reference}.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Grace Hopper")
    expect(page.get_by_test_id("client-status")).to_have_text("Registered")
    # KYC (documents accepted, risk assessed) is its own journey (test_kyc_documents); here it is data.
    kyc_ready(client)
    expect(account_row(page)).to_contain_text("None yet")

    # --- support submits it for review (and then has nothing more to do) ---
    actions = page.get_by_role("region", name="Actions")
    expect(actions.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    actions.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_test_id("client-status")).to_have_text("Pending review")
    expect(actions).to_contain_text("Nothing your role may do in this status.")

    # --- compliance (another desk) approves; the worker provisions the trading account ---
    carla = new_page()
    sign_in(carla, "carla")
    carla.goto(f"/clients/{client.pk}/")
    expect(carla.get_by_test_id("client-status")).to_have_text("Pending review")
    carla.get_by_role("region", name="Actions").get_by_role("button", name="Approve", exact=True).click()
    expect(carla).to_have_url(re.compile(rf"/clients/{client.pk}/$"))
    expect(carla.get_by_test_id("client-status")).to_have_text("Approved")

    account = TradingAccount.objects.get(client=client)
    account = wait_for_account(account.pk, TradingAccountStatus.ACTIVE)
    login_ = account.login
    assert login_ and re.fullmatch(r"\d+", login_)
    state = platform.get_account(login_)
    assert (state.group, state.leverage, state.trading_enabled, state.close_only) == (
        "real\\standard",
        100,
        True,
        False,
    )
    carla.reload()
    expect_account(carla, login=login_, status="Active")
    expect(account_row(carla)).to_contain_text("real\\standard")
    expect(account_row(carla)).to_contain_text("1:100")

    # --- compliance restricts with a reason: close-only on the platform ---
    actions = carla.get_by_role("region", name="Actions")
    actions.get_by_label("Reason to restrict").fill("Proof of address expired; client contacted.")
    actions.get_by_role("button", name="Restrict", exact=True).click()
    expect(carla.get_by_test_id("client-status")).to_have_text("Restricted")
    wait_for_account(account.pk, TradingAccountStatus.CLOSE_ONLY)
    wait_for_platform(login_, trading_enabled=True, close_only=True)
    carla.reload()
    expect_account(carla, login=login_, status="Close-only")
    expect(capabilities(carla).filter(has_text="withdraw")).to_have_text("✗ withdraw")
    expect(capabilities(carla).filter(has_text="open positions")).to_have_text("✗ open positions")
    expect(capabilities(carla).filter(has_text="close positions")).to_have_text("✓ close positions")
    shot(carla, "client-restricted")

    # --- compliance asks for the restriction to be lifted: the maker cannot decide it ---
    unfreeze = carla.get_by_role("form", name="Request unfreeze")
    unfreeze.get_by_label("Why the restriction can be lifted").fill("New proof of address received and checked.")
    unfreeze.get_by_role("button", name="Request unfreeze (needs a second officer)").click()
    expect(carla).to_have_url(re.compile(r"/approvals/\d+/$"))
    pk = int(re.search(r"/approvals/(\d+)/$", carla.url).group(1))  # type: ignore[union-attr]
    expect(carla.locator(".messages")).to_contain_text(f"Request #{pk} is waiting for a second compliance officer.")
    expect(carla.get_by_test_id("approval-status")).to_have_text("Pending")
    expect(carla.get_by_test_id("maker-note")).to_be_visible()
    expect(carla.get_by_role("button", name="Approve")).to_have_count(0)
    expect(carla.get_by_role("button", name="Reject")).to_have_count(0)
    shot(carla, "approval-unfreeze-maker")
    request = ApprovalRequest.objects.get(pk=pk)
    assert request.action == "client.unfreeze" and request.subject_id == str(client.pk)

    # The client stays restricted meanwhile; a second request cannot be made.
    carla.goto(f"/clients/{client.pk}/")
    expect(carla.get_by_test_id("client-status")).to_have_text("Restricted")
    expect(carla.get_by_role("form", name="Request unfreeze")).to_have_count(0)
    expect(carla.get_by_role("region", name="Actions")).to_contain_text(f"Unfreeze requested: #{pk}")

    # --- a second compliance officer approves it: the client is approved and trades again ---
    olga = new_page()
    sign_in(olga, "olga")
    olga.get_by_role("link", name="Approvals", exact=True).click()
    waiting = olga.get_by_test_id("approvals-waiting")
    expect(waiting).to_contain_text("Lift the restriction on")
    expect(waiting).to_contain_text("carla")
    olga.goto(f"/approvals/{pk}/")
    expect(olga.get_by_test_id("approval-status")).to_have_text("Pending")
    olga.get_by_label("Reason for your decision").fill("Checked the new proof of address myself.")
    olga.get_by_role("button", name="Approve").click()
    expect(olga).to_have_url(re.compile(rf"/approvals/{pk}/$"))
    expect(olga.locator(".messages")).to_contain_text("The request is now executed.")
    expect(olga.get_by_test_id("approval-status")).to_have_text("Executed")
    assert ApprovalRequest.objects.get(pk=pk).status == ApprovalStatus.EXECUTED
    assert Client.objects.get(pk=client.pk).status == ClientStatus.APPROVED

    wait_for_account(account.pk, TradingAccountStatus.ACTIVE)
    wait_for_platform(login_, trading_enabled=True, close_only=False)
    state = platform.get_account(login_)
    assert (state.group, state.leverage, state.trading_enabled, state.close_only) == (
        "real\\standard",
        100,
        True,
        False,
    )
    olga.goto(f"/clients/{client.pk}/")
    expect(olga.get_by_test_id("client-status")).to_have_text("Approved")
    expect_account(olga, login=login_, status="Active")
    expect(capabilities(olga).filter(has_text="withdraw")).to_have_text("✓ withdraw")
    expect(capabilities(olga).filter(has_text="open positions")).to_have_text("✓ open positions")
    expect(olga.get_by_role("form", name="Request unfreeze")).to_have_count(0)
    expect(olga.get_by_role("region", name="Actions")).not_to_contain_text("Unfreeze requested")

    # The status timeline (newest first) lists every status the client went through, in order.
    timeline = olga.get_by_test_id("timeline").locator("tbody tr")
    expect(timeline.locator("td:nth-child(2)")).to_have_text(
        ["Approved", "Restricted", "Approved", "Pending review", "Registered"]
    )
    expect(timeline.nth(0)).to_contain_text(f"approval #{pk}")
    expect(timeline.nth(1)).to_contain_text("Proof of address expired")
    shot(olga, "client-unfrozen")
