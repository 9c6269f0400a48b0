"""CRM sync, push side: what the back office owns leaves for the CRM, and only what the allow-list
names.

Field ownership. The back office owns the client's status, KYC status, risk level and balances (and
the identity fields it pushes with them); the CRM owns the sales stage, tags and communication
records (``accounts.services.crm_inbound``). A field the back office owns is never taken from the
CRM; one the CRM owns is never pushed.

Allow-list. ``settings.CRM_PUSH_FIELDS`` names what may leave, out of ``CRM_FIELDS``; the payload is
built field by field from that list, so nothing else (date of birth, address, phone, documents...)
can leave by accident.

Durability. ``crm_push_record`` is called in the transaction of the change (at its audit point) and
writes the payload to the shared outbox (an ``ops.OutboxEvent`` of the internal type
``crm.contact_push``, which no webhook endpoint and no API reader gets) with the CRM consumer's
delivery row for it (``CrmPush``); after commit a task delivers it (``crm_push_deliver``), and beat's
resend delivers what a lost task left.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from accounts import errors
from accounts.crm import CrmError, crm_configured, get_crm
from accounts.models import Client, CrmLink, CrmPush, CrmPushStatus
from accounts.services.retention import register_pseudonymise_hook
from audit.actions import AuditAction
from audit.history import bulk_update_audited, history_pseudonymise, register_pseudonymisable
from audit.services import audit_record
from ops.events import InternalEventType
from ops.models import OutboxEvent
from ops.services.events import event_publish

# Every field the back office can push; CRM_PUSH_FIELDS picks from these.
_CLIENT_FIELDS: dict[str, Callable[[Client], Any]] = {
    "reference": lambda c: c.reference,
    "kind": lambda c: c.kind,
    "first_name": lambda c: c.first_name,
    "last_name": lambda c: c.last_name,
    "legal_name": lambda c: c.legal_name,
    "email": lambda c: c.email,
    "phone": lambda c: c.phone,
    "country": lambda c: str(c.country.code or "") if c.country else "",
    "status": lambda c: c.status,
    "risk_level": lambda c: c.risk_level,
}
# ... and those the apps above provide (kyc: kyc_status; payments: balances), registered in their
# AppConfig.ready.
PROVIDED_FIELDS = ("kyc_status", "balances")
CRM_FIELDS = (*_CLIENT_FIELDS, *PROVIDED_FIELDS)
# Moving all day with every posting, pushed with each change and refreshed nightly: the comparison
# checks that the CRM holds the last snapshot it was sent, not today's figure.
SNAPSHOT_FIELDS = ("balances",)
# A push still refused this long after it was recorded is given up (failed) and a person is told;
# until then the task's retries and beat's resend (every minute) keep trying.
GIVE_UP_AFTER = timedelta(days=1)

FieldProvider = Callable[[Client], Any]
_providers: dict[str, FieldProvider] = {}


def register_crm_field(name: str, provider: FieldProvider) -> FieldProvider:
    """An app above accounts provides one of PROVIDED_FIELDS: ``provider(client)`` -> a JSON value."""
    if name not in PROVIDED_FIELDS:
        raise ImproperlyConfigured(f"{name!r} is not a CRM field an app may provide ({', '.join(PROVIDED_FIELDS)})")
    _providers[name] = provider
    return provider


def crm_push_fields() -> tuple[str, ...]:
    fields = tuple(settings.CRM_PUSH_FIELDS)
    unknown = [f for f in fields if f not in CRM_FIELDS]
    if unknown:
        raise ImproperlyConfigured(
            errors.CRM_UNKNOWN_FIELDS.format(fields=", ".join(unknown), possible=", ".join(CRM_FIELDS))
        )
    return fields


def crm_payload(client: Client) -> dict[str, Any]:
    """Exactly the allow-listed fields of the client, as the CRM is sent them."""
    payload: dict[str, Any] = {}
    for name in crm_push_fields():
        provider = _CLIENT_FIELDS.get(name) or _providers.get(name)
        if provider is not None:  # a provided field whose app is not installed is left out
            payload[name] = provider(client)
    return payload


def crm_push_record(*, client: Client, reason: str) -> CrmPush | None:
    """In the transaction of a change to what the back office owns: record the push (the payload as
    it is now) in the outbox, and deliver it after commit. Nothing when no CRM is configured."""
    if not crm_configured():
        return None
    CrmLink.objects.get_or_create(client=client)
    event = event_publish(type=InternalEventType.CRM_CONTACT_PUSH, subject=client, data=crm_payload(client))
    push = CrmPush.objects.create(client=client, event=event, reason=reason[:120])
    from accounts.tasks import crm_push_deliver_task

    client_id = client.pk
    transaction.on_commit(lambda: crm_push_deliver_task.delay(client_id=client_id))
    return push


def crm_push_deliver(*, client_id: int) -> str:
    """Deliver the client's newest pending push (the older pending ones are superseded by it). The
    client's CrmLink row is locked for the call: deliveries of one client are one at a time, so an
    older payload can never overwrite a newer one in the CRM. Raises CrmError (the attempt counted)
    for the caller to retry; the push's key makes a retry after a lost answer apply nothing twice."""
    crm = get_crm()
    failure: CrmError | None = None
    with transaction.atomic(durable=True):
        link = CrmLink.objects.select_for_update().select_related("client").filter(client_id=client_id).first()
        if link is None:
            return "nothing to push"
        pending = list(
            CrmPush.objects.select_for_update(of=("self",))
            .select_related("event")
            .filter(client_id=client_id, status=CrmPushStatus.PENDING)
            .order_by("id")
        )
        if not pending:
            return "nothing to push"
        latest = pending[-1]
        latest.attempts += 1
        try:
            crm_id = crm.upsert_contact(
                external_id=link.client.reference, fields=latest.event.data, idempotency_key=str(latest.key)
            )
        except CrmError as exc:
            failure = exc
            latest.last_error = str(exc)[:300]
            if latest.created_at < timezone.now() - GIVE_UP_AFTER:
                _give_up(link.client, latest, exc)
            latest.save(update_fields=["attempts", "last_error", "status"])
        else:
            now = timezone.now()
            for push in pending:
                push.status = CrmPushStatus.SENT if push is latest else CrmPushStatus.SUPERSEDED
                push.sent_at = now
            bulk_update_audited(pending, CrmPush, ["status", "sent_at", "attempts"])
            link.crm_id = crm_id
            link.last_pushed_at = now
            link.last_pushed = latest.event.data
            link.save(update_fields=["crm_id", "last_pushed_at", "last_pushed"])
    if failure is not None:
        raise failure
    return "sent"


def _give_up(client: Client, push: CrmPush, exc: Exception) -> None:
    from ops.services.work_items import work_item_open

    push.status = CrmPushStatus.FAILED
    audit_record(
        action=AuditAction.CRM_PUSH_FAILED,
        subject=client,
        after={"push": str(push.key), "attempts": push.attempts, "error": str(exc)[:300]},
    )
    work_item_open(
        queue="crm_mismatch",
        subject=push,
        title=f"Could not push {client.display_name} ({client.reference}) to the CRM",
        risk_level="medium",
        details={
            "error": errors.CRM_PUSH_GAVE_UP.format(attempts=push.attempts, reference=client.reference, error=exc)
        },
    )


def crm_pushes_resend(*, older_than: timedelta = timedelta(minutes=1), limit: int = 100) -> dict[str, int]:
    """Beat: deliver the pushes still pending a while after their commit (their task was lost, or
    ran out of retries while the CRM was down). Returns how many clients were sent or failed."""
    if not crm_configured():
        return {"sent": 0, "failed": 0}
    client_ids = list(
        CrmPush.objects.filter(status=CrmPushStatus.PENDING, created_at__lt=timezone.now() - older_than)
        .values_list("client_id", flat=True)
        .distinct()
        .order_by("client_id")[:limit]
    )
    counts = {"sent": 0, "failed": 0}
    for client_id in client_ids:
        try:
            crm_push_deliver(client_id=client_id)
            counts["sent"] += 1
        except CrmError:
            counts["failed"] += 1
    return counts


# --- retention: what was pushed is personal data too ----------------------------------------------
register_pseudonymisable(CrmLink, ("last_pushed",))


def crm_pseudonymise(client: Client) -> dict[str, int]:
    """In the retention job's transaction, once the client is pseudonymised: the pushes' outbox
    events are emptied (the outbox keeps no history), and the pseudonymised record is pushed, so the
    CRM forgets the person too."""
    emptied = OutboxEvent.objects.filter(
        type=InternalEventType.CRM_CONTACT_PUSH, subject_type="accounts.client", subject_id=str(client.pk)
    ).update(data={})
    rows = 0
    link = CrmLink.objects.filter(client=client).first()
    if link is not None:
        link.last_pushed = {}
        link.save(update_fields=["last_pushed"])
        rows += history_pseudonymise(CrmLink, [link.pk], {"last_pushed": {}})
        crm_push_record(client=client, reason="pseudonymised")
    return {"crm_pushes_emptied": emptied, "crm_history_rows": rows}


register_pseudonymise_hook(crm_pseudonymise)
