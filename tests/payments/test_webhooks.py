"""SimPay callbacks: verified, stored before processing, deduplicated, exactly one effect."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient

from audit.models import SecurityEvent
from ops.models import WorkItem
from ops.roles import Role
from payments import errors
from payments.models import Deposit, DepositStatus, InboundEvent
from payments.services.deposits import deposit_initiate, deposit_refund, deposit_release
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from sim import simpay
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db
URL = "/webhooks/simpay/"


@pytest.fixture(autouse=True)
def _apply_inline(settings: Any) -> None:
    """These tests read each callback's outcome in the answer to the PSP: WEBHOOK_APPLY=inline. The
    default (queued) is tested in test_inbox.py."""
    settings.WEBHOOK_APPLY = "inline"


def _post(http: HttpClient, delivery: simpay.Delivery) -> tuple[int, dict]:
    response = http.post(
        URL, data=delivery.body, content_type="application/json", HTTP_SIMPAY_SIGNATURE=delivery.signature
    )
    return response.status_code, response.json()


def test_good_signed_callback_credits_the_wallet_and_notifies() -> None:
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="250.00", currency="EUR")
    evt = simpay.checkout_pay(
        order_reference=deposit.reference, amount=Decimal("250.00"), currency="EUR", cardholder=c.display_name
    )
    status, body = _post(HttpClient(), simpay.signed(evt))
    assert status == 200 and body["status"] == "processed"
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("250.00")
    assert ledger_verify().ok
    from audit.models import AuditEvent

    event = AuditEvent.objects.get(action="payments.deposit_credited", subject_id=str(deposit.pk))
    assert event.actor_label == "system:webhook:simpay"


def test_repeated_and_out_of_order_callbacks_have_exactly_one_effect() -> None:
    c = approved_client(provision=False)
    http = HttpClient()
    deposit = deposit_initiate(client=c, channel="card", amount="100.00", currency="EUR")
    ok = simpay.checkout_pay(
        order_reference=deposit.reference, amount=Decimal("100.00"), currency="EUR", cardholder=c.display_name
    )
    late_fail = simpay.event(
        "payment.failed", ok["data"]["object"] | {"failure_code": "card_declined"}, created=ok["created"] - 60
    )
    assert _post(http, simpay.signed(ok))[1]["duplicate"] is False
    status, body = _post(http, simpay.signed(ok))  # the same event again
    assert status == 200 and body["duplicate"] is True
    status, body = _post(http, simpay.signed(late_fail))  # an older event, arriving late
    assert status == 200 and body["status"] == "ignored"
    assert InboundEvent.objects.get(event_id=ok["id"]).deliveries == 2
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("100.00")
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: simpay.Delivery(d.body, d.signature.replace("v1=", "v1=00")), errors.SIGNATURE_BAD),
        (lambda d: simpay.Delivery(d.body + b" ", d.signature), errors.SIGNATURE_BAD),
        (lambda d: simpay.Delivery(d.body, ""), errors.SIGNATURE_MISSING),
        (
            lambda d: simpay.signed(json.loads(d.body), timestamp=int(time.time()) - 301),
            errors.SIGNATURE_STALE,
        ),
        (lambda d: simpay.signed(json.loads(d.body), secret="whsec_someone_else"), errors.SIGNATURE_BAD),
    ],
)
def test_bad_signature_or_stale_timestamp_is_refused_and_stored_nowhere(mutate: Any, message: str) -> None:
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="10.00", currency="EUR")
    evt = simpay.checkout_pay(
        order_reference=deposit.reference, amount=Decimal("10.00"), currency="EUR", cardholder=c.display_name
    )
    status, body = _post(HttpClient(), mutate(simpay.signed(evt)))
    assert status == 400 and body["error"] == message
    assert InboundEvent.objects.count() == 0
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.INITIATED
    logged = SecurityEvent.objects.get()  # one line in the security log
    assert (logged.kind, logged.reason, logged.status, logged.path) == ("webhook_rejected", message, 400, URL)


def test_failed_payment_records_the_code_and_tells_the_client() -> None:
    from ops.models import Interaction

    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="10.00", currency="EUR")
    evt = simpay.checkout_pay(
        order_reference=deposit.reference, amount=Decimal("10.00"), currency="EUR", cardholder=c.display_name,
        succeed=False, failure_code="insufficient_funds",
    )  # fmt: skip
    _post(HttpClient(), simpay.signed(evt))
    deposit.refresh_from_db()
    assert (deposit.status, deposit.failure_code) == (DepositStatus.FAILED, "insufficient_funds")
    assert Interaction.objects.filter(template="payments.deposit_failed", recipient=c.email).exists()
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == 0


def test_third_party_payer_goes_to_suspense_and_the_exception_queue() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "500.00", cardholder="Boris Someoneelse")
    assert deposit.status == DepositStatus.REVIEW
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == 0
    item = WorkItem.objects.get(queue__code="deposit_exception", subject_id=str(deposit.pk))
    assert "does not match" in item.title
    finance = staff(Role.FINANCE)
    deposit_release(
        deposit_id=deposit.pk, actor=finance, reason="Card belongs to the client's spouse; documents on file"
    )
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("500.00")
    item.refresh_from_db()
    assert item.status == "resolved"
    assert ledger_verify().ok


def test_held_deposit_can_be_returned_instead() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "75.00", cardholder="Totally Different")
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="not the client")
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.REFUNDED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == 0
    assert ledger_verify().ok


def test_bad_support_cannot_release_held_deposits() -> None:
    from payments.errors import PaymentError

    c = approved_client(provision=False)
    deposit = card_deposit(c, "75.00", cardholder="Totally Different")
    with pytest.raises(PaymentError) as exc:
        deposit_release(deposit_id=deposit.pk, actor=staff(Role.SUPPORT), reason="x")
    assert exc.value.status == 403
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.REVIEW


def test_bad_deposit_for_a_client_not_yet_approved_is_refused() -> None:
    from payments.errors import PaymentError
    from tests.factories import client

    with pytest.raises(PaymentError, match="may not deposit"):
        deposit_initiate(client=client(), channel="card", amount="10.00", currency="EUR")
    assert Deposit.objects.count() == 0


@pytest.mark.parametrize("created", [10**20, 1e20, 253_402_300_800, -(10**12), "yesterday", True])
def test_bad_a_signed_callback_with_an_impossible_created_is_a_400_naming_it(created: Any) -> None:
    """A correctly signed callback whose ``created`` is no Unix time gets a 400 naming the field
    (not a 500 the PSP would retry for ever); nothing is stored or applied."""
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="10.00", currency="EUR")
    evt = simpay.checkout_pay(
        order_reference=deposit.reference, amount=Decimal("10.00"), currency="EUR", cardholder=c.display_name
    )
    status, body = _post(HttpClient(), simpay.signed(evt | {"created": created}))
    assert status == 400 and "created" in body["error"]
    assert InboundEvent.objects.count() == 0
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.INITIATED
