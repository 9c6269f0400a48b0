"""Messages to clients, recorded in the interaction log and sent after commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import current_actor
from audit.history import bulk_create_audited
from audit.services import Change, audit_record_many
from ops.models import SEND_CHANNELS, Interaction, InteractionChannel, InteractionStatus
from ops.notification_templates import render


@dataclass(frozen=True)
class Notice:
    subject: models.Model
    recipient: str
    template: str
    context: dict[str, Any]
    channel: str = InteractionChannel.EMAIL


def client_notify(
    *,
    subject: models.Model,
    recipient: str,
    template: str,
    context: dict[str, Any],
    channel: str = InteractionChannel.EMAIL,
) -> Interaction:
    """Log the templated message now; a Celery task sends it once the transaction commits.

    Channels: ``email`` (to an address) and ``sms`` (to an E.164 number, through the SMS provider)
    are sent after commit; ``in_app`` is stored for the client to read in the client area (the
    client API lists it), so it is sent as soon as it is stored."""
    return client_notify_many([Notice(subject, recipient, template, context, channel)])[0]


@transaction.atomic
def client_notify_many(notices: Sequence[Notice]) -> list[Interaction]:
    """Log several messages at once (one INSERT, one of their history rows, an audit event each);
    once the transaction commits they are sent by one task (one message: the retried task per
    message; several: a task that sends each and hands a failed one to that retried task)."""
    if not notices:
        return []
    actor = current_actor()
    label = actor.label if actor else "system"
    interactions = []
    now = timezone.now()
    for notice in notices:
        if notice.channel not in SEND_CHANNELS:
            raise ValueError(f"{notice.channel!r} is not a channel messages are sent on")
        title, body = render(notice.template, notice.context, channel=notice.channel)
        in_app = notice.channel == InteractionChannel.IN_APP
        interactions.append(
            Interaction(
                subject_type=ContentType.objects.get_for_model(notice.subject),
                subject_id=str(notice.subject.pk),
                channel=notice.channel,
                recipient=notice.recipient,
                template=notice.template,
                title=title,
                body=body,
                actor_label=label,
                created_at=now,
                # in-app: stored is delivered (the client area reads it from here)
                status=InteractionStatus.SENT if in_app else InteractionStatus.QUEUED,
                sent_at=now if in_app else None,
            )
        )
    bulk_create_audited(interactions, Interaction)
    audit_record_many(
        [
            Change(
                AuditAction.CLIENT_NOTIFIED, notice.subject, after={"template": notice.template, "interaction": i.pk}
            )
            for notice, i in zip(notices, interactions, strict=True)
        ]
    )
    from ops.tasks import interaction_send_task, interactions_send_task

    ids = [i.pk for i in interactions if i.status == InteractionStatus.QUEUED]
    if not ids:
        return interactions
    if len(ids) == 1:
        transaction.on_commit(lambda: interaction_send_task.delay(interaction_id=ids[0]))
    else:
        transaction.on_commit(lambda: interactions_send_task.delay(interaction_ids=ids))
    return interactions


def interaction_send(*, interaction_id: int) -> str:
    """Send once, on the message's channel: a retried task finds the message already sent. An SMS
    carries its interaction as the provider's idempotency key, so a send retried after a crash is
    not sent twice, and the provider's delivery result and the client's replies find it."""
    with transaction.atomic():
        interaction = Interaction.objects.select_for_update().get(pk=interaction_id)
        if interaction.status != InteractionStatus.QUEUED:
            return interaction.status
    provider_id = ""
    if interaction.channel == InteractionChannel.SMS:
        from ops.sms import get_sms_provider

        provider_id = get_sms_provider().send(
            to=interaction.recipient, body=interaction.body, reference=sms_reference(interaction.pk)
        )
    else:
        send_mail(interaction.title, interaction.body, settings.DEFAULT_FROM_EMAIL, [interaction.recipient])
    with transaction.atomic():
        interaction = Interaction.objects.select_for_update().get(pk=interaction_id)
        interaction.sent_at = interaction.sent_at or timezone.now()
        interaction.provider_message_id = provider_id or interaction.provider_message_id
        if interaction.status == InteractionStatus.QUEUED:  # the delivery result may have come first
            interaction.status = InteractionStatus.SENT
        interaction.save(update_fields=["status", "sent_at", "provider_message_id"])
    return interaction.status


def sms_reference(interaction_id: int) -> str:
    """The idempotency key an SMS is sent with (the provider echoes it in its callbacks)."""
    return f"interaction-{interaction_id}"


def interaction_for_reference(reference: str) -> int | None:
    head, _, tail = reference.partition("-")
    return int(tail) if head == "interaction" and tail.isdigit() else None


@transaction.atomic
def interaction_fail(*, interaction_id: int, reason: str) -> Interaction:
    """The message could not be sent (its retries are spent): failed, with the reason, in the log."""
    interaction = Interaction.objects.select_for_update().get(pk=interaction_id)
    if interaction.status == InteractionStatus.QUEUED:
        interaction.status = InteractionStatus.FAILED
        interaction.error = reason[:1000]
        interaction.save(update_fields=["status", "error"])
    return interaction


@transaction.atomic
def interaction_record(
    *, subject: models.Model, channel: str, title: str, body: str, author: str, occurred_at: Any
) -> Interaction:
    """Log a message another system holds (a CRM's call, e-mail or note): recorded, not sent."""
    interaction = Interaction(
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=str(subject.pk),
        channel=channel,
        title=title[:200],
        body=body,
        status=InteractionStatus.RECORDED,
        actor_label=author[:150] or "system",
        created_at=occurred_at,
    )
    interaction.save()
    return interaction


@transaction.atomic
def interaction_revise(*, interaction: Interaction, title: str, body: str) -> Interaction:
    """The other system changed a record it owns: the log entry follows (its history keeps the old)."""
    interaction.title = title[:200]
    interaction.body = body
    interaction.save(update_fields=["title", "body"])
    return interaction
