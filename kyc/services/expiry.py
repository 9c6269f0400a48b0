"""Document expiry and periodic review (Celery beat, daily).

- 60 and 30 days before an accepted document expires: a message to the client and a work item.
- On expiry without a valid replacement: the document is marked expired, an approved client is
  restricted by the system (audited), told why, and a re-KYC case opens.
- Periodic review by risk tier: high every year, medium every two, low every three.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.models import Client, ClientStatus
from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record
from kyc.models import Document, DocumentStatus
from kyc.requirements import REQUIRED

REMINDER_DAYS = (60, 30)
REVIEW_EVERY = {"high": timedelta(days=365), "medium": timedelta(days=730), "low": timedelta(days=1095)}


def documents_expiry_sweep(*, today: date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    counts = {"reminded": 0, "expired": 0}
    with acting_as(Actor.automation("kyc.expiry")):
        soon = Document.objects.filter(
            status=DocumentStatus.ACCEPTED,
            expiry_date__gte=today,
            expiry_date__lte=today + timedelta(days=max(REMINDER_DAYS)),
        )
        for document_id in soon.values_list("pk", flat=True):
            counts["reminded"] += _remind(document_id, today)
        expired = Document.objects.filter(status=DocumentStatus.ACCEPTED, expiry_date__lt=today)
        for document_id in expired.values_list("pk", flat=True):
            counts["expired"] += _expire(document_id, today)
    return counts


def _has_valid_replacement(document: Document, today: date) -> bool:
    return (
        Document.objects.filter(client_id=document.client_id, kind=document.kind, status=DocumentStatus.ACCEPTED)
        .exclude(pk=document.pk)
        .filter(Q(expiry_date__isnull=True) | Q(expiry_date__gt=document.expiry_date or today))
        .exists()
    )


@transaction.atomic
def _remind(document_id: int, today: date) -> int:
    from ops.services.interactions import client_notify
    from ops.services.work_items import work_item_open

    document = Document.objects.select_for_update().select_related("client").get(pk=document_id)
    if document.expiry_date is None or _has_valid_replacement(document, today):
        return 0
    days_left = (document.expiry_date - today).days
    due = [d for d in REMINDER_DAYS if days_left <= d and str(d) not in document.reminders]
    if not due:
        return 0
    step = min(due)  # one message per run, the most urgent that is due
    document.reminders = {**document.reminders, **{str(d): today.isoformat() for d in due}}
    document._change_reason = f"expiry reminder ({step} days)"  # type: ignore[attr-defined]
    document.save(update_fields=["reminders"])
    client = document.client
    client_notify(
        subject=client,
        recipient=client.email,
        template="kyc.document_expiring",
        context={"name": client.display_name, "document": document.get_kind_display(), "days": days_left,
                 "expiry": document.expiry_date.isoformat(), "reference": client.reference},
    )  # fmt: skip
    work_item_open(
        queue="kyc_exception",
        subject=document,
        title=f"{document.get_kind_display()} of {client.display_name} expires in {days_left} days",
        risk_level="medium" if step == 30 else "low",
        details={"client": client.reference, "expiry": document.expiry_date.isoformat()},
    )
    return 1


@transaction.atomic
def _expire(document_id: int, today: date) -> int:
    from accounts.services.clients import client_transition
    from ops.services.interactions import client_notify
    from ops.services.work_items import work_item_open

    document = Document.objects.select_for_update().select_related("client").get(pk=document_id)
    if document.status != DocumentStatus.ACCEPTED:
        return 0
    document.status = DocumentStatus.EXPIRED
    document._change_reason = "expired"  # type: ignore[attr-defined]
    document.save(update_fields=["status"])
    client = document.client
    audit_record(
        action=AuditAction.KYC_DOCUMENT_EXPIRED,
        subject=client,
        after={"document": document.pk, "kind": document.kind, "expiry": document.expiry_date},
    )
    if _has_valid_replacement(document, today) or document.kind not in REQUIRED[client.kind]:
        return 1
    if client.status == ClientStatus.APPROVED:
        client_transition(
            client_id=client.pk, name="restrict", actor=None,
            reason=f"{document.get_kind_display()} expired on {document.expiry_date} with no valid replacement",
        )  # fmt: skip
        client_notify(
            subject=client,
            recipient=client.email,
            template="kyc.document_expired_restricted",
            context={"name": client.display_name, "document": document.get_kind_display(),
                     "expiry": str(document.expiry_date), "reference": client.reference},
        )  # fmt: skip
    work_item_open(
        queue="kyc_review",
        subject=client,
        title=f"Re-KYC: {document.get_kind_display()} of {client.display_name} expired",
        risk_level="high",
        details={"client": client.reference, "document": document.pk, "reason": "document expired"},
    )
    return 1


def periodic_review_sweep(*, today: date | None = None) -> int:
    """Approved clients whose last assessment is older than their tier allows get a review item."""
    from ops.services.work_items import work_item_open

    today = today or timezone.localdate()
    opened = 0
    clients = Client.objects.filter(status__in=[ClientStatus.APPROVED, ClientStatus.RESTRICTED]).annotate(
        last=Max("risk_assessments__assessed_at")
    )
    with acting_as(Actor.automation("kyc.periodic_review")):
        for client in clients.iterator(chunk_size=500):
            period = REVIEW_EVERY.get(client.risk_level, REVIEW_EVERY["low"])
            last = client.last.date() if client.last else client.created_at.date()
            if last + period <= today:
                with transaction.atomic():
                    work_item_open(
                        queue="kyc_review",
                        subject=client,
                        title=f"Periodic review ({client.risk_level} risk): {client.display_name}",
                        risk_level=client.risk_level,
                        details={"last_assessed": last.isoformat(), "every_days": period.days},
                    )
                opened += 1
    return opened
