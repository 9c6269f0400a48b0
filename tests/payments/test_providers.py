"""The PSP behind a channel is the adapter the PAYMENT_PROVIDERS setting names: its name is what the
back office stores and where its callbacks arrive, its scheme checks their signatures, and the
payouts and refunds of that channel go to it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.roles import Role
from payments import errors
from payments.models import AccountKind, DepositStatus, InboundEvent, SettlementLine
from payments.providers import get_provider
from payments.services.deposits import deposit_initiate, deposit_refund, deposit_refund_send
from payments.services.ledger import balance_of, house_account, ledger_verify
from payments.services.reconciliation import settlement_import
from payments.tasks import inbound_events_drain_task
from sim import simpay
from tests.factories import approved_client, staff

pytestmark = pytest.mark.django_db
CALLS: list[tuple[str, dict[str, Any]]] = []


class OtherPay(simpay.SimPay):
    """Another card PSP (SimPay's machinery under another name and header), recording its calls."""

    name = "otherpay"
    signature_header = "OtherPay-Signature"

    def refund_create(self, **kwargs: Any) -> str:
        CALLS.append(("refund_create", kwargs))
        return super().refund_create(**kwargs)


OTHERPAY = override_settings(PAYMENT_PROVIDERS={"card": f"{__name__}.OtherPay"})


@OTHERPAY
def test_good_the_card_channel_is_the_provider_the_setting_names() -> None:
    CALLS.clear()
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="80.00", currency="EUR")
    delivery = simpay.signed(
        simpay.checkout_pay(order_reference=deposit.reference, amount=Decimal("80.00"), currency="EUR", cardholder="X")
    )
    http = HttpClient()
    refused = http.post(  # SimPay is not configured: its path answers nothing and stores nothing
        "/webhooks/simpay/",
        data=delivery.body,
        content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=delivery.signature,
    )
    assert (refused.status_code, refused.json()) == (404, {"error": errors.PROVIDER_UNKNOWN.format(provider="simpay")})
    unsigned = http.post(  # the signature is where OtherPay's adapter says, or missing
        "/webhooks/otherpay/",
        data=delivery.body,
        content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=delivery.signature,
    )
    assert (unsigned.status_code, unsigned.json()) == (400, {"error": errors.SIGNATURE_MISSING})
    assert not InboundEvent.objects.exists()

    response = http.post(
        "/webhooks/otherpay/",
        data=delivery.body,
        content_type="application/json",
        HTTP_OTHERPAY_SIGNATURE=delivery.signature,
    )
    assert response.status_code == 200
    assert InboundEvent.objects.get().provider == "otherpay"
    assert inbound_events_drain_task() == 1  # what the worker runs (WEBHOOK_APPLY=queued, the default)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.REVIEW  # "X" is not the account holder: held, not credited
    held = AuditEvent.objects.get(subject_id=str(deposit.pk), action=AuditAction.DEPOSIT_HELD)
    assert held.actor_label == "system:webhook:otherpay"
    clearing = house_account(AccountKind.PSP_CLEARING, "EUR", ref="otherpay")
    assert clearing.code == "psp_clearing:otherpay:EUR" and balance_of(clearing).ledger == Decimal("80.00")
    report = f"batch_id,psp_reference,kind,gross,fee,currency,settled_on\nB1,{deposit.external_id},payment,80,1,eur,2026-01-05\n"
    assert settlement_import(data=report.encode(), actor=staff(Role.FINANCE)) == {"lines": 1, "matched": 1, "breaks": 0}
    assert SettlementLine.objects.values_list("provider", "currency").get() == ("otherpay", "EUR")

    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="not theirs")
    refund_id = deposit_refund_send(deposit_id=deposit.pk)
    assert refund_id.startswith("re_")
    assert CALLS == [
        (
            "refund_create",
            {
                "idempotency_key": f"deposit:{deposit.pk}:refund",
                "payment_id": deposit.external_id,
                "amount": Decimal("80.00"),
                "currency": "EUR",
            },
        )
    ]
    assert ledger_verify().ok


@override_settings(PAYMENT_PROVIDERS={"card": ""})
def test_bad_a_channel_without_a_provider_says_so() -> None:
    with pytest.raises(LookupError, match="PAYMENT_PROVIDERS: no provider configured for the card channel"):
        get_provider("card")
