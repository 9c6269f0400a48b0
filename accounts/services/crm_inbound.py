"""CRM sync, pull side: what the CRM owns (sales stage, tags, communication records) comes in by its
signed webhook (``/webhooks/crm/``) or by beat's poll, and is upserted idempotently.

A notification is verified and stored before it is processed (``CrmInboundEvent``, unique by its
event id): a bad signature stores nothing; a repeated delivery is counted, not applied again. Each
carries the contact as the CRM held it; its ``updated_at`` orders them, so a notification that
arrives after a newer one changes nothing. Communication records are upserted by their CRM id (a
newer version revises the entry) and each is an entry in the client's interaction log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from accounts import errors
from accounts.crm import CrmCommunication, CrmContact, CrmSignatureError, crm_configured, get_crm
from accounts.models import Client, CrmInboundEvent, CrmInboundStatus, CrmLink
from accounts.models import CrmCommunication as CommunicationRow
from audit.actions import AuditAction
from audit.services import audit_record
from ops.services.interactions import interaction_record, interaction_revise


class CrmWebhookRejected(Exception):
    """Refused before anything is stored. ``forged``: no valid signature (or a stale one)."""

    def __init__(self, message: str, status: int = 400, *, forged: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.forged = forged


def crm_inbound_store(*, body: bytes, signature: str | None) -> tuple[CrmInboundEvent, bool]:
    """Verify and store; returns (event, is_new). Raises CrmWebhookRejected, having stored nothing."""
    if not crm_configured():
        raise CrmWebhookRejected(errors.CRM_NOT_CONFIGURED, status=404)
    crm = get_crm()
    try:
        crm.webhook_verify(body, signature)
    except CrmSignatureError as exc:
        raise CrmWebhookRejected(str(exc), status=400, forged=True) from None
    try:
        note = crm.webhook_parse(body)
    except (ValueError, KeyError, TypeError) as exc:
        raise CrmWebhookRejected(errors.CRM_PAYLOAD_INVALID.format(why=exc), status=400) from None
    try:
        with transaction.atomic():
            stored = CrmInboundEvent.objects.create(
                event_id=note.event_id,
                event_type=note.event_type,
                crm_id=note.contact.crm_id,
                payload=note.payload,
                event_created=note.created,
            )
        return stored, True
    except IntegrityError:
        with transaction.atomic():  # a repeated delivery: counted, not applied again
            repeated = CrmInboundEvent.objects.select_for_update().get(event_id=note.event_id)
            repeated.deliveries += 1
            repeated.save(update_fields=["deliveries"])
        return repeated, False


def crm_inbound_process(*, event_pk: int) -> CrmInboundEvent:
    """Apply a stored notification once; a processed one is left as it is."""
    done = _process(CrmInboundEvent.objects.filter(pk=event_pk).select_for_update())
    return done[0] if done else CrmInboundEvent.objects.get(pk=event_pk)


def crm_inbound_drain(*, older_than: timedelta = timedelta(minutes=1), limit: int = 200) -> int:
    """Beat: apply what was stored but not applied (its task was lost); several drains can run."""
    waiting = (
        CrmInboundEvent.objects.filter(received_at__lt=timezone.now() - older_than)
        .order_by("pk")
        .select_for_update(skip_locked=True)
    )
    return len(_process(waiting, limit=limit))


@transaction.atomic(durable=True)
def _process(events: QuerySet[CrmInboundEvent], *, limit: int = 1) -> list[CrmInboundEvent]:
    crm = get_crm()
    claimed = list(events.filter(status=CrmInboundStatus.RECEIVED)[:limit])
    now = timezone.now()
    for stored in claimed:
        try:
            note = crm.webhook_parse(json.dumps(stored.payload).encode())
            with transaction.atomic():
                result = crm_contact_apply(contact=note.contact)
            stored.status = CrmInboundStatus.PROCESSED if result.applied else CrmInboundStatus.IGNORED
            stored.result = result.detail[:300]
        except (ValueError, KeyError, TypeError, IntegrityError) as exc:
            stored.status, stored.result = CrmInboundStatus.FAILED, str(exc)[:300]
        stored.processed_at = now
        stored.save(update_fields=["status", "result", "processed_at"])
    return claimed


@dataclass(frozen=True)
class ApplyResult:
    applied: bool
    detail: str


def _link_for(contact: CrmContact) -> CrmLink | str:
    link = CrmLink.objects.select_for_update().select_related("client").filter(crm_id=contact.crm_id).first()
    if link is not None:
        return link
    client = Client.objects.filter(reference=contact.external_id).first()
    if client is None:
        return errors.CRM_UNKNOWN_CONTACT.format(external_id=contact.external_id, crm_id=contact.crm_id)
    CrmLink.objects.get_or_create(client=client)
    link = CrmLink.objects.select_for_update().select_related("client").get(client=client)
    if link.crm_id is None:
        link.crm_id = contact.crm_id
        link.save(update_fields=["crm_id"])
    elif link.crm_id != contact.crm_id:
        return errors.CRM_LINKED_ELSEWHERE.format(reference=client.reference, linked=link.crm_id, crm_id=contact.crm_id)
    return link


@transaction.atomic
def crm_contact_apply(*, contact: CrmContact) -> ApplyResult:
    """Take what the CRM owns from ``contact``: the sales stage and tags if this version is newer
    than the one applied, and each communication record (by its id, newer versions win)."""
    link = _link_for(contact)
    if isinstance(link, str):
        return ApplyResult(False, link)
    client = link.client
    done: list[str] = []
    if link.crm_updated_at is None or contact.updated_at > link.crm_updated_at:
        stage, tags = contact.sales_stage[:60], [t[:60] for t in contact.tags]
        before = {"sales_stage": link.sales_stage, "tags": list(link.tags)}
        after = {"sales_stage": stage, "tags": tags}
        link.crm_updated_at = contact.updated_at
        if before != after:
            link.sales_stage, link.tags = stage, tags
            audit_record(action=AuditAction.CRM_CONTACT_SYNCED, subject=client, before=before, after=after)
            done.append(f"stage {link.sales_stage or '-'}, tags {', '.join(link.tags) or '-'}")
    link.last_pulled_at = timezone.now()
    link.save(update_fields=["sales_stage", "tags", "crm_updated_at", "last_pulled_at"])
    for record in contact.communications:
        outcome = _communication_upsert(client, record)
        if outcome:
            done.append(outcome)
    if not done:
        return ApplyResult(False, f"contact {contact.crm_id}: nothing newer than what is applied")
    return ApplyResult(True, f"contact {contact.crm_id}: " + "; ".join(done))


def _communication_upsert(client: Client, record: CrmCommunication) -> str:
    row = (
        CommunicationRow.objects.select_for_update()
        .select_related("interaction")
        .filter(external_id=record.external_id)
        .first()
    )
    title = f"{record.kind.capitalize()}: {record.subject}" if record.subject else record.kind.capitalize()
    if row is None:
        interaction = interaction_record(
            subject=client,
            channel="crm",
            title=title,
            body=record.body,
            author=f"CRM: {record.author}" if record.author else "CRM",
            occurred_at=record.occurred_at,
        )
        CommunicationRow.objects.create(
            external_id=record.external_id,
            client=client,
            interaction=interaction,
            crm_updated_at=record.updated_at,
        )
        audit_record(
            action=AuditAction.CRM_COMMUNICATION_RECORDED,
            subject=client,
            after={"record": record.external_id, "kind": record.kind, "interaction": interaction.pk},
        )
        return f"logged {record.kind} {record.external_id}"
    if row.client_id != client.pk or record.updated_at <= row.crm_updated_at:
        return ""
    interaction_revise(interaction=row.interaction, title=title, body=record.body)
    row.crm_updated_at = record.updated_at
    row.save(update_fields=["crm_updated_at"])
    audit_record(
        action=AuditAction.CRM_COMMUNICATION_RECORDED,
        subject=client,
        after={"record": record.external_id, "kind": record.kind, "interaction": row.interaction_id, "revised": True},
    )
    return f"revised {record.kind} {record.external_id}"


# The poll looks back this far before the newest change applied: what a lost webhook missed around
# it is fetched again (applying it twice changes nothing).
POLL_OVERLAP = timedelta(minutes=10)


def crm_poll(*, limit: int = 200) -> int:
    """Beat: the CRM's changes since the newest one applied (less the overlap), each applied in its
    own transaction. Returns how many changed something."""
    if not crm_configured():
        return 0
    newest = CrmLink.objects.aggregate(newest=Max("crm_updated_at"))["newest"]
    contacts = get_crm().list_changes(since=newest - POLL_OVERLAP if newest else None, limit=limit)
    applied = 0
    for contact in contacts:
        with transaction.atomic(durable=True):
            applied += crm_contact_apply(contact=contact).applied
    return applied
