"""CRM sync, the nightly comparison: for each client linked to a CRM contact, what the CRM holds of
the fields the back office pushes against the back office's own values. Each disagreement opens a
work item (queue ``crm_mismatch``) with both values, one per client and field while it is open, and
the client is pushed again; a field that agrees again closes its item.

Balances (SNAPSHOT_FIELDS) move with every posting and are not pushed on each: for them the CRM must
hold the last snapshot it was sent, and the comparison refreshes it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.crm import CrmContact, CrmError, crm_configured, get_crm
from accounts.models import CrmLink, CrmMismatch
from accounts.services.crm import SNAPSHOT_FIELDS, crm_payload, crm_push_record
from audit.actions import AuditAction
from audit.services import audit_record
from ops.models import ResolutionCode

# A disagreement on these is the client's regulatory state shown wrongly to sales: more urgent.
STATE_FIELDS = ("status", "kyc_status", "risk_level")


def crm_compare(*, batch: int = 500) -> dict[str, int]:
    """Compare every linked client (beat, nightly). Returns counts: compared, disagreements, unreachable."""
    counts = {"compared": 0, "disagreements": 0, "unreachable": 0}
    if not crm_configured():
        return counts
    crm = get_crm()
    last = 0
    while True:
        links = list(CrmLink.objects.filter(crm_id__isnull=False, pk__gt=last).order_by("pk")[:batch])
        if not links:
            return counts
        for link in links:
            last = link.pk
            assert link.crm_id is not None
            try:
                contact = crm.get_contact(link.crm_id)
            except CrmError:
                counts["unreachable"] += 1
                continue
            counts["compared"] += 1
            counts["disagreements"] += len(crm_client_compare(link_id=link.pk, contact=contact))


@transaction.atomic(durable=True)
def crm_client_compare(*, link_id: int, contact: CrmContact) -> dict[str, tuple[Any, Any]]:
    """One client: returns its disagreements {field: (back office's value, the CRM's value)}."""
    from ops.services.work_items import work_item_open, work_item_resolve_for_subject

    link = CrmLink.objects.select_for_update().select_related("client").get(pk=link_id)
    client = link.client
    ours = crm_payload(client)
    disagreements: dict[str, tuple[Any, Any]] = {}
    refresh = False
    for field, value in ours.items():
        held = contact.fields.get(field)
        if field in SNAPSHOT_FIELDS:
            sent = link.last_pushed.get(field)
            if held != sent:
                disagreements[field] = (sent, held)
            elif held != value:
                refresh = True
        elif held != value:
            disagreements[field] = (value, held)
    now = timezone.now()
    open_rows = {m.field: m for m in CrmMismatch.objects.select_for_update().filter(client=client, closed_at=None)}
    for field, (value, held) in disagreements.items():
        row = open_rows.get(field)
        if row is None:
            row = CrmMismatch.objects.create(client=client, field=field, back_office_value=value, crm_value=held)
            audit_record(
                action=AuditAction.CRM_MISMATCH_FOUND,
                subject=client,
                after={"field": field, "back_office": value, "crm": held, "mismatch": row.pk},
            )
        elif (row.back_office_value, row.crm_value) != (value, held):
            row.back_office_value, row.crm_value = value, held
            row.save(update_fields=["back_office_value", "crm_value"])
        work_item_open(  # one open item per mismatch: an open one is returned as it is
            queue="crm_mismatch",
            subject=row,
            title=f"CRM shows {field} {_short(held)} for {client.display_name} ({client.reference}); "
            f"the back office has {_short(value)}",
            risk_level="medium" if field in STATE_FIELDS else "low",
            details={"client": client.reference, "field": field, "back_office": value, "crm": held},
        )
    for field, row in open_rows.items():
        if field not in disagreements:
            row.closed_at = now
            row.save(update_fields=["closed_at"])
            audit_record(
                action=AuditAction.CRM_MISMATCH_CLEARED, subject=client, after={"field": field, "mismatch": row.pk}
            )
            work_item_resolve_for_subject(
                queue="crm_mismatch", subject=row, code=ResolutionCode.FIXED, note="the CRM agrees again"
            )
    if disagreements or refresh:
        crm_push_record(client=client, reason="nightly comparison" if disagreements else "nightly balance refresh")
    return disagreements


def _short(value: Any) -> str:
    text = "empty" if value in (None, "", [], {}) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
