"""Messages to clients, recorded in the interaction log and sent after commit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import current_actor
from audit.services import audit_record
from ops.models import Interaction, InteractionStatus
from ops.notification_templates import render


@transaction.atomic
def client_notify(*, subject: models.Model, recipient: str, template: str, context: dict[str, Any]) -> Interaction:
    """Log the templated message now; a Celery task sends it once the transaction commits."""
    title, body = render(template, context)
    actor = current_actor()
    interaction = Interaction.objects.create(
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=str(subject.pk),
        channel="email",
        recipient=recipient,
        template=template,
        title=title,
        body=body,
        actor_label=actor.label if actor else "system",
    )
    audit_record(
        action=AuditAction.CLIENT_NOTIFIED, subject=subject, after={"template": template, "interaction": interaction.pk}
    )
    from ops.tasks import interaction_send_task

    transaction.on_commit(lambda: interaction_send_task.delay(interaction_id=interaction.pk))
    return interaction


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
