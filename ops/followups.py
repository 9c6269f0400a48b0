"""The follow-up sequences — one table, loaded into ``ops.FollowUpSequence`` and its steps by a data
migration (like the queues), and run by ``ops.services.followups``.

Seed 000: "automated follow-up sequences and escalation procedures" with "complete interaction
records". Each sequence is: messages from templates on a channel, each due some days after the
client was enrolled, then a work item for a person; it ends as soon as the client acts (an event of
``stop_on``, reported by the app where the client acted) or a person stops it with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

# The events that end an enrollment: the app where the client acted reports them
# (``ops.services.followups.followups_subject_event``).
EVENT_LABELS: dict[str, str] = {
    "kyc.document_uploaded": "the client uploaded a document",
    "client.submit_for_review": "the client's documents are complete",
    "client.resubmit": "the client sent the replacement documents",
    "client.close": "the client was closed",
    "client.replied": "the client replied (a person reads the reply)",
}


@dataclass(frozen=True)
class StepSpec:
    days: int
    label: str
    channel: str = ""
    template: str = ""
    queue: str = ""

    @property
    def action(self) -> str:
        return "work_item" if self.queue else "message"


@dataclass(frozen=True)
class SequenceSpec:
    code: str
    name: str
    description: str
    stop_on: tuple[str, ...]
    steps: tuple[StepSpec, ...]


SEQUENCES: list[SequenceSpec] = [
    SequenceSpec(
        "documents_requested",
        "Documents requested at registration",
        "A registered client has not uploaded the documents of the checklist.",
        ("kyc.document_uploaded", "client.submit_for_review", "client.close", "client.replied"),
        (
            StepSpec(3, "Reminder by e-mail", channel="email", template="kyc.documents_reminder"),
            StepSpec(7, "Reminder by SMS", channel="sms", template="kyc.documents_reminder"),
            StepSpec(10, "Call the client (work item)", queue="client_follow_up"),
        ),
    ),
    SequenceSpec(
        "additional_documents",
        "Additional documents requested",
        "Review asked the client for a new or further document (a rejection, or more evidence).",
        ("kyc.document_uploaded", "client.resubmit", "client.close", "client.replied"),
        (
            StepSpec(3, "Reminder in the client area", channel="in_app", template="kyc.additional_documents_reminder"),
            StepSpec(7, "Reminder by SMS", channel="sms", template="kyc.additional_documents_reminder"),
            StepSpec(10, "Call the client (work item)", queue="client_follow_up"),
        ),
    ),
]


def sync_sequences(apps: Any) -> None:
    """Create or update the sequences of the table, with exactly the table's steps."""
    sequence_model = apps.get_model("ops", "FollowUpSequence")
    step_model = apps.get_model("ops", "FollowUpStep")
    for spec in SEQUENCES:
        sequence, _ = sequence_model.objects.update_or_create(
            code=spec.code,
            defaults={"name": spec.name, "description": spec.description, "stop_on": list(spec.stop_on)},
        )
        for position, step in enumerate(spec.steps):
            step_model.objects.update_or_create(
                sequence=sequence,
                position=position,
                defaults={
                    "after": timedelta(days=step.days),
                    "action": step.action,
                    "channel": step.channel,
                    "template": step.template,
                    "queue_code": step.queue,
                    "label": step.label,
                },
            )
        step_model.objects.filter(sequence=sequence, position__gte=len(spec.steps)).delete()
