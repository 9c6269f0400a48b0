"""A chargeback in the browser: the PSP sends its signed dispute callback over HTTP; finance finds
the case in the chargeback queue's list with the client's name and the amount, sees that the
client's withdrawals are stopped (a withdrawal entered for them is refused, naming the chargeback),
sends the response with the evidence pack (a real Celery worker sends it to the PSP through the
adapter), and the PSP's decision (won) closes the case: the money is the client's again, the
partner's CPA clawed back when the case opened is restored, and the ledger verifies."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ib.models import CommissionLine, LineKind, LineStatus
from ib.services.money import commission_lines_post
from ops.roles import Role
from payments.models import ChargebackCase
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from sim import simpay
from sim.models import SimPspDispute
from tests.browser.conftest import shot, sign_in
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import tree
from tests.ib.lines import line

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


def _psp_sends(callback: Any) -> None:
    """The PSP delivers its callback over HTTP to the back office (signed, as a real PSP does)."""
    assert simpay.callbacks_deliver(ids=[callback.pk]) == 1


def test_good_a_dispute_opens_a_case_stops_withdrawals_and_is_won(
    page: Page, new_page: Callable[[], Page], live_server: Any, settings: Any,
    celery_worker_process: subprocess.Popen[str],
) -> None:  # fmt: skip
    settings.SIMPAY_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay/"
    settings.WEBHOOK_APPLY = "inline"
    staff(Role.FINANCE, username="fiona")
    (partner,) = tree("CBJ")
    c = approved_client(provision=False, first_name="Carla", last_name="Chargeback")
    deposit = card_deposit(c, "400.00")
    cpa = line(partner, c, "60.00", kind=LineKind.CPA, qualifying_deposit=deposit)
    commission_lines_post()

    _psp_sends(simpay.dispute_open(payment_id=deposit.external_id, reason="fraudulent", due_days=5))
    case = ChargebackCase.objects.get()

    sign_in(page, "fiona")
    page.goto("/payments/")
    page.get_by_role("link", name="Chargebacks").click()
    table = page.get_by_test_id("chargebacks")
    expect(table).to_contain_text("Carla Chargeback")
    expect(table).to_contain_text("400.00 EUR")
    expect(table).to_contain_text("Opened")
    shot(page, "chargebacks")
    page.get_by_role("link", name=case.reference).click()
    expect(page.get_by_test_id("chargeback-status")).to_have_text("Opened")
    expect(page.get_by_test_id("chargeback-amount")).to_have_text("400.00 EUR")
    expect(page.get_by_test_id("withdrawals-stopped")).to_contain_text("Withdrawals of Carla Chargeback are stopped")
    case_url = page.url

    # a withdrawal entered for the client is refused, naming why
    page.goto(f"/payments/clients/{c.pk}/withdrawals/new/")
    form = page.get_by_role("form", name="Withdrawal")
    form.get_by_label("Amount").fill("50.00")
    form.get_by_label("Method").select_option(label="Card")
    form.get_by_label("Destination (IBAN or card fingerprint)").fill(deposit.payer_account)
    form.get_by_label("Beneficiary name").fill("Carla Chargeback")
    form.get_by_role("button", name="Submit").click()
    expect(page.locator("body")).to_contain_text("chargebacks: 1 chargeback(s) open")
    shot(page, "withdrawal-refused")

    # finance answers with the evidence pack; the worker sends it to the PSP
    page.goto(case_url)
    respond = page.get_by_role("form", name="Respond")
    respond.get_by_label("Why the payment was the cardholder's").fill("3-D Secure passed; the client traded the funds.")
    respond.get_by_role("button", name="Send the response with the evidence pack").click()
    expect(page.get_by_test_id("chargeback-status")).to_have_text("Response sent")
    expect(page.get_by_test_id("evidence")).to_contain_text("Proof of identity")
    dispute = SimPspDispute.objects.get(dispute_id=case.dispute_id)
    for _ in range(60):  # the worker's send (after commit)
        dispute.refresh_from_db()
        if dispute.status == "responded":
            break
        page.wait_for_timeout(500)
    assert dispute.evidence["payment"]["deposit"] == deposit.reference
    page.reload()
    expect(page.get_by_test_id("chargeback-response")).to_contain_text(dispute.response_id)

    # the scheme decides for the broker
    _psp_sends(simpay.dispute_decide(dispute_id=case.dispute_id, won=True))
    page.reload()
    expect(page.get_by_test_id("chargeback-status")).to_have_text("Won")
    expect(page.get_by_test_id("withdrawals-stopped")).to_have_count(0)
    shot(page, "chargeback-won")
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("400.00")
    cpa = CommissionLine.objects.get(pk=cpa.pk)
    assert cpa.status == LineStatus.REVERSED  # the partner's CPA was clawed back when the case opened
    restored = cpa.reversed_by.reversed_by  # ... and is restored now that the case is won
    assert (restored.kind, restored.amount, restored.partner) == (LineKind.RESTORE, Decimal("60.00"), partner)
    assert ledger_verify().breaks == []
