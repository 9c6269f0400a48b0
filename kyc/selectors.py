from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.models import Client
from kyc.models import Document, DocumentKind, DocumentStatus, RejectionReason
from kyc.requirements import REQUIRED

EXPIRING_WITHIN = timedelta(days=60)


@dataclass(frozen=True)
class ChecklistRow:
    kind: DocumentKind
    state: str  # missing, pending, accepted, rejected, expiring
    document: Document | None


def kyc_checklist(client: Client) -> list[ChecklistRow]:
    """What is missing, pending, accepted, rejected or expiring, per required document."""
    latest: dict[str, Document] = {}
    for uploaded in (
        Document.objects.filter(client=client).exclude(status=DocumentStatus.SUPERSEDED).order_by("uploaded_at")
    ):
        latest[uploaded.kind] = uploaded
    soon = timezone.localdate() + EXPIRING_WITHIN
    rows = []
    for kind in REQUIRED[client.kind]:
        doc: Document | None = latest.get(kind)
        if doc is None:
            state = "missing"
        elif doc.status == DocumentStatus.ACCEPTED and doc.expiry_date and doc.expiry_date <= soon:
            state = "expiring"
        else:
            state = str(doc.status)
        rows.append(ChecklistRow(DocumentKind(kind), state, doc))
    return rows


def client_documents(client: Client) -> list[Document]:
    return list(
        Document.objects.filter(client=client).select_related("reviewed_by", "replaces").order_by("-uploaded_at")
    )


def kyc_status(client: Client) -> str:
    """The client's KYC in one word (what the CRM is told): verified (every required document
    accepted), rejected (one was rejected), in_review (all uploaded, some not yet reviewed), or
    documents_missing."""
    states = {row.state for row in kyc_checklist(client)}
    if "rejected" in states:
        return "rejected"
    if "missing" in states:
        return "documents_missing"
    if "pending" in states:
        return "in_review"
    return "verified"


@dataclass(frozen=True)
class ClientRejection:
    """Why a document was rejected, as the client is told (the message and the client area): the
    reason's label, and the reviewer's note only when the reason is "other" — otherwise the note is
    the internal rationale and stays inside."""

    reason: str
    note: str


def rejection_for_client(document: Document) -> ClientRejection:
    if not document.rejection_reason:
        return ClientRejection("", "")
    reason = RejectionReason(document.rejection_reason)
    return ClientRejection(reason.label, document.review_note if reason == RejectionReason.OTHER else "")
