"""A card deposit end to end through the real HTTP path: started (routed to a PSP, intent opened),
the payer submits the simulated PSP's checkout form, the PSP signs its callback and POSTs it over
HTTP to the back office's /webhooks/<provider>/ on a live server, and the wallet is credited."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client as HttpClient

from payments.models import Deposit, DepositStatus, InboundEvent, RoutingRule
from payments.services.deposit_start import deposit_start_card
from payments.services.ledger import balance_of, ledger_verify, psp_clearing_account, wallet_for
from sim import simpay
from sim.models import SimPspCallback
from sim.views import CARD_INVALID
from tests.conftest import wait_for
from tests.factories import approved_client

pytestmark = pytest.mark.django_db(transaction=True)
BACK = "https://broker.example/deposit/done"


@pytest.fixture
def psps(settings: Any, live_server: Any) -> Any:
    """The simulated PSPs serve checkouts on the live server and call it back there."""
    settings.SIM_PSP_PUBLIC_URL = live_server.url
    settings.SIMPAY_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay/"
    settings.SIMPAY2_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay2/"
    return settings


def pay(url: str, *, card: str, name: str) -> Any:
    """The payer opens the checkout page and submits its form."""
    payer = HttpClient(enforce_csrf_checks=True)
    path = urlsplit(url).path
    page = payer.get(path)
    assert page.status_code == 200
    token = payer.cookies["csrftoken"].value
    return payer.post(path, {"cardholder": name, "card_number": card, "csrfmiddlewaretoken": token})


def test_good_paid_checkout_calls_back_over_http_and_credits_the_wallet(psps: Any) -> None:
    psps.WEBHOOK_APPLY = "inline"
    RoutingRule.objects.create(priority=10, currency="EUR", provider="simpay2")
    c = approved_client(provision=False)
    deposit, url = deposit_start_card(client=c, amount="250.00", currency="EUR", return_url=BACK, idempotency_key="k")
    assert url.startswith(f"{psps.SIM_PSP_PUBLIC_URL}/sim/simpay2/checkout/")

    response = pay(url, card="4242 4242 4242 4242", name=c.display_name)
    assert response.status_code == 302
    assert response["Location"] == f"{BACK}?order={deposit.reference}&status=succeeded"  # back to the merchant
    callback = SimPspCallback.objects.get()
    assert (callback.last_status, callback.attempts, callback.delivered_at is not None) == (200, 1, True)
    stored = InboundEvent.objects.get()
    assert (stored.provider, stored.event_type, stored.status) == ("simpay2", "payment.succeeded", "processed")
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.CREDITED
    assert deposit.external_id == deposit.psp_intent_id
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("250.00")
    assert balance_of(psp_clearing_account("EUR", "simpay2")).ledger == Decimal("250.00")  # the PSP it went through
    assert ledger_verify().ok

    path = urlsplit(url).path  # the form sent again: nothing is charged twice
    again = HttpClient().post(path, {"cardholder": c.display_name, "card_number": "4242424242424242"})
    assert again.status_code == 200 and "This payment is succeeded" in again.content.decode()
    assert SimPspCallback.objects.count() == 1


def test_good_declined_and_3ds_cards_fail_the_deposit(psps: Any) -> None:
    psps.WEBHOOK_APPLY = "inline"
    c = approved_client(provision=False)
    for key, card, code in [
        ("d", "4000000000000002", "card_declined"),
        ("3ds", "4000000000003220", "authentication_failed"),
    ]:
        deposit, url = deposit_start_card(
            client=c, amount="20.00", currency="EUR", return_url=BACK, idempotency_key=key
        )
        response = pay(url, card=card, name=c.display_name)
        assert response["Location"].endswith("status=failed")
        deposit.refresh_from_db()
        assert (deposit.status, deposit.failure_code) == (DepositStatus.FAILED, code)
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("0")


def test_bad_card_number_is_a_form_error_and_nothing_is_paid(psps: Any) -> None:
    c = approved_client(provision=False)
    deposit, url = deposit_start_card(client=c, amount="20.00", currency="EUR", return_url=BACK, idempotency_key="k")
    response = pay(url, card="4242 4242 4242 4241", name=c.display_name)
    assert response.status_code == 400
    assert CARD_INVALID in response.content.decode()
    assert not SimPspCallback.objects.exists()
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.INITIATED


def test_good_a_callback_the_back_office_did_not_take_is_sent_again(psps: Any, live_server: Any) -> None:
    """The back office is unreachable when the payer pays: the PSP keeps the callback owed and sends
    it again (beat, in the demo) once it is back; the deposit is credited once."""
    psps.WEBHOOK_APPLY = "inline"
    psps.SIMPAY_WEBHOOK_URL = "http://127.0.0.1:9/webhooks/simpay/"  # nothing listens there
    c = approved_client(provision=False)
    deposit, url = deposit_start_card(client=c, amount="40.00", currency="EUR", return_url=BACK, idempotency_key="k")
    assert pay(url, card="4242424242424242", name=c.display_name).status_code == 302
    owed = SimPspCallback.objects.get()
    assert (owed.attempts, owed.delivered_at) == (1, None)
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.INITIATED

    psps.SIMPAY_WEBHOOK_URL = f"{live_server.url}/webhooks/simpay/"  # back up
    assert simpay.callbacks_deliver() == 1
    assert simpay.callbacks_deliver() == 0  # taken: not sent again
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("40.00")


@pytest.mark.worker
def test_good_queued_callback_is_applied_by_the_worker(psps: Any, celery_worker_process: subprocess.Popen[str]) -> None:
    """WEBHOOK_APPLY=queued (the default): the webhook stores and answers; a real worker credits."""
    c = approved_client(provision=False)
    deposit, url = deposit_start_card(client=c, amount="60.00", currency="EUR", return_url=BACK, idempotency_key="k")
    assert pay(url, card="5555555555554444", name=c.display_name).status_code == 302
    assert SimPspCallback.objects.get().last_status == 200
    wait_for(lambda: Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED)
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("60.00")
