"""Services say what an outside message did in the domain's words (an Outcome); the inbox records
it as the stored event's status, and the webhook answers the PSP from the typed result."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.models import InboundEvent, WebhookStatus, Withdrawal, WithdrawalStatus
from payments.outcomes import Effect, Outcome
from payments.services.deposits import deposit_initiate
from payments.services.ledger import wallet_for
from payments.services.webhooks import CallbackResult, inbound_event_process, inbound_event_store
from payments.services.withdrawals import withdrawal_payout_result, withdrawal_request
from sim import simpay
from tests.factories import approved_client, card_deposit

pytestmark = pytest.mark.django_db


def _store(evt: dict) -> InboundEvent:
    delivery = simpay.signed(evt)
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    return stored


def test_good_payout_result_is_applied_once_then_has_no_effect() -> None:
    c = approved_client(provision=False)
    card = card_deposit(c, "500.00").payer_account
    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="100.00", method="card",
        destination=card, destination_name=c.display_name,
    )  # fmt: skip
    Withdrawal.objects.filter(pk=w.pk).update(status=WithdrawalStatus.PROCESSING)  # past approvals and payout
    first = withdrawal_payout_result(withdrawal_id=w.pk, paid=True, voucher="po_1", failure_code="")
    again = withdrawal_payout_result(withdrawal_id=w.pk, paid=False, voucher="po_1", failure_code="late")
    assert first == Outcome(Effect.APPLIED, f"withdrawal {w.reference} paid")
    assert again == Outcome(Effect.NO_EFFECT, f"withdrawal {w.reference} is already paid")


def test_good_callback_result_carries_the_stored_status_and_why() -> None:
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="40.00", currency="EUR")
    paid = simpay.checkout_pay(
        order_reference=deposit.reference, amount=Decimal("40.00"), currency="EUR", cardholder=c.display_name
    )
    stored = _store(paid)
    assert CallbackResult.of(stored) == CallbackResult(event_id=stored.pk, status=WebhookStatus.RECEIVED, detail="")
    result = inbound_event_process(event_pk=stored.pk)
    assert result == CallbackResult(
        event_id=stored.pk, status=WebhookStatus.PROCESSED, detail=f"deposit {deposit.reference} credited"
    )
    assert inbound_event_process(event_pk=stored.pk) == result  # processed once; asked again, the same answer
    unknown = _store(simpay.event("payment.succeeded", {"id": "pay_z", "order_reference": "D-0000000", "amount": "5"}))
    refused = inbound_event_process(event_pk=unknown.pk)
    assert refused.status == WebhookStatus.FAILED and "D-0000000" in refused.detail
