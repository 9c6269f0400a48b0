"""SimPay: a simulated card PSP for the demo and the tests — the adapter the back office calls
(``SimPay``, a ``payments.providers.PaymentProvider``), and the PSP's own side: payment intents and
their checkout pages (``sim.views``), payout outcomes, and callbacks it signs and delivers over HTTP
like a real PSP. ``SimPay2`` is a second PSP of the same make with its own name, signature header,
secret and callback path, so that PSP routing has a real choice.

Callbacks are signed like Stripe's webhooks: header ``SimPay-Signature: t=<unix>,v1=<hex>``
where v1 = HMAC-SHA256(secret, "<t>.<raw body>"). The receiver recomputes it, compares in
constant time, and refuses timestamps outside the tolerance window (replays).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from payments import errors
from payments.currencies import minor_units
from payments.providers import PaymentIntent, ProviderEvent, PspError, SettlementItem, SignatureError
from sim.models import SimPspCallback, SimPspDispute, SimPspFault, SimPspPayment, SimPspPayout, SimPspRefund

PROVIDER = "simpay"
SIGNATURE_HEADER = "SimPay-Signature"
SETTLEMENT_COLUMNS = ["batch_id", "psp_reference", "kind", "gross", "fee", "currency", "settled_on"]


def sign(payload: bytes, *, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(payload: bytes, header: str | None, *, secret: str, tolerance: int, now: float | None = None) -> int:
    """Return the signed timestamp, or raise SignatureError saying what is wrong."""
    if not header:
        raise SignatureError(errors.SIGNATURE_MISSING)
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(errors.SIGNATURE_MISSING)
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise SignatureError(errors.SIGNATURE_STALE)
    expected = sign(payload, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    # every candidate is compared (several v1 values while a secret is being rotated)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError(errors.SIGNATURE_BAD)
    return timestamp


# --- the adapter the back office calls -----------------------------------------------------------


def _created(value: Any) -> datetime | None:
    """The event's ``created`` (whole Unix seconds, like Stripe's), or None when absent. Anything
    else (a float, 1e20, a year past 9999) is a bad payload: ValueError, a 400 naming the field."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("created is not a whole number of Unix seconds")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("created is out of range") from None


class SimPay:
    """The card channel's provider in the demo and the tests (``PAYMENT_PROVIDERS["card"]``)."""

    name = PROVIDER
    signature_header = SIGNATURE_HEADER
    # the settings holding its signing secret and the merchant's callback URL
    secret_setting = "SIMPAY_WEBHOOK_SECRET"  # noqa: S105 - the name of the setting, not a secret
    url_setting = "SIMPAY_WEBHOOK_URL"

    @classmethod
    def webhook_secret(cls) -> str:
        return str(getattr(settings, cls.secret_setting))

    @classmethod
    def webhook_url(cls) -> str:
        return str(getattr(settings, cls.url_setting))

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        verify(body, signature, secret=self.webhook_secret(), tolerance=settings.WEBHOOK_TOLERANCE_SECONDS)

    def payment_intent_create(
        self,
        *,
        idempotency_key: str,
        order_reference: str,
        amount: Decimal,
        currency: str,
        return_url: str,
        customer_name: str,
        customer_email: str,
    ) -> PaymentIntent:
        """Open a checkout for the order; the same key returns the same intent. Refused (PspError)
        when a fault is armed, or when the order already has a payment under another key."""
        existing = SimPspPayment.objects.filter(idempotency_key=idempotency_key, psp=self.name).first()
        if existing is not None:
            return PaymentIntent(intent_id=existing.payment_id, checkout_url=checkout_url(existing))
        _fault("payment_intent")
        with transaction.atomic():
            payment, created = SimPspPayment.objects.get_or_create(
                order_reference=order_reference,
                defaults={
                    "payment_id": f"pay_{secrets.token_hex(8)}",
                    "psp": self.name,
                    "idempotency_key": idempotency_key,
                    "amount": amount,
                    "currency": currency,
                    "return_url": return_url,
                    "customer_name": customer_name[:200],
                },
            )
            if not created and payment.idempotency_key != idempotency_key:
                raise PspError(f"{self.name}: order {order_reference} already has a payment")
        return PaymentIntent(intent_id=payment.payment_id, checkout_url=checkout_url(payment))

    def webhook_parse(self, body: bytes) -> ProviderEvent:
        """SimPay's callbacks are already in the back office's terms (``ProviderEvent.payload``)."""
        evt = json.loads(body)
        event_id, event_type, obj = str(evt["id"]), str(evt["type"]), evt["data"]["object"]
        if not isinstance(obj, dict) or not event_id:
            raise ValueError("data.object is not an object")
        return ProviderEvent(
            event_id=event_id,
            event_type=event_type,
            object_id=str(obj.get("id", ""))[:120],
            created=_created(evt.get("created")),
            payload=evt,
        )

    def payout_create(self, *, idempotency_key: str, amount: Decimal, currency: str, destination: str) -> str:
        """Ask the PSP to pay out; returns its payout id (the voucher). The same key returns the same
        payout, so a retry after a lost answer pays nothing twice."""
        existing = SimPspPayout.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing.payout_id
        _fault("payout")
        with transaction.atomic():
            existing = SimPspPayout.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing.payout_id
            decline = (
                SimPspFault.objects.select_for_update()
                .filter(operation__in=["payout", "*"], remaining__gt=0, mode="decline")
                .order_by("id")
                .first()
            )
            status = "pending"
            if decline is not None:
                SimPspFault.objects.filter(pk=decline.pk).update(remaining=F("remaining") - 1)
                status = "will_fail"
            payout = SimPspPayout.objects.create(
                payout_id=f"po_{secrets.token_hex(8)}",
                idempotency_key=idempotency_key,
                amount=amount,
                currency=currency,
                destination=destination,
                status=status,
            )
            return payout.payout_id

    def refund_create(self, *, idempotency_key: str, payment_id: str, amount: Decimal, currency: str) -> str:
        """Ask the PSP to give (part of) a card payment back to the card; returns its refund id. The
        same key returns the same refund. Refused (PspError) for an unknown or unpaid payment, another
        currency, or more than is left of the payment."""
        existing = SimPspRefund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing.refund_id
        _fault("refund")
        with transaction.atomic():
            # The payment's lock first, then the key: a second call with the same key waits for the
            # first and returns its refund instead of finding the payment refunded already.
            payment = SimPspPayment.objects.select_for_update().filter(payment_id=payment_id).first()
            existing = SimPspRefund.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing.refund_id
            if payment is None or payment.status not in ("succeeded", "partial"):
                raise PspError(f"SimPay: payment {payment_id} cannot be refunded (unknown or not paid)")
            if currency != payment.currency:
                raise PspError(f"SimPay: payment {payment_id} is in {payment.currency}, not {currency}")
            refunded = payment.refunds.aggregate(total=Sum("amount"))["total"] or Decimal("0")
            if amount <= 0 or amount > payment.amount - refunded:
                raise PspError(f"SimPay: {amount} {currency} is more than is left of payment {payment_id}")
            refund = SimPspRefund.objects.create(
                refund_id=f"re_{secrets.token_hex(8)}",
                idempotency_key=idempotency_key,
                payment=payment,
                amount=amount,
                currency=currency,
            )
            payment.status = "refunded" if refunded + amount == payment.amount else "partial"
            payment.save(update_fields=["status"])
            return refund.refund_id

    def dispute_respond(self, *, idempotency_key: str, dispute_id: str, evidence: dict[str, Any]) -> str:
        """Take the merchant's response to a dispute (its evidence, kept on the dispute); returns
        the submission's id. The same key returns the same submission. Refused (PspError) for an
        unknown dispute, one already answered under another key or decided, or after its deadline."""
        _fault("dispute_respond")
        with transaction.atomic():
            dispute = SimPspDispute.objects.select_for_update().filter(dispute_id=dispute_id, psp=self.name).first()
            if dispute is None:
                raise PspError(f"{self.name}: no dispute {dispute_id}")
            if dispute.response_key == idempotency_key and dispute.response_id:
                return dispute.response_id
            if dispute.status != "needs_response":
                raise PspError(f"{self.name}: dispute {dispute_id} is {dispute.status.replace('_', ' ')}")
            if timezone.now() > dispute.due_by:
                raise PspError(
                    f"{self.name}: the response to dispute {dispute_id} was due by {dispute.due_by:%Y-%m-%d}"
                )
            dispute.response_key = idempotency_key
            dispute.response_id = f"dpr_{secrets.token_hex(8)}"
            dispute.evidence = evidence
            dispute.status = "responded"
            dispute.save(update_fields=["response_key", "response_id", "evidence", "status"])
            return dispute.response_id

    def settlement_parse(self, data: bytes) -> list[SettlementItem]:
        """SimPay's settlement report: CSV with a header row naming ``SETTLEMENT_COLUMNS``."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError("the settlement report is not UTF-8 text.") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in SETTLEMENT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"the settlement report has no column(s) {', '.join(missing)}.")
        items = []
        for n, row in enumerate(reader, start=2):
            try:
                items.append(
                    SettlementItem(
                        batch_id=row["batch_id"].strip(),
                        psp_reference=row["psp_reference"].strip(),
                        kind=row["kind"].strip(),
                        gross=Decimal(row["gross"]),
                        fee=Decimal(row["fee"] or "0"),
                        currency=row["currency"].strip().upper(),
                        settled_on=date.fromisoformat(row["settled_on"].strip()),
                    )
                )
            except (InvalidOperation, ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"line {n}: {exc}") from None
        return items


class SimPay2(SimPay):
    """A second simulated card PSP: the same make, its own name, header, secret and callback path
    (``/webhooks/simpay2/``)."""

    name = "simpay2"
    signature_header = "SimPay2-Signature"
    secret_setting = "SIMPAY2_WEBHOOK_SECRET"  # noqa: S105 - the name of the setting
    url_setting = "SIMPAY2_WEBHOOK_URL"


SIM_PSPS: dict[str, type[SimPay]] = {SimPay.name: SimPay, SimPay2.name: SimPay2}


def checkout_url(payment: SimPspPayment) -> str:
    """Where the payer pays the intent: the PSP's own checkout page (served by ``sim.views``)."""
    return f"{settings.SIM_PSP_PUBLIC_URL.rstrip('/')}/sim/{payment.psp}/checkout/{payment.payment_id}/"


def _fault(operation: str) -> None:
    """Refuse the call when a "fail" fault is armed for this operation (the tests arm them). The
    fault is used up in a transaction of its own, which the refusal does not roll back."""
    with transaction.atomic():
        fault = (
            SimPspFault.objects.select_for_update()
            .filter(operation__in=[operation, "*"], remaining__gt=0, mode="fail")
            .order_by("id")
            .first()
        )
        if fault is None:
            return
        SimPspFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
    raise PspError(f"SimPay: {operation} refused (injected fault)")


# --- the simulated PSP's side: checkouts, outcomes, callbacks -----------------------------------


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None) -> dict:
    return {
        "id": event_id or f"evt_{secrets.token_hex(10)}",
        "type": event_type,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def signed(
    evt: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None, psp: str = PROVIDER
) -> Delivery:
    body = json.dumps(evt, separators=(",", ":")).encode()
    return Delivery(
        body,
        sign(body, secret=secret or SIM_PSPS[psp].webhook_secret(), timestamp=timestamp or int(time.time())),
    )


def deliver(evt: dict[str, Any], *, url: str | None = None, psp: str = PROVIDER) -> int:
    """POST the signed event to the back office's webhook endpoint, as the PSP would."""
    adapter = SIM_PSPS[psp]
    delivery = signed(evt, psp=psp)
    request = urllib.request.Request(  # noqa: S310 - the configured endpoint (http on loopback in the demo)
        url or adapter.webhook_url(),
        data=delivery.body,
        headers={"Content-Type": "application/json", adapter.signature_header: delivery.signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def checkout_pay(
    *,
    order_reference: str,
    amount: Decimal,
    currency: str,
    cardholder: str,
    card_last4: str = "4242",
    succeed: bool = True,
    failure_code: str = "card_declined",
) -> dict[str, Any]:
    """The client pays (or fails to pay) the checkout for one of our deposit references; returns
    the callback event the PSP sends for it."""
    payment, _ = SimPspPayment.objects.get_or_create(
        order_reference=order_reference,
        defaults={
            "payment_id": f"pay_{secrets.token_hex(8)}",
            "amount": amount,
            "currency": currency,
            "cardholder": cardholder,
            "card_last4": card_last4,
        },
    )
    payment.status = "succeeded" if succeed else "failed"
    payment.save(update_fields=["status"])
    obj: dict[str, Any] = {
        "id": payment.payment_id,
        "order_reference": order_reference,
        "amount": str(amount),
        "currency": currency,
        "cardholder": cardholder,
        "card_last4": card_last4,
        "card_fingerprint": f"card_{card_last4}_{hashlib.sha256(cardholder.encode()).hexdigest()[:8]}",
    }
    if not succeed:
        obj |= {"failure_code": failure_code, "failure_message": failure_code.replace("_", " ")}
    return event("payment.succeeded" if succeed else "payment.failed", obj)


def payout_outcome_event(payout: SimPspPayout) -> dict[str, Any]:
    failed = payout.status == "will_fail"
    obj: dict[str, Any] = {
        "id": payout.payout_id,
        "idempotency_key": payout.idempotency_key,
        "amount": str(payout.amount),
        "currency": payout.currency,
    }
    if failed:
        obj |= {"failure_code": "account_closed", "failure_message": "the receiving account is closed"}
    return event("payout.failed" if failed else "payout.paid", obj)


def payouts_settle(*, url: str | None = None) -> int:
    """Settle the payouts still pending on the PSP side and send their callbacks (a beat job in
    the demo stands in for the PSP's own processing)."""
    sent = 0
    for payout in SimPspPayout.objects.filter(status__in=["pending", "will_fail"]).order_by("id")[:100]:
        evt = payout_outcome_event(payout)
        if deliver(evt, url=url) < 300:
            SimPspPayout.objects.filter(pk=payout.pk).update(status=evt["type"].split(".")[1])
            sent += 1
    return sent


# --- the checkout page's work: the payer pays an intent, the PSP owes the merchant a callback ------

# Test cards, like Stripe's: what paying with each does. Any other number is refused by the form.
TEST_CARDS: dict[str, str] = {
    "4242424242424242": "",  # succeeds
    "5555555555554444": "",  # succeeds (Mastercard)
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000003220": "authentication_failed",  # 3-D Secure required; the payer fails the challenge
    "4000008400001629": "authentication_failed",
}
FAILURE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "authentication_failed": "3-D Secure authentication failed.",
}


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    odd, even = digits[-1::-2], digits[-2::-2]
    return len(digits) >= 12 and (sum(odd) + sum(sum(divmod(2 * d, 10)) for d in even)) % 10 == 0


class CheckoutClosed(Exception):
    """The intent was paid (or failed) already: nothing is charged twice."""


@transaction.atomic
def checkout_complete(*, payment_id: str, cardholder: str, card_number: str) -> SimPspCallback:
    """The payer submits the checkout with a test card: the payment succeeds or fails, and the
    callback saying so is written (the caller sends it after commit: ``callbacks_deliver``)."""
    payment = SimPspPayment.objects.select_for_update().get(payment_id=payment_id)
    if payment.status != "pending":
        raise CheckoutClosed(payment.status)
    failure = TEST_CARDS[card_number]
    payment.status = "failed" if failure else "succeeded"
    payment.cardholder = cardholder[:200]
    payment.card_last4 = card_number[-4:]
    payment.save(update_fields=["status", "cardholder", "card_last4"])
    obj: dict[str, Any] = {
        "id": payment.payment_id,
        "order_reference": payment.order_reference,
        "amount": str(payment.amount.quantize(Decimal(1).scaleb(-minor_units(payment.currency)))),
        "currency": payment.currency,
        "cardholder": payment.cardholder,
        "card_last4": payment.card_last4,
        "card_fingerprint": f"card_{payment.card_last4}_{hashlib.sha256(card_number.encode()).hexdigest()[:8]}",
    }
    if failure:
        obj |= {"failure_code": failure, "failure_message": FAILURE_MESSAGES[failure]}
    evt = event("payment.failed" if failure else "payment.succeeded", obj)
    return SimPspCallback.objects.create(payment=payment, psp=payment.psp, event=evt)


def callbacks_deliver(*, ids: list[int] | None = None) -> int:
    """Send the callbacks still owed (these ``ids``, or all), each signed by its PSP, over HTTP to
    the merchant's endpoint; one the merchant did not take (not 2xx, or unreachable) stays owed
    for the next run. Returns how many were taken."""
    owed = SimPspCallback.objects.filter(delivered_at__isnull=True).order_by("id")
    if ids is not None:
        owed = owed.filter(pk__in=ids)
    taken = 0
    for callback in owed[:200]:
        try:
            status = deliver(callback.event, psp=callback.psp)
        except OSError:  # the merchant is unreachable: owed still
            status = 0
        delivered = timezone.now() if 200 <= status < 300 else None
        SimPspCallback.objects.filter(pk=callback.pk).update(
            attempts=F("attempts") + 1, last_status=status or None, delivered_at=delivered
        )
        taken += delivered is not None
    return taken


# --- disputes: the card scheme takes a payment back; the PSP tells the merchant, who may answer ---


@transaction.atomic
def dispute_open(
    *,
    payment_id: str,
    amount: Decimal | None = None,
    reason_code: str = "10.4",
    reason: str = "fraudulent",
    due_days: int = 7,
) -> SimPspCallback:
    """The cardholder's bank disputes a payment (all of it unless ``amount``): the dispute is
    opened and its ``dispute.opened`` callback written (sent after commit: ``callbacks_deliver``)."""
    payment = SimPspPayment.objects.select_for_update().get(payment_id=payment_id)
    dispute = SimPspDispute.objects.create(
        dispute_id=f"dp_{secrets.token_hex(8)}",
        payment=payment,
        psp=payment.psp,
        amount=amount if amount is not None else payment.amount,
        currency=payment.currency,
        reason_code=reason_code,
        reason=reason,
        due_by=timezone.now() + timedelta(days=due_days),
    )
    return SimPspCallback.objects.create(payment=payment, psp=payment.psp, event=dispute_event(dispute, "opened"))


@transaction.atomic
def dispute_decide(*, dispute_id: str, won: bool) -> SimPspCallback:
    """The scheme decides the dispute for the merchant (won) or the cardholder (lost); the
    ``dispute.closed`` callback is written."""
    dispute = SimPspDispute.objects.select_for_update().get(dispute_id=dispute_id)
    dispute.status = "won" if won else "lost"
    dispute.save(update_fields=["status"])
    return SimPspCallback.objects.create(
        payment=dispute.payment, psp=dispute.psp, event=dispute_event(dispute, "closed")
    )


def dispute_event(dispute: SimPspDispute, what: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": dispute.dispute_id, "payment": dispute.payment.payment_id}
    if what == "opened":
        obj |= {
            "amount": str(dispute.amount.quantize(Decimal(1).scaleb(-minor_units(dispute.currency)))),
            "currency": dispute.currency,
            "reason_code": dispute.reason_code,
            "reason": dispute.reason,
            "network": "visa",  # the simulated scheme
            "evidence_due_by": int(dispute.due_by.timestamp()),
        }
    else:
        obj["status"] = dispute.status
    return event(f"dispute.{what}", obj)
