"""PSP callbacks: verified, stored (deduplicated by event id), then processed idempotently.

A bad signature or a stale timestamp is refused before anything is stored: it goes to the
security log only. A repeated delivery finds the stored event and has no second effect; an
event that arrives after a later one for the same payment finds the payment already final.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ops.models import RiskLevel
from ops.services.work_items import work_item_open
from payments import errors, simpay
from payments.errors import PaymentError
from payments.models import Deposit, DepositStatus, InboundEvent, WebhookStatus, Withdrawal
from payments.services.deposits import deposit_fail, deposit_receive
from payments.services.ledger import psp_clearing_account

security_log = logging.getLogger("backoffice.security")


class WebhookRejected(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def inbound_event_store(
    *, provider: str, body: bytes, signature: str | None, ip: str = ""
) -> tuple[InboundEvent, bool]:
    """Verify and store; returns (event, is_new). Raises WebhookRejected (nothing stored)."""
    try:
        simpay.verify(
            body, signature, secret=settings.SIMPAY_WEBHOOK_SECRET, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS
        )
    except simpay.SignatureError as exc:
        security_log.warning("webhook rejected: provider=%s ip=%s reason=%s", provider, ip, exc)
        raise WebhookRejected(str(exc), status=400) from None
    try:
        evt = json.loads(body)
        event_id, event_type, obj = str(evt["id"]), str(evt["type"]), evt["data"]["object"]
        if not isinstance(obj, dict) or not event_id:
            raise ValueError("data.object is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        security_log.warning("webhook rejected: provider=%s ip=%s reason=bad payload (%s)", provider, ip, exc)
        raise WebhookRejected(errors.PAYLOAD_INVALID.format(why=exc), status=400) from None
    created = evt.get("created")
    try:
        with transaction.atomic():
            stored = InboundEvent.objects.create(
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                object_id=str(obj.get("id", ""))[:120],
                payload=evt,
                event_created=datetime.fromtimestamp(int(created), tz=UTC) if isinstance(created, int) else None,
            )
        return stored, True
    except IntegrityError:
        with transaction.atomic():  # a repeated delivery: counted (in the event's history), not applied again
            repeated = InboundEvent.objects.select_for_update().get(provider=provider, event_id=event_id)
            repeated.deliveries += 1
            repeated.save(update_fields=["deliveries"])
        return repeated, False


def _amount(obj: dict[str, Any]) -> Decimal:
    try:
        return Decimal(str(obj["amount"]))
    except (KeyError, InvalidOperation):
        raise PaymentError(errors.PAYLOAD_INVALID.format(why="amount missing or not a number")) from None


@transaction.atomic(durable=True)
def inbound_event_process(*, event_pk: int) -> InboundEvent:
    """Apply a stored event once. Safe to call again: a processed event is left as it is."""
    stored = InboundEvent.objects.select_for_update().get(pk=event_pk)
    if stored.status != WebhookStatus.RECEIVED:
        return stored
    obj = stored.payload["data"]["object"]
    try:
        with transaction.atomic():
            status, result = _apply(stored.event_type, obj)
    except PaymentError as exc:
        status, result = WebhookStatus.FAILED, str(exc)
        work_item_open(
            queue="reconciliation_break",
            subject=stored,
            title=f"PSP callback {stored.event_type} {stored.object_id} could not be applied"[:200],
            risk_level=RiskLevel.HIGH,
            details={"event": stored.event_id, "error": str(exc)},
        )
    stored.status = status
    stored.result = result[:300]
    stored.processed_at = timezone.now()
    stored.save(update_fields=["status", "result", "processed_at"])
    return stored


def _apply(event_type: str, obj: dict[str, Any]) -> tuple[str, str]:
    if event_type in ("payment.succeeded", "payment.failed"):
        deposit = (
            Deposit.objects.select_for_update(of=("self",))
            .select_related("client", "trading_account")
            .filter(reference=str(obj.get("order_reference", "")), channel="card")
            .first()
        )
        if deposit is None:
            raise PaymentError(f"no card deposit {obj.get('order_reference')!r} for payment {obj.get('id')}")
        if deposit.status != DepositStatus.INITIATED:  # repeated or out of order: already final
            return WebhookStatus.IGNORED, f"deposit {deposit.reference} is already {deposit.status}"
        if event_type == "payment.failed":
            deposit_fail(
                deposit=deposit,
                external_id=str(obj.get("id", "")),
                failure_code=str(obj.get("failure_code", "")),
                failure_message=str(obj.get("failure_message", "")),
            )
            return WebhookStatus.PROCESSED, f"deposit {deposit.reference} failed"
        amount = _amount(obj)
        if str(obj.get("currency", "")).upper() != deposit.currency:
            raise PaymentError(f"payment {obj.get('id')} is in {obj.get('currency')}, deposit in {deposit.currency}")
        deposit_receive(
            deposit=deposit,
            source=psp_clearing_account(deposit.currency),
            external_id=str(obj.get("id", "")),
            payer_name=str(obj.get("cardholder", "")),
            payer_account=str(obj.get("card_fingerprint", obj.get("card_last4", ""))),
            amount=amount,
        )
        return WebhookStatus.PROCESSED, f"deposit {deposit.reference} {deposit.status}"
    if event_type in ("payout.paid", "payout.failed"):
        from payments.services.withdrawals import withdrawal_payout_result

        withdrawal = Withdrawal.objects.filter(payout_key=str(obj.get("idempotency_key", ""))).first()
        if withdrawal is None:
            raise PaymentError(f"no withdrawal for payout {obj.get('id')}")
        return withdrawal_payout_result(
            withdrawal_id=withdrawal.pk,
            paid=event_type == "payout.paid",
            voucher=str(obj.get("id", "")),
            failure_code=str(obj.get("failure_code", "")),
        )
    return WebhookStatus.IGNORED, f"event type {event_type} is not used"
