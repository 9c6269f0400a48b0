"""A payment link in the browser: support makes a card payment link on the client's page, the payer
(another browser, not signed in) opens the PSP's checkout page, pays with the success test card and
lands back on the broker's page; the PSP's signed callback credits the deposit, which the client
page shows as credited."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ops.roles import Role
from payments.models import Deposit, DepositStatus
from payments.services.ledger import balance_of, wallet_for
from tests.browser.conftest import shot, sign_in
from tests.factories import approved_client, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_good_payment_link_paid_by_card_shows_credited_on_the_client_page(
    page: Page, new_page: Callable[[], Page], live_server: Any, settings: Any
) -> None:
    settings.SIM_PSP_PUBLIC_URL = live_server.url
    settings.SIMPAY_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay/"
    settings.SIMPAY2_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay2/"
    settings.PAYMENT_LINK_RETURN_URL = f"{live_server.url}/sim/payment-done/"
    settings.WEBHOOK_APPLY = "inline"
    staff(Role.SUPPORT, username="sam")
    c = approved_client(provision=False, first_name="Paula", last_name="Payer")

    sign_in(page, "sam")
    page.goto(c.get_absolute_url())
    page.get_by_role("link", name="Payment link").click()
    form = page.get_by_role("form", name="Make a payment link")
    form.get_by_label("Pay by").select_option(label="Card")
    form.get_by_label("Amount").fill("150.00")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_role("button", name="Make the payment link").click()
    link = page.get_by_test_id("checkout-url")
    expect(link).to_contain_text("/sim/simpay/checkout/")
    checkout_url = link.inner_text()
    deposit = Deposit.objects.get(client=c)
    shot(page, "payment-link")

    payer = new_page()  # the client, in their own browser
    payer.goto(checkout_url)
    expect(payer.get_by_role("heading", level=1)).to_contain_text("150.00 EUR")
    payer.get_by_label("Name on the card").fill("Paula Payer")
    payer.get_by_label("Card number").fill("4242 4242 4242 4242")
    shot(payer, "checkout")
    payer.get_by_role("button", name="Pay 150.00 EUR").click()
    expect(payer.get_by_test_id("payment-done")).to_contain_text(f"{deposit.reference}: succeeded")

    page.goto(c.get_absolute_url())
    expect(page.get_by_test_id("client-deposits")).to_contain_text(f"{deposit.reference} 150.00 EUR Card — Credited")
    shot(page, "client-after-card-deposit")
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("150.00")
