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
from ops.models import Interaction, InteractionStatus
from ops.notification_templates import render


@dataclass(frozen=True)
class Notice:
    subject: models.Model
    recipient: str
    template: str
    context: dict[str, Any]


def client_notify(*, subject: models.Model, recipient: str, template: str, context: dict[str, Any]) -> Interaction:
    """Log the templated message now; a Celery task sends it once the transaction commits."""
    return client_notify_many([Notice(subject, recipient, template, context)])[0]


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
    for notice in notices:
        title, body = render(notice.template, notice.context)
        interactions.append(
            Interaction(
                subject_type=ContentType.objects.get_for_model(notice.subject),
                subject_id=str(notice.subject.pk),
                channel="email",
                recipient=notice.recipient,
                template=notice.template,
                title=title,
                body=body,
                actor_label=label,
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

    ids = [interaction.pk for interaction in interactions]
    if len(ids) == 1:
        transaction.on_commit(lambda: interaction_send_task.delay(interaction_id=ids[0]))
    else:
        transaction.on_commit(lambda: interactions_send_task.delay(interaction_ids=ids))
    return interactions


def interaction_send(*, interaction_id: int) -> str:
    """Send once: a retried task finds the message already sent."""
    with transaction.atomic():
        interaction = Interaction.objects.select_for_update().get(pk=interaction_id)
        if interaction.status == InteractionStatus.SENT:
            return interaction.status
    send_mail(interaction.title, interaction.body, settings.DEFAULT_FROM_EMAIL, [interaction.recipient])
    with transaction.atomic():
        interaction = Interaction.objects.select_for_update().get(pk=interaction_id)
        interaction.status = InteractionStatus.SENT
        interaction.sent_at = timezone.now()
        interaction.save(update_fields=["status", "sent_at"])
    return interaction.status


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
