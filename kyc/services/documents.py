"""KYC documents: upload (content-checked, hashed, stored outside the web root) and review.

The happy path is automated: once a registered client has a document for every requirement it goes
to review and into the KYC review queue; a rejection sends the client back for documents with a
templated message; the replacement is linked to what it replaces and the client returns to review.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.capabilities import Capability, CapabilityDenied, client_require
from accounts.models import Client, ClientStatus
from accounts.selectors import client_is_visible_to
from accounts.services.clients import client_transition
from accounts.services.crm import crm_push_record
from audit.actions import AuditAction
from audit.context import Actor, acting_as, current_actor
from audit.services import audit_record
from kyc import errors
from kyc.errors import KycError
from kyc.models import Document, DocumentKind, DocumentStatus, RejectionReason
from kyc.requirements import REQUIRED, allowed_kinds
from kyc.selectors import rejection_for_client
from kyc.services.files import CheckedFile, check_upload
from kyc.services.identity import identity_check_open, identity_check_wanted, identity_exceptions_settle
from ops.events import EventType
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.events import event_publish
from ops.services.followups import followups_subject_event

# --- who may do what with a document: read by this service, the client 360 and the review screen


def _in_scope(actor: User, client: Client) -> Decision:
    return ALLOWED if client_is_visible_to(actor, client) else deny(errors.OUT_OF_SCOPE)


def document_can_upload(actor: User, client: Client) -> Decision:
    if not actor.has_perm("ops.manage_clients"):
        return deny(errors.NOT_ALLOWED.format(verb="upload documents"))
    return _in_scope(actor, client)


def document_can_open_file(actor: User, document: Document) -> Decision:
    """Open the identity document itself (its bytes): compliance and the auditor, within scope."""
    if not actor.has_perm("ops.view_identity_documents"):
        return deny(errors.FILE_NOT_ALLOWED)
    return _in_scope(actor, document.client)


def document_can_review(actor: User, document: Document) -> Decision:
    """Accept or reject a pending document."""
    if not actor.has_perm("ops.review_documents"):
        return deny(errors.NOT_ALLOWED.format(verb="review documents"))
    scope = _in_scope(actor, document.client)
    if not scope:
        return scope
    if document.status != DocumentStatus.PENDING:
        return deny(errors.NOT_PENDING.format(status=document.get_status_display().lower()))
    return ALLOWED


def document_upload(
    *,
    client_id: int,
    kind: str,
    upload: UploadedFile,
    actor: User | None,
    number: str = "",
    issue_date: date | None = None,
    expiry_date: date | None = None,
) -> Document:
    """Store a document for review. ``actor`` None means the client's own channel (the client-area
    API), where the client's status must allow uploads (``accounts.capabilities``)."""
    if actor is not None:
        document_can_upload(actor, Client.objects.get(pk=client_id)).require(KycError)
    else:
        try:
            client_require(Client.objects.get(pk=client_id), Capability.UPLOAD_DOCUMENTS)
        except CapabilityDenied as exc:
            raise KycError(str(exc), "client", status=409) from None
    if issue_date and expiry_date and expiry_date <= issue_date:
        raise KycError(errors.EXPIRY_BEFORE_ISSUE, "expiry_date")
    if expiry_date and expiry_date <= timezone.localdate():
        raise KycError(errors.ALREADY_EXPIRED.format(date=expiry_date.isoformat()), "expiry_date")
    checked = check_upload(upload)
    stored: list[str] = []
    try:
        with transaction.atomic():
            return _store(client_id, kind, upload, checked, stored, number, issue_date, expiry_date)
    except BaseException:
        for name in stored:  # the row rolled back: leave no orphan file
            Document.file.field.storage.delete(name)
        raise


def _store(
    client_id: int,
    kind: str,
    upload: UploadedFile,
    checked: CheckedFile,
    stored: list[str],
    number: str,
    issue_date: date | None,
    expiry_date: date | None,
) -> Document:
    client = Client.objects.select_for_update().get(pk=client_id)
    if kind not in allowed_kinds(client.kind):
        raise KycError(
            errors.KIND_NOT_FOR_CLIENT.format(kind=DocumentKind(kind).label if kind in DocumentKind.values else kind)
        )
    previous = (
        Document.objects.select_for_update(of=("self",))
        .filter(client=client, kind=kind, status=DocumentStatus.REJECTED, replaced_by__isnull=True)
        .order_by("-uploaded_at")
        .first()
    )
    actor = current_actor()
    document = Document(
        client=client,
        kind=kind,
        original_name=(upload.name or "upload")[:200],
        content_type=checked.content_type,
        size=upload.size or 0,
        sha256=checked.sha256,
        number=number,
        issue_date=issue_date,
        expiry_date=expiry_date,
        replaces=previous,
        uploaded_by=actor.label if actor else "client",
    )
    # The original is kept as the evidence of what was sent; reviewers see the re-encoded copy.
    document.file.save(f"{kind}", upload, save=False)
    stored.append(document.file.name)
    if checked.view is not None:
        document.view_file.save(f"{kind}-view", ContentFile(checked.view), save=False)
        stored.append(document.view_file.name)
    document._change_reason = "uploaded"  # type: ignore[attr-defined]
    document.save()
    if previous is not None:
        previous.status = DocumentStatus.SUPERSEDED
        previous._change_reason = f"replaced by document {document.pk}"  # type: ignore[attr-defined]
        previous.save(update_fields=["status"])
    audit_record(
        action=AuditAction.KYC_DOCUMENT_UPLOADED,
        subject=client,
        after={"document": document.pk, "kind": kind, "sha256": checked.sha256, "size": document.size,
               "content_type": checked.content_type, "view_copy": checked.view is not None,
               "replaces": previous.pk if previous else None},
    )  # fmt: skip
    if identity_check_wanted(document):  # the provider checks it; a person still decides
        identity_check_open(document=document, reason="document uploaded")
    # The client acted: the follow-ups asking for documents stop (ops.followups), before the
    # client may move on to review.
    followups_subject_event(subject=client, event="kyc.document_uploaded")
    _advance_client(client)
    crm_push_record(client=client, reason="document uploaded")  # the KYC status may have moved
    return document


def _advance_client(client: Client) -> None:
    """Registered with everything uploaded -> review; waiting for documents with every rejected
    one replaced -> back to review. Either way the client lands in the KYC review queue."""
    from ops.services.work_items import work_item_open

    outstanding = _outstanding(client)
    if outstanding:
        return
    if client.status not in (ClientStatus.REGISTERED, ClientStatus.PENDING_DOCUMENTS):
        return
    from kyc.services.risk import risk_assess

    # The automation moves the client on (the upload that triggered it is audited under its uploader).
    with acting_as(Actor.automation("kyc.documents_complete")):
        if client.status == ClientStatus.REGISTERED:
            client_transition(
                client_id=client.pk, name="submit_for_review", actor=None, reason="all documents uploaded"
            )
        else:
            client_transition(client_id=client.pk, name="resubmit", actor=None, reason="replacement documents uploaded")
        risk_assess(client_id=client.pk)
    from kyc.tasks import client_screen_task

    transaction.on_commit(lambda: client_screen_task.delay(client_id=client.pk))  # screening on onboarding
    client.refresh_from_db()
    work_item_open(
        queue="kyc_review",
        subject=client,
        title=f"KYC review: {client.display_name} ({client.reference})",
        risk_level=client.risk_level,
        details={"documents": Document.objects.filter(client=client, status=DocumentStatus.PENDING).count()},
    )


def _outstanding(client: Client) -> list[str]:
    """Required kinds with no pending or accepted document."""
    have = set(
        Document.objects.filter(
            client=client, status__in=[DocumentStatus.PENDING, DocumentStatus.ACCEPTED]
        ).values_list("kind", flat=True)
    )
    return [k for k in REQUIRED[client.kind] if k not in have]


@transaction.atomic(durable=True)
def document_review(*, document_id: int, reviewer: User, accept: bool, reason_code: str = "", note: str) -> Document:
    """Accept, or reject with a reason code. Decisions need a rationale."""
    return document_review_apply(
        document_id=document_id, reviewer=reviewer, accept=accept, reason_code=reason_code, note=note
    )


@transaction.atomic
def document_review_apply(
    *, document_id: int, reviewer: User, accept: bool, reason_code: str = "", note: str
) -> Document:
    """The review inside the caller's transaction: an agent's proposed decision carried out when a
    compliance officer approves it (the officer is the reviewer, with the same checks)."""
    from ops.services.interactions import client_notify

    document = Document.objects.select_for_update().select_related("client").get(pk=document_id)
    document_can_review(reviewer, document).require(KycError)
    note = (note or "").strip()
    if not note:
        raise KycError(errors.RATIONALE_REQUIRED)
    if not accept:
        if not reason_code:
            raise KycError(errors.REASON_CODE_REQUIRED)
        reason = RejectionReason(reason_code)
    document.status = DocumentStatus.ACCEPTED if accept else DocumentStatus.REJECTED
    document.rejection_reason = "" if accept else reason
    document.review_note = note
    document.reviewed_at = timezone.now()
    document.reviewed_by = reviewer
    document._change_reason = note  # type: ignore[attr-defined]
    document.save()
    client = document.client
    audit_record(
        action=AuditAction.KYC_DOCUMENT_ACCEPTED if accept else AuditAction.KYC_DOCUMENT_REJECTED,
        subject=client,
        before={"document": document.pk, "status": DocumentStatus.PENDING},
        after={"document": document.pk, "status": document.status, "reason": document.rejection_reason},
        reason=note,
    )
    event_publish(type=EventType.KYC_DOCUMENT_REVIEWED, subject=document, data=_reviewed_event_data(document))
    identity_exceptions_settle(document=document, reviewer=reviewer, note=note)
    crm_push_record(client=client, reason=f"document {document.status}")  # the KYC status may have moved
    if not accept:
        if client.status == ClientStatus.PENDING_REVIEW:
            client_transition(  # closes the client's KYC review item too
                client_id=client.pk,
                name="request_documents",
                actor=reviewer,
                reason=f"{document.get_kind_display()} rejected: {reason.label}",
            )
        client_notify(
            subject=client,
            recipient=client.email,
            template="kyc.document_rejected",
            context=_rejection_context(client, document, reason, note),
        )
    return document


def _reviewed_event_data(document: Document) -> dict[str, Any]:
    """The ``kyc.document_reviewed`` event's data (the reviewer's note stays inside)."""
    return {
        "client": document.client.reference,
        "client_id": document.client_id,
        "document_id": document.pk,
        "kind": document.kind,
        "status": document.status,
        "rejection_reason": document.rejection_reason,
    }


def _rejection_context(client: Client, document: Document, reason: RejectionReason, note: str) -> dict[str, Any]:
    told = rejection_for_client(document)
    return {
        "name": client.display_name,
        "document": document.get_kind_display(),
        "reason": reason.label,
        "note": told.note,
        "reference": client.reference,
    }
