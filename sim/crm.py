"""A simulated CRM for the demo and the tests (``CRM_BACKEND``), an ``accounts.crm.CRM``: the
adapter the back office calls (``SimulatedCrm``), and the CRM's own side — its contacts, sales
stages, tags and communication records in its own tables (``SimCrm*``), the changes its users make
(``contact_change``, from the page at /sim/crm/), and the signed notifications it then sends to the
back office by HTTP after commit. Faults (``SimCrmFault``) make it refuse calls, so failures are real.

Notifications are signed like SimPay's callbacks: header ``SimCRM-Signature: t=<unix>,v1=<hex>``,
v1 = HMAC-SHA256(secret, "<t>.<raw body>").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.crm import CrmCommunication, CrmContact, CrmError, CrmNotification, CrmSignatureError
from sim.models import SimCrmCommunication, SimCrmContact, SimCrmFault, SimCrmNotification, SimCrmUpsert

SIGNATURE_HEADER = "SimCRM-Signature"
STAGES = ["lead", "contacted", "qualified", "negotiation", "won", "lost", "dormant"]


def sign(payload: bytes, *, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(payload: bytes, header: str | None, *, secret: str, tolerance: int, now: float | None = None) -> int:
    if not header:
        raise CrmSignatureError("The SimCRM-Signature header is missing.")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not mac:
        raise CrmSignatureError("The SimCRM-Signature header is malformed.")
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        raise CrmSignatureError("The signature's timestamp is outside the tolerance window (a replay?).")
    expected = sign(payload, secret=secret, timestamp=int(timestamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, mac):
        raise CrmSignatureError("The signature does not match the payload.")
    return int(timestamp)


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


def contact_json(contact: SimCrmContact) -> dict[str, Any]:
    return {
        "crm_id": contact.crm_id,
        "external_id": contact.external_id,
        "fields": contact.fields,
        "sales_stage": contact.sales_stage,
        "tags": list(contact.tags),
        "updated_at": contact.updated_at.isoformat(),
        "communications": [
            {
                "id": c.record_id,
                "kind": c.kind,
                "subject": c.subject,
                "body": c.body,
                "author": c.author,
                "occurred_at": c.occurred_at.isoformat(),
                "updated_at": c.updated_at.isoformat(),
            }
            for c in contact.communications.order_by("occurred_at", "id")
        ],
    }


def contact_from_json(data: dict[str, Any]) -> CrmContact:
    if not isinstance(data.get("fields"), dict) or not isinstance(data.get("tags"), list):
        raise TypeError("contact.fields must be an object and contact.tags a list")
    return CrmContact(
        crm_id=str(data["crm_id"]),
        external_id=str(data["external_id"]),
        fields=data["fields"],
        sales_stage=str(data["sales_stage"]),
        tags=[str(t) for t in data["tags"]],
        updated_at=_when(str(data["updated_at"])),
        communications=[
            CrmCommunication(
                external_id=str(c["id"]),
                kind=str(c["kind"]),
                subject=str(c.get("subject", "")),
                body=str(c.get("body", "")),
                author=str(c.get("author", "")),
                occurred_at=_when(str(c["occurred_at"])),
                updated_at=_when(str(c["updated_at"])),
            )
            for c in data.get("communications", [])
        ],
    )


def _fault(operation: str) -> None:
    """Refuse the call when a fault is armed for it (used up in its own transaction)."""
    with transaction.atomic():
        fault = (
            SimCrmFault.objects.select_for_update()
            .filter(operation__in=[operation, "*"], remaining__gt=0)
            .order_by("id")
            .first()
        )
        if fault is None:
            return
        SimCrmFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
    raise CrmError(f"simulated CRM: {operation} refused (injected fault)")


class SimulatedCrm:
    """The back office's CRM in the demo and the tests."""

    signature_header = SIGNATURE_HEADER

    def upsert_contact(self, *, external_id: str, fields: dict[str, Any], idempotency_key: str) -> str:
        _fault("upsert_contact")
        with transaction.atomic():
            seen = SimCrmUpsert.objects.select_related("contact").filter(idempotency_key=idempotency_key).first()
            if seen is not None:
                return seen.contact.crm_id
            contact = SimCrmContact.objects.select_for_update().filter(external_id=external_id).first()
            if contact is None:
                contact = SimCrmContact.objects.create(
                    crm_id=f"pending-{secrets.token_hex(6)}", external_id=external_id, fields=fields
                )
                contact.crm_id = f"CRM-{100000 + contact.pk}"
            contact.fields = fields
            contact.save()  # the back office's own fields: no update time, no notification (it knows)
            SimCrmUpsert.objects.create(idempotency_key=idempotency_key, contact=contact, received=fields)
            return contact.crm_id

    def _contact(self, crm_id: str) -> SimCrmContact:
        contact = SimCrmContact.objects.filter(crm_id=crm_id).first()
        if contact is None:
            raise CrmError(f"simulated CRM: no contact {crm_id}")
        return contact

    def get_contact(self, crm_id: str) -> CrmContact:
        _fault("get_contact")
        return contact_from_json(contact_json(self._contact(crm_id)))

    def list_changes(self, *, since: datetime | None, limit: int = 200) -> list[CrmContact]:
        _fault("list_changes")
        rows = SimCrmContact.objects.order_by("updated_at", "id")
        if since is not None:
            rows = rows.filter(updated_at__gt=since)
        return [contact_from_json(contact_json(row)) for row in rows[:limit]]

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        verify(body, signature, secret=settings.CRM_WEBHOOK_SECRET, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS)

    def webhook_parse(self, body: bytes) -> CrmNotification:
        evt = json.loads(body)
        if not isinstance(evt, dict) or not isinstance(evt.get("data"), dict):
            raise TypeError("the notification is not an object with data")
        created = evt.get("created")
        if created is not None and (isinstance(created, bool) or not isinstance(created, int)):
            raise TypeError("created is not a whole number of Unix seconds")
        return CrmNotification(
            event_id=str(evt["id"])[:120],
            event_type=str(evt["type"])[:80],
            created=datetime.fromtimestamp(created, tz=UTC) if created is not None else None,
            contact=contact_from_json(evt["data"]["contact"]),
            payload=evt,
        )

    # --- test and demo controls (what the CRM's own users and operators do on their side) -----------

    @staticmethod
    def inject_fault(operation: str, *, times: int = 1) -> None:
        SimCrmFault.objects.create(operation=operation, remaining=times)


@transaction.atomic
def contact_change(
    *,
    crm_id: str,
    sales_stage: str | None = None,
    tags: list[str] | None = None,
    note: str = "",
    note_kind: str = "note",
    author: str = "sales",
    fields: dict[str, Any] | None = None,
    notify: bool = True,
) -> SimCrmNotification | None:
    """A CRM user changes a contact (stage, tags, a communication record; ``fields`` edits what the
    back office pushed, as a careless user might). The notification is sent after commit."""
    contact = SimCrmContact.objects.select_for_update().get(crm_id=crm_id)
    now = timezone.now()
    if sales_stage is not None:
        contact.sales_stage = sales_stage
    if tags is not None:
        contact.tags = tags
    if fields:
        contact.fields = {**contact.fields, **fields}
    if note:
        record = SimCrmCommunication.objects.create(
            record_id=f"pending-{secrets.token_hex(6)}",
            contact=contact,
            kind=note_kind,
            subject=note.splitlines()[0][:80],
            body=note,
            author=author,
            occurred_at=now,
            updated_at=now,
        )
        record.record_id = f"COM-{200000 + record.pk}"
        record.save(update_fields=["record_id"])
    contact.updated_at = now
    contact.save()
    return notification_queue(contact) if notify else None


def notification_queue(contact: SimCrmContact) -> SimCrmNotification:
    """Write the contact's change notification and send it once the change commits."""
    notification = SimCrmNotification.objects.create(
        event_id=f"evt_{secrets.token_hex(10)}", contact=contact, payload={}
    )
    notification.payload = {
        "id": notification.event_id,
        "type": "contact.updated",
        "created": int(time.time()),
        "data": {"contact": contact_json(contact)},
    }
    notification.save(update_fields=["payload"])
    from sim.tasks import simcrm_deliver_task

    pk = notification.pk
    transaction.on_commit(lambda: simcrm_deliver_task.delay(notification_id=pk))
    return notification


def signed(payload: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, sign(body, secret=secret or settings.CRM_WEBHOOK_SECRET, timestamp=timestamp or int(time.time()))


def post(body: bytes, signature: str, *, url: str | None = None) -> int:
    request = urllib.request.Request(  # noqa: S310 - the configured endpoint (http on loopback in the demo)
        url or settings.SIMCRM_WEBHOOK_URL,
        data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def notification_deliver(*, notification_id: int, url: str | None = None) -> int:
    """POST the signed notification to the back office, as the CRM would; returns the HTTP status
    (urllib.error.URLError when nobody answers)."""
    notification = SimCrmNotification.objects.get(pk=notification_id)
    body, signature = signed(notification.payload)
    status = post(body, signature, url=url)
    SimCrmNotification.objects.filter(pk=notification_id).update(
        attempts=F("attempts") + 1, last_status=status, delivered_at=timezone.now() if status < 300 else None
    )
    return status
