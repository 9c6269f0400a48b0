"""SimPay: a simulated card PSP for the demo and the tests — the adapter the back office calls
(``SimPay``, a ``payments.providers.PaymentProvider``), and the PSP's own side: checkouts, payout
outcomes, and callbacks it signs and delivers over HTTP like a real PSP.

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
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum

from payments import errors
from payments.providers import ProviderEvent, PspError, SettlementItem, SignatureError
from sim.models import SimPspFault, SimPspPayment, SimPspPayout, SimPspRefund

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

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        verify(body, signature, secret=settings.SIMPAY_WEBHOOK_SECRET, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS)

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


def signed(evt: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None) -> Delivery:
    body = json.dumps(evt, separators=(",", ":")).encode()
    return Delivery(
        body,
        sign(body, secret=secret or settings.SIMPAY_WEBHOOK_SECRET, timestamp=timestamp or int(time.time())),
    )


def deliver(evt: dict[str, Any], *, url: str | None = None) -> int:
    """POST the signed event to the back office's webhook endpoint, as the PSP would."""
    delivery = signed(evt)
    request = urllib.request.Request(  # noqa: S310 - the configured endpoint (http on loopback in the demo)
        url or settings.SIMPAY_WEBHOOK_URL,
        data=delivery.body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: delivery.signature},
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
