"""Retention: once a client has been closed for ``RETENTION_YEARS`` (the end of the relationship is
the moment the client was closed: ``status_changed_at`` of a closed client), its personal data is
pseudonymised; what the regulator needs to follow the money stays.

- The client row: names, date of birth, nationality, address, e-mail and phone are replaced by a
  pseudonym built from the client reference (which the ledger, payments and audit events use), and
  ``pseudonymised_at`` is set; the save writes a history row like any change.
- Earlier history rows of the client and its related parties: the same fields overwritten
  (``audit.history.history_pseudonymise``); the rows themselves stay.
- Messages to and from the client (the interaction log, the SMS provider's stored callbacks) and
  its follow-up enrollments: addresses and bodies emptied, the records (what was sent, when, its
  delivery result) kept.
- Its sign-ins to the client area: IP address, country, user agent and device emptied; the rows (when,
  outcome) kept. The table is append-only: only these columns, through the trigger's bypass.
- Other apps register hooks for their own personal data (kyc deletes the document files).
- The audit chain is not rewritten: it hashes the events, and an edited event would break
  ``audit_verify``. One ``client.pseudonymised`` event records that it happened, naming the fields,
  never their values. Ledger entries carry amounts and accounts, no personal data: untouched.

Idempotent: a pseudonymised client is never due again, and each client is done in its own
transaction under its row lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pgtrigger
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from accounts.locks import client_lock
from accounts.models import Client, ClientSignIn, ClientStatus, RelatedParty
from audit.actions import AuditAction
from audit.history import bulk_update_audited, history_pseudonymise, register_pseudonymisable
from audit.services import audit_record
from ops.models import FollowUpEnrollment, Interaction, SmsInboundEvent

# The personal fields of a client and what they become.
CLIENT_PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "nationality",
    "address_line",
    "city",
    "postcode",
    "email",
    "phone",
)
PARTY_PERSONAL_FIELDS = ("name", "date_of_birth")
register_pseudonymisable(Client, CLIENT_PERSONAL_FIELDS)
register_pseudonymisable(RelatedParty, PARTY_PERSONAL_FIELDS)
INTERACTION_PERSONAL_FIELDS = ("recipient", "body")
ENROLLMENT_PERSONAL_FIELDS = ("subject_label", "addresses", "context")
# the columns of the append-only sign-ins the retention job (alone) may overwrite (backoffice/db_roles.py)
SIGN_IN_PERSONAL_VALUES: dict[str, Any] = {
    "ip_address": None, "country": "", "user_agent": "", "device_id": "", "device_source": "",
}  # fmt: skip
register_pseudonymisable(Interaction, INTERACTION_PERSONAL_FIELDS)
register_pseudonymisable(FollowUpEnrollment, ENROLLMENT_PERSONAL_FIELDS)

PseudonymiseHook = Callable[[Client], dict[str, int]]
_hooks: list[PseudonymiseHook] = []


def register_pseudonymise_hook(hook: PseudonymiseHook) -> PseudonymiseHook:
    """``hook(client)`` runs inside the pseudonymising transaction and returns counts for the audit event."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


@dataclass
class PseudonymiseResult:
    client_id: int
    counts: dict[str, int] = field(default_factory=dict)


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Clients closed before this moment are past their retention period."""
    moment = now or timezone.now()
    year = moment.year - settings.RETENTION_YEARS
    try:
        return moment.replace(year=year)
    except ValueError:  # 29 February, in a year that has none
        return moment.replace(year=year, day=28)


def clients_due_for_pseudonymisation(now: datetime | None = None) -> list[int]:
    return list(
        Client.objects.filter(
            status=ClientStatus.CLOSED, status_changed_at__lt=retention_cutoff(now), pseudonymised_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _client_values(client: Client) -> dict[str, Any]:
    pseudonym = client.reference
    return {
        "first_name": "Pseudonymised",
        "last_name": pseudonym,
        "date_of_birth": None,
        "nationality": "",
        "address_line": "",
        "city": "",
        "postcode": "",
        "email": f"{pseudonym.lower()}@pseudonymised.invalid",
        "phone": "",
    }


@transaction.atomic(durable=True)
def client_pseudonymise(*, client_id: int, now: datetime | None = None) -> PseudonymiseResult | None:
    """Pseudonymise one client whose retention period is over; None if it is not (or no longer) due."""
    client = client_lock(client_id)
    if (
        client.pseudonymised_at is not None
        or client.status != ClientStatus.CLOSED
        or client.status_changed_at >= retention_cutoff(now)
    ):
        return None
    values = _client_values(client)
    for name, value in values.items():
        setattr(client, name, value)
    client.pseudonymised_at = timezone.now()
    client._change_reason = "retention period over: personal data pseudonymised"  # type: ignore[attr-defined]
    client.save(update_fields=[*CLIENT_PERSONAL_FIELDS, "pseudonymised_at"])
    counts = {"client_history_rows": history_pseudonymise(Client, [client.pk], values)}

    parties = list(RelatedParty.objects.filter(client=client).order_by("pk"))
    for party in parties:
        party.name = f"Pseudonymised party {party.pk}"
        party.date_of_birth = None
        party._change_reason = "retention period over: personal data pseudonymised"  # type: ignore[attr-defined]
        party.save(update_fields=list(PARTY_PERSONAL_FIELDS))
    counts["related_parties"] = len(parties)
    counts["related_party_history_rows"] = history_pseudonymise(
        RelatedParty, [p.pk for p in parties], {"name": "Pseudonymised party", "date_of_birth": None}
    )
    counts.update(_communications_pseudonymise(client))
    counts["sign_ins"] = sign_ins_pseudonymise(client)
    for hook in _hooks:
        counts.update(hook(client))
    audit_record(
        action=AuditAction.CLIENT_PSEUDONYMISED,
        subject=client,
        before={"fields": list(CLIENT_PERSONAL_FIELDS), "related_party_fields": list(PARTY_PERSONAL_FIELDS)},
        after={"pseudonym": client.reference, **counts},
        reason=f"retention: closed on {client.status_changed_at:%Y-%m-%d}, kept {settings.RETENTION_YEARS} years",
    )
    return PseudonymiseResult(client_id=client.pk, counts=counts)


def sign_ins_pseudonymise(client: Client) -> int:
    """The client's sign-ins: where from and on what, emptied (one UPDATE past the append-only trigger)."""
    with pgtrigger.ignore(f"{ClientSignIn._meta.label}:append_only_update"):
        return int(ClientSignIn.objects.filter(client=client).update(**SIGN_IN_PERSONAL_VALUES))


def _communications_pseudonymise(client: Client) -> dict[str, int]:
    """The client's messages (both ways) and follow-ups: addresses, bodies and the name they were
    addressed with emptied, in the rows and their history; what was sent, when and how it went stay."""
    mine = {"subject_type": ContentType.objects.get_for_model(Client), "subject_id": str(client.pk)}
    messages = list(Interaction.objects.filter(**mine).order_by("pk"))
    message_values = {"recipient": "", "body": "(pseudonymised)"}
    for message in messages:
        for name, value in message_values.items():
            setattr(message, name, value)
    bulk_update_audited(messages, Interaction, list(INTERACTION_PERSONAL_FIELDS))
    message_ids = [m.pk for m in messages]
    enrollments = list(FollowUpEnrollment.objects.filter(**mine).order_by("pk"))
    enrollment_values: dict[str, Any] = {"subject_label": client.reference, "addresses": {}, "context": {}}
    for enrollment in enrollments:
        for name, value in enrollment_values.items():
            setattr(enrollment, name, value)
    bulk_update_audited(enrollments, FollowUpEnrollment, list(ENROLLMENT_PERSONAL_FIELDS))
    callbacks = list(SmsInboundEvent.objects.filter(interaction_id__in=message_ids).order_by("pk"))
    for callback in callbacks:  # the provider's raw callback: numbers and reply texts
        callback.payload = {"pseudonymised": True, "event_id": callback.event_id}
        callback.save(update_fields=["payload"])
    return {
        "interactions": len(messages),
        "interaction_history_rows": history_pseudonymise(Interaction, message_ids, message_values),
        "follow_up_enrollments": len(enrollments),
        "follow_up_history_rows": history_pseudonymise(
            FollowUpEnrollment, [e.pk for e in enrollments], enrollment_values
        ),
        "sms_callbacks": len(callbacks),
    }


def clients_pseudonymise_due(now: datetime | None = None) -> int:
    """The scheduled job: pseudonymise every client whose retention period is over. Returns how many."""
    done = 0
    for client_id in clients_due_for_pseudonymisation(now):
        if client_pseudonymise(client_id=client_id, now=now) is not None:
            done += 1
    return done
