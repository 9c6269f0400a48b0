"""The withdrawal queue worked in a browser: finance approves, a compliance officer at another
desk approves the second level, finance executes the payout; a held deposit is released, another
returned and refunded to the card by the worker."""

from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import Page, expect

from ops.roles import Role
from payments.models import Deposit, Withdrawal, WithdrawalStatus
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_request
from tests.browser.conftest import shot, sign_in
from tests.conftest import wait_for
from tests.factories import approved_client, card_deposit, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_first_withdrawal_finance_then_compliance_then_payout(page: Page, new_page) -> None:
    staff(Role.FINANCE, username="fiona")
    staff(Role.COMPLIANCE, username="carla")
    c = approved_client(provision=False)
    deposit = card_deposit(c, "2000.00")
    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="600.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip

    sign_in(page, "fiona")
    page.get_by_role("link", name="Withdrawal approval", exact=True).click()
    page.get_by_role("link", name=f"Withdrawal {w.reference}", exact=False).first.click()
    page.get_by_role("link", name=w.reference).click()
    expect(page.get_by_test_id("approval-level")).to_contain_text("Finance, then compliance")
    expect(page.get_by_test_id("checks")).to_contain_text("first withdrawal")
    page.get_by_label("Reason for approving").fill("Card matches the deposit; client known")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("approval-level")).to_contain_text("waiting for Compliance")
    expect(page.get_by_test_id("approval-levels")).to_contain_text("Finance: approved by fiona")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # not twice by the same person
    shot(page, "withdrawal-after-finance")

    carla = new_page()  # compliance finds it in the one approvals inbox and decides it there
    sign_in(carla, "carla")
    carla.goto("/approvals/")
    carla.get_by_test_id("approvals-waiting").get_by_role("link", name=f"Withdrawal {w.reference}").click()
    carla.get_by_label("Reason for your decision").fill("Source of funds on file")
    carla.get_by_role("button", name="Approve").click()
    expect(carla.get_by_test_id("approval-status")).to_have_text("Executed")
    carla.goto(w.get_absolute_url())
    expect(carla.get_by_test_id("withdrawal-status")).to_have_text("Approved")
    expect(carla.get_by_test_id("approval-levels")).to_contain_text("Compliance: approved by carla")

    page.reload()
    page.get_by_role("button", name="Execute payout").click()
    expect(page.get_by_test_id("withdrawal-status")).to_have_text("Payout sent")
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.PROCESSING
    shot(page, "withdrawal-payout-sent")


def test_held_third_party_deposit_is_released_with_a_reason(page: Page) -> None:
    staff(Role.FINANCE, username="fiona")
    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00", cardholder="Someone Else Entirely")
    sign_in(page, "fiona")
    page.goto(deposit.get_absolute_url())
    expect(page.get_by_test_id("review-reason")).to_contain_text("does not match the account holder")
    page.get_by_role("button", name="Credit the client").click()  # no reason: the browser refuses
    expect(page.get_by_test_id("deposit-status")).to_have_text("Held for review")
    page.get_by_label("Why this is the client's own money").fill("Joint account; statement on file")
    page.get_by_role("button", name="Credit the client").click()
    expect(page.get_by_test_id("deposit-status")).to_have_text("Credited")
    expect(page.get_by_test_id("postings")).to_contain_text(f"wallet:{c.reference}:EUR")


def test_held_deposit_is_returned_and_refunded_to_the_card_by_the_worker(
    page: Page, celery_worker_process: subprocess.Popen[str]
) -> None:
    staff(Role.FINANCE, username="fiona")
    c = approved_client(provision=False)
    deposit = card_deposit(c, "140.00", cardholder="Someone Else Entirely")
    sign_in(page, "fiona")
    page.goto(deposit.get_absolute_url())
    page.get_by_label("Return because").select_option("third_party")
    page.get_by_label("Note").fill("Card is not the client's")
    page.get_by_role("button", name="Return to the payer").click()
    expect(page.get_by_test_id("deposit-status")).to_have_text("Refunded")
    # the worker sends the refund to the PSP after the return commits; the page shows its id
    wait_for(lambda: Deposit.objects.filter(pk=deposit.pk).exclude(refund_reference="").exists())
    page.reload()
    expect(page.get_by_test_id("refund-reference")).to_contain_text("re_")
    expect(page.get_by_test_id("refund-reference")).to_contain_text("PSP refund")
    shot(page, "deposit-refunded")
