"""PSP callbacks: verified, stored (deduplicated by event id), then processed idempotently.

A bad signature or a stale timestamp is refused before anything is stored: the webhook view
writes it to the security log (``WebhookRejected.forged``). A repeated delivery finds the stored event and has no second effect; an
event that arrives after a later one for the same payment finds the payment already final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.history import bulk_update_audited
from ops.models import RiskLevel
from ops.services.work_items import work_item_open
from payments import errors
from payments.errors import PaymentError
from payments.models import Deposit, DepositStatus, InboundEvent, LedgerAccount, WebhookStatus, Withdrawal
from payments.outcomes import Effect, Outcome
from payments.providers import SignatureError, provider_named
from payments.services.deposits import Receipt, deposit_fail, deposits_receive
from payments.services.ledger import psp_clearing_account


class WebhookRejected(Exception):
    """Refused before anything is stored. ``forged``: no valid signature (or a stale one), i.e.
    not known to come from the PSP: a security event."""

    def __init__(self, message: str, status: int = 400, *, forged: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.forged = forged


def inbound_event_store(*, provider: str, body: bytes, signature: str | None) -> tuple[InboundEvent, bool]:
    """Verify (by the provider's own scheme) and store; returns (event, is_new). Raises
    WebhookRejected (nothing stored)."""
    adapter = provider_named(provider)
    if adapter is None:
        raise WebhookRejected(errors.PROVIDER_UNKNOWN.format(provider=provider), status=404)
    try:
        adapter.webhook_verify(body, signature)
    except SignatureError as exc:
        raise WebhookRejected(str(exc), status=400, forged=True) from None
    try:
        evt = adapter.webhook_parse(body)
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookRejected(errors.PAYLOAD_INVALID.format(why=exc), status=400) from None
    try:
        with transaction.atomic():
            stored = InboundEvent.objects.create(
                provider=provider,
                event_id=evt.event_id,
                event_type=evt.event_type,
                object_id=evt.object_id,
                payload=evt.payload,
                event_created=evt.created,
            )
        return stored, True
    except IntegrityError:
        with transaction.atomic():  # a repeated delivery: counted (in the event's history), not applied again
            repeated = InboundEvent.objects.select_for_update().get(provider=provider, event_id=evt.event_id)
            repeated.deliveries += 1
            repeated.save(update_fields=["deliveries"])
        return repeated, False


def _amount(obj: dict[str, Any]) -> Decimal:
    try:
        return Decimal(str(obj["amount"]))
    except (KeyError, InvalidOperation):
        raise PaymentError(errors.PAYLOAD_INVALID.format(why="amount missing or not a number")) from None


# the stored event's status for each effect (the inbox's record of what the callback did)
EVENT_STATUS = {
    Effect.APPLIED: WebhookStatus.PROCESSED,
    Effect.NO_EFFECT: WebhookStatus.IGNORED,
    Effect.REFUSED: WebhookStatus.FAILED,
}


@dataclass(frozen=True)
class CallbackResult:
    """What became of one stored callback: waiting in the inbox (received), or what applying it
    did (processed, ignored, failed) and why. The webhook view answers the PSP from it."""

    event_id: int
    status: WebhookStatus
    detail: str

    @classmethod
    def of(cls, stored: InboundEvent) -> CallbackResult:
        return cls(event_id=stored.pk, status=WebhookStatus(stored.status), detail=stored.result)


def inbound_event_process(*, event_pk: int) -> CallbackResult:
    """Apply a stored event once. Safe to call again: a processed event is left as it is. (Waits
    for a transaction that is applying it right now, then finds it processed.)"""
    processed = _process(event_pks=[event_pk], limit=1)
    return CallbackResult.of(processed[0] if processed else InboundEvent.objects.get(pk=event_pk))


DRAIN_BATCH = 200
PAYMENT_EVENTS = ("payment.succeeded", "payment.failed")


def inbound_events_drain(
    *, batch: int = DRAIN_BATCH, older_than: timedelta | None = None, max_batches: int | None = None
) -> int:
    """Apply the stored events still waiting (oldest first), ``batch`` at a time, each batch in one
    transaction, until none is left (or after ``max_batches``); several workers can drain at once
    (each claims events no other holds). Events stored in the last ``older_than`` are left to the
    request that stored them. Returns how many were applied."""
    done = batches = 0
    while max_batches is None or batches < max_batches:
        applied = len(_process(event_pks=None, limit=batch, older_than=older_than))
        done, batches = done + applied, batches + 1
        if applied < batch:
            break
    return done


@transaction.atomic(durable=True)
def _process(*, event_pks: list[int] | None, limit: int, older_than: timedelta | None = None) -> list[InboundEvent]:
    """Apply up to ``limit`` waiting events in one transaction, in id order. The first callback of
    each card deposit whose money is in order (the common case: a payment that succeeded) is
    credited with the others' in one step (``deposits_receive``); every other event is applied on
    its own in a savepoint, as is the whole batch again event by event should that step refuse."""
    claimed = InboundEvent.objects.filter(status=WebhookStatus.RECEIVED).order_by("pk")
    if event_pks is not None:
        claimed = claimed.filter(pk__in=event_pks).select_for_update()
    else:  # a drain: what another transaction holds is its to apply
        claimed = claimed.select_for_update(skip_locked=True)
        if older_than is not None:
            claimed = claimed.filter(received_at__lt=timezone.now() - older_than)
    events = list(claimed[:limit])
    if not events:
        return []
    results, rest = _apply_batch(events)
    for stored in rest:
        results[stored.pk] = _apply_one(stored)
    now = timezone.now()
    for stored in events:
        outcome = results[stored.pk]
        stored.status = EVENT_STATUS[outcome.effect]
        stored.result = outcome.detail[:300]
        stored.processed_at = now
    bulk_update_audited(events, InboundEvent, ["status", "result", "processed_at"])
    return events


def _apply_batch(events: list[InboundEvent]) -> tuple[dict[int, Outcome], list[InboundEvent]]:
    """Credit the batchable events together: their results, and the other events (in id order), to
    be applied one by one."""
    refs = {
        str(stored.payload["data"]["object"].get("order_reference", ""))
        for stored in events
        if stored.event_type in PAYMENT_EVENTS
    }
    deposits = {
        deposit.reference: deposit
        for deposit in Deposit.objects.select_for_update(of=("self",))
        .select_related("client", "trading_account")
        .filter(reference__in=refs, channel="card")
        .order_by("pk")  # locked in id order, as every path locks deposits
    }
    seen: set[str] = set()
    sources: dict[str, LedgerAccount] = {}
    batch: list[tuple[InboundEvent, Receipt]] = []
    rest: list[InboundEvent] = []
    for stored in events:
        obj = stored.payload["data"]["object"]
        ref = str(obj.get("order_reference", ""))
        receipt = _receipt(stored, obj, deposits.get(ref), sources) if ref not in seen else None
        if stored.event_type in PAYMENT_EVENTS:
            seen.add(ref)  # a later callback of the same payment comes after this one
        if receipt is None:
            rest.append(stored)
        else:
            batch.append((stored, receipt))
    if batch:
        try:
            with transaction.atomic():
                deposits_receive([receipt for _, receipt in batch])
        except (PaymentError, IntegrityError):  # one of them is refused: each on its own, to say which
            return {}, sorted(rest + [stored for stored, _ in batch], key=lambda stored: stored.pk)
    done = {
        stored.pk: Outcome.applied(f"deposit {receipt.deposit.reference} {receipt.deposit.status}")
        for stored, receipt in batch
    }
    return done, rest


def _receipt(
    stored: InboundEvent, obj: dict[str, Any], deposit: Deposit | None, sources: dict[str, LedgerAccount]
) -> Receipt | None:
    """The receipt of a successful card payment for a deposit waiting for it, or None for anything
    else (applied alone by ``_apply``, which says what is wrong with it)."""
    if stored.event_type != "payment.succeeded" or deposit is None or deposit.status != DepositStatus.INITIATED:
        return None
    if deposit.provider and deposit.provider != stored.provider:
        return None  # refused by _apply, which says why
    key = f"{deposit.provider}:{deposit.currency}"
    if key not in sources:
        sources[key] = psp_clearing_account(deposit.currency, deposit.provider)
    try:
        return _card_receipt(deposit, obj, source=sources[key])
    except PaymentError:
        return None


def _card_receipt(deposit: Deposit, obj: dict[str, Any], *, source: LedgerAccount) -> Receipt:
    """What a successful card payment brought for the deposit; PaymentError when its amount or its
    currency cannot be the deposit's."""
    amount = _amount(obj)
    if str(obj.get("currency", "")).upper() != deposit.currency:
        raise PaymentError(f"payment {obj.get('id')} is in {obj.get('currency')}, deposit in {deposit.currency}")
    return Receipt(
        deposit=deposit,
        source=source,
        external_id=str(obj.get("id", "")),
        payer_name=str(obj.get("cardholder", "")),
        payer_account=str(obj.get("card_fingerprint", obj.get("card_last4", ""))),
        amount=amount,
    )


def _apply_one(stored: InboundEvent) -> Outcome:
    """One event, in a savepoint: a refusal (PaymentError, or a constraint of the database, e.g. a
    payment id the PSP already used for another deposit) leaves nothing of it but a FAILED status
    and a reconciliation work item for a person."""
    try:
        with transaction.atomic():
            return _apply(stored.event_type, stored.payload["data"]["object"], provider=stored.provider)
    except (PaymentError, IntegrityError) as exc:
        work_item_open(  # a dispute's goes to the chargeback queue, where its deadline is watched
            queue="chargeback" if stored.event_type.startswith("dispute.") else "reconciliation_break",
            subject=stored,
            title=f"PSP callback {stored.event_type} {stored.object_id} could not be applied"[:200],
            risk_level=RiskLevel.HIGH,
            details={"event": stored.event_id, "error": str(exc)},
        )
        return Outcome.refused(str(exc))


def _apply(event_type: str, obj: dict[str, Any], *, provider: str = "") -> Outcome:
    if event_type in PAYMENT_EVENTS:
        deposit = (
            Deposit.objects.select_for_update(of=("self",))
            .select_related("client", "trading_account")
            .filter(reference=str(obj.get("order_reference", "")), channel="card")
            .first()
        )
        if deposit is None:
            raise PaymentError(f"no card deposit {obj.get('order_reference')!r} for payment {obj.get('id')}")
        if deposit.provider and provider and deposit.provider != provider:  # routed to another PSP
            raise PaymentError(
                f"payment {obj.get('id')} from {provider} for deposit {deposit.reference}, routed to {deposit.provider}"
            )
        if deposit.status != DepositStatus.INITIATED:  # repeated or out of order: already final
            return Outcome.no_effect(f"deposit {deposit.reference} is already {deposit.status}")
        if event_type == "payment.failed":
            deposit_fail(
                deposit=deposit,
                external_id=str(obj.get("id", "")),
                failure_code=str(obj.get("failure_code", "")),
                failure_message=str(obj.get("failure_message", "")),
            )
            return Outcome.applied(f"deposit {deposit.reference} failed")
        source = psp_clearing_account(deposit.currency, deposit.provider)
        deposits_receive([_card_receipt(deposit, obj, source=source)])
        return Outcome.applied(f"deposit {deposit.reference} {deposit.status}")
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
    if event_type == "dispute.opened":
        from payments.services.chargebacks import chargeback_open

        return chargeback_open(provider=provider, obj=obj)
    if event_type == "dispute.closed":
        from payments.services.chargebacks import chargeback_close

        return chargeback_close(provider=provider, obj=obj)
    return Outcome.no_effect(f"event type {event_type} is not used")
