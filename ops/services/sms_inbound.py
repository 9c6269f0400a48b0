"""The SMS provider's callbacks (``/webhooks/sms/``): delivery results and the clients' replies.

A callback is verified and stored before it is processed (``SmsInboundEvent``, unique by the
provider's event id): a bad signature stores nothing; a repeated delivery is counted, not applied
again. Processing puts it in the client's interaction log: a delivery result moves the message to
delivered (or failed, with the provider's reason); a reply is a new entry answering the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.models import (
    Interaction,
    InteractionChannel,
    InteractionStatus,
    SmsInboundEvent,
    SmsInboundStatus,
)
from ops.services.interactions import interaction_for_reference
from ops.sms import SmsCallback, SmsSignatureError, get_sms_provider, sms_configured


@dataclass
class SmsCallbackRejected(Exception):
    """Refused before anything is stored. ``forged``: no valid signature (or a stale one)."""

    message: str
    status: int = 400
    forged: bool = False

    def __str__(self) -> str:
        return self.message


def sms_inbound_store(*, body: bytes, signature: str | None) -> tuple[SmsInboundEvent, bool]:
    """Verify and store; returns (event, is_new). Raises SmsCallbackRejected, having stored nothing."""
    if not sms_configured():
        raise SmsCallbackRejected(errors.SMS_NOT_CONFIGURED, status=404)
    provider = get_sms_provider()
    try:
        provider.webhook_verify(body, signature)
    except SmsSignatureError as exc:
        raise SmsCallbackRejected(str(exc), status=400, forged=True) from None
    try:
        callback = provider.webhook_parse(body)
    except (ValueError, KeyError, TypeError) as exc:
        raise SmsCallbackRejected(errors.SMS_PAYLOAD_INVALID.format(why=exc), status=400) from None
    try:
        with transaction.atomic():
            stored = SmsInboundEvent.objects.create(
                event_id=callback.event_id, kind=callback.kind, payload=callback.payload
            )
        return stored, True
    except IntegrityError:
        with transaction.atomic():  # a repeated delivery: counted, not applied again
            repeated = SmsInboundEvent.objects.select_for_update().get(event_id=callback.event_id)
            repeated.deliveries += 1
            repeated.save(update_fields=["deliveries"])
        return repeated, False


def sms_inbound_process(*, event_pk: int) -> SmsInboundEvent:
    """Apply a stored callback once; a processed one is left as it is."""
    done = _process(SmsInboundEvent.objects.filter(pk=event_pk).select_for_update())
    return done[0] if done else SmsInboundEvent.objects.get(pk=event_pk)


def sms_inbound_drain(*, older_than: timedelta = timedelta(minutes=1), limit: int = 200) -> int:
    """Beat: apply what was stored but not applied (its task was lost); several drains can run."""
    waiting = (
        SmsInboundEvent.objects.filter(received_at__lt=timezone.now() - older_than)
        .order_by("pk")
        .select_for_update(skip_locked=True)
    )
    return len(_process(waiting, limit=limit))


@transaction.atomic(durable=True)
def _process(events: QuerySet[SmsInboundEvent], *, limit: int = 1) -> list[SmsInboundEvent]:
    provider = get_sms_provider()
    claimed = list(events.filter(status=SmsInboundStatus.RECEIVED)[:limit])
    now = timezone.now()
    for stored in claimed:
        try:
            import json

            callback = provider.webhook_parse(json.dumps(stored.payload).encode())
            with transaction.atomic():
                interaction, detail = _apply(callback)
            stored.status = SmsInboundStatus.PROCESSED if interaction is not None else SmsInboundStatus.IGNORED
            stored.interaction = interaction
            stored.result = detail[:300]
        except (ValueError, KeyError, TypeError, IntegrityError) as exc:
            stored.status, stored.result = SmsInboundStatus.FAILED, str(exc)[:300]
        stored.processed_at = now
        stored.save(update_fields=["status", "result", "interaction", "processed_at"])
    return claimed


def _message_for(callback: SmsCallback) -> Interaction | None:
    """The SMS the callback is about: by the reference it was sent with, else by the provider's id."""
    rows = Interaction.objects.select_for_update().filter(channel=InteractionChannel.SMS)
    pk = interaction_for_reference(callback.reference)
    if pk is not None:
        found = rows.filter(pk=pk).first()
        if found is not None:
            return found
    if callback.message_id:
        return rows.filter(provider_message_id=callback.message_id).exclude(status=InteractionStatus.RECEIVED).first()
    return None


def _apply(callback: SmsCallback) -> tuple[Interaction | None, str]:
    message = _message_for(callback)
    if message is None:
        return None, errors.SMS_UNKNOWN_MESSAGE.format(message_id=callback.message_id, reference=callback.reference)
    if callback.kind == "delivery":
        return message, _delivery(message, callback)
    reply = Interaction.objects.create(
        subject_type=message.subject_type,
        subject_id=message.subject_id,
        channel=InteractionChannel.SMS,
        recipient=callback.sender,
        title=f"Reply to: {message.title}"[:200],
        body=callback.body,
        status=InteractionStatus.RECEIVED,
        actor_label=f"client ({callback.sender})" if callback.sender else "client",
        created_at=callback.occurred_at,
        in_reply_to=message,
        provider_message_id=callback.message_id,
    )
    audit_record(
        action=AuditAction.CLIENT_REPLIED,
        subject=message.subject or message,
        after={"interaction": reply.pk, "in_reply_to": message.pk, "channel": "sms"},
    )
    if message.subject is not None:
        # The client answered: no more reminders on top of it, and a person reads the answer.
        from ops.services.followups import followups_subject_event
        from ops.services.work_items import work_item_open

        followups_subject_event(subject=message.subject, event="client.replied")
        work_item_open(
            queue="client_follow_up",
            subject=message.subject,
            title=f"{message.subject} replied by SMS",
            details={"reply": callback.body[:500], "in_reply_to": message.title},
        )
    return reply, f"reply logged as interaction {reply.pk}"


def _delivery(message: Interaction, callback: SmsCallback) -> str:
    """Delivered or failed: a final state is not changed by a late or repeated result."""
    if message.status in (InteractionStatus.DELIVERED, InteractionStatus.FAILED):
        return f"already {message.status}"
    message.provider_message_id = message.provider_message_id or callback.message_id
    message.sent_at = message.sent_at or callback.occurred_at
    if callback.status == "delivered":
        message.status = InteractionStatus.DELIVERED
        message.delivered_at = callback.occurred_at
    elif callback.status == "failed":
        message.status = InteractionStatus.FAILED
        message.error = callback.reason or "failed (the provider gave no reason)"
    else:
        raise ValueError(f"unknown delivery status {callback.status!r}")
    message._change_reason = f"SMS provider: {callback.status}"  # type: ignore[attr-defined]
    message.save(update_fields=["status", "delivered_at", "error", "provider_message_id", "sent_at"])
    return f"message {message.pk} {message.status}"
