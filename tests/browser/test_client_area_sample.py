"""The sample client area in the browser (sim/client_area.py: pages built only from the client-area
API, called over HTTP with a real client-area key): a person registers, uploads their documents,
compliance approves them (the staff side, through its services), the client deposits by card through
the simulated PSP's checkout and comes back, moves money to the trading account, requests a
withdrawal, reads their transactions; a staff member finds the client on the staff pages."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Client, ClientStatus
from ops.roles import Role
from payments.models import Deposit, DepositStatus, Withdrawal
from payments.services.ledger import balance_of, wallet_for
from tests.api.keys import client_area_key
from tests.browser.conftest import shot, sign_in
from tests.factories import staff
from tests.kyc.files import pdf

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _approve(client: Client) -> None:
    """Compliance accepts the documents and approves the client; the trading account is opened
    (what the worker does after commit)."""
    from accounts.services.clients import client_transition
    from accounts.services.trading_accounts import trading_account_provision
    from kyc.models import Document
    from kyc.services.documents import document_review
    from kyc.services.risk import risk_assess

    officer = staff(Role.COMPLIANCE, username="cora")
    for document in Document.objects.filter(client=client):
        document_review(document_id=document.pk, reviewer=officer, accept=True, note="clear scan, matches")
    risk_assess(client_id=client.pk)
    client_transition(client_id=client.pk, name="approve", actor=officer, reason="KYC complete")
    for account in client.trading_accounts.all():
        trading_account_provision(account_id=account.pk)


def test_good_register_upload_deposit_by_card_transfer_and_staff_sees_the_client(
    page: Page, new_page: Callable[[], Page], live_server: Any, settings: Any
) -> None:
    settings.SIM_PSP_PUBLIC_URL = live_server.url  # the API's base and the PSP's checkout: this server
    settings.SIMPAY_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay/"
    settings.SIMPAY2_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay2/"
    settings.WEBHOOK_APPLY = "inline"
    settings.SIM_CLIENT_AREA_API_KEY = client_area_key(rate=10_000)
    staff(Role.SUPPORT, username="sam")

    person = new_page()  # the client, in their own browser
    person.goto("/sim/client-area/")
    person.get_by_role("link", name="Open an account").click()
    form = person.get_by_role("form", name="Open an account")
    for label, value in [
        ("First name", "Nina"), ("Last name", "Simone"), ("Date of birth", "1983-02-21"), ("Country", "GB"),
        ("Email", "nina@example.test"), ("Phone", "+44 20 7946 0999"),
    ]:  # fmt: skip
        form.get_by_label(label).fill(value)
    form.get_by_label("Currency").select_option("EUR")
    form.get_by_role("button", name="Open my account").click()
    expect(person.get_by_role("heading", name="Your documents")).to_be_visible()
    client = Client.objects.get(email="nina@example.test")

    for kind in ("Proof of identity", "Proof of address", "Suitability questionnaire"):
        upload = person.get_by_role("form", name="Upload a document")
        upload.get_by_label("Document").select_option(label=kind)
        upload.get_by_label("File").set_input_files(
            {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": pdf()}
        )
        upload.get_by_role("button", name="Upload").click()
        expect(person.get_by_test_id("uploaded")).to_contain_text(kind.lower())
    for kind in ("Proof of identity", "Proof of address", "Suitability questionnaire"):
        expect(person.get_by_test_id("checklist").get_by_role("row", name=f"{kind} Pending review")).to_be_visible()
    shot(person, "client-area-documents")
    client.refresh_from_db()
    assert client.status == ClientStatus.PENDING_REVIEW

    _approve(client)
    person.goto("/sim/client-area/")
    expect(person.get_by_test_id("client-status")).to_contain_text("Approved")
    expect(person.get_by_test_id("capabilities")).to_contain_text("Deposit: yes")

    person.get_by_role("link", name="Deposit", exact=True).click()
    deposit_form = person.get_by_role("form", name="Deposit")
    deposit_form.get_by_label("Pay by").select_option(label="Card")
    deposit_form.get_by_label("Amount").fill("300.00")
    deposit_form.get_by_label("Currency").fill("EUR")
    deposit_form.get_by_role("button", name="Continue").click()
    expect(person.get_by_role("heading", level=1)).to_contain_text("300.00 EUR")  # the PSP's checkout page
    assert "/sim/simpay" in person.url and "/checkout/" in person.url
    person.get_by_label("Name on the card").fill("Nina Simone")
    person.get_by_label("Card number").fill("4242 4242 4242 4242")
    person.get_by_role("button", name="Pay 300.00 EUR").click()
    deposit = Deposit.objects.get(client=client)
    expect(person.get_by_test_id("deposit-done")).to_contain_text(f"{deposit.reference}: succeeded")
    person.reload()  # the PSP's signed callback has credited it by now
    expect(person.get_by_role("row", name=f"{deposit.reference} 300.00 EUR Card Credited")).to_be_visible()
    shot(person, "client-area-deposit-done")
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.CREDITED

    person.get_by_role("link", name="Transfer").click()
    move = person.get_by_role("form", name="Move money")
    move.get_by_label("Direction").select_option("wallet_to_trading")
    move.get_by_label("Amount").fill("100.00")
    move.get_by_role("button", name="Move").click()
    login = client.trading_accounts.get().login
    expect(person.get_by_test_id("transfer-done")).to_contain_text(f"Moved 100.00 EUR to trading account {login}")
    expect(person.get_by_role("row", name=f"Trading account {login} 100.00 EUR")).to_be_visible()
    assert balance_of(wallet_for(client=client, currency="EUR")).ledger == Decimal("200.00")

    person.get_by_role("link", name="Withdraw").click()
    out = person.get_by_role("form", name="Withdraw")
    out.get_by_label("Amount").fill("50.00")
    out.get_by_label("Pay to").select_option("card")
    out.get_by_label("Destination").fill(deposit.payer_account)
    out.get_by_label("Name on the card or account").fill("Nina Simone")
    out.get_by_role("button", name="Request the withdrawal").click()
    withdrawal = Withdrawal.objects.get(client=client)
    expect(person.get_by_test_id("withdrawal-done")).to_contain_text(f"Withdrawal {withdrawal.reference} of 50.00 EUR")

    person.get_by_role("link", name="Transactions").click()
    expect(person.get_by_test_id("transactions").get_by_role("row", name="Internal transfer")).to_have_count(2)
    expect(person.get_by_test_id("transactions").get_by_role("row", name="Deposit Wallet 300.00 EUR")).to_be_visible()
    shot(person, "client-area-transactions")

    sign_in(page, "sam")  # the staff side: the same client, its deposit and its withdrawal
    page.goto(client.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nina Simone")
    expect(page.get_by_test_id("client-deposits")).to_contain_text(f"{deposit.reference} 300.00 EUR Card — Credited")
    shot(page, "staff-client-from-client-area")
