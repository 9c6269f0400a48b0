from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Client
from kyc.models import Document, DocumentKind, DocumentStatus, IdentityCheck, RejectionReason
from kyc.requirements import REQUIRED

EXPIRING_WITHIN = timedelta(days=60)


@dataclass(frozen=True)
class ChecklistRow:
    kind: DocumentKind
    state: str  # missing, pending, accepted, rejected, expiring
    document: Document | None
    identity: IdentityCheck | None = None  # the provider's latest check of the document, if any


def kyc_checklist(client: Client) -> list[ChecklistRow]:
    """What is missing, pending, accepted, rejected or expiring, per required document."""
    latest: dict[str, Document] = {}
    for uploaded in (
        Document.objects.filter(client=client).exclude(status=DocumentStatus.SUPERSEDED).order_by("uploaded_at")
    ):
        latest[uploaded.kind] = uploaded
    checks: dict[int, IdentityCheck] = {}
    for check in IdentityCheck.objects.filter(document__in=[d.pk for d in latest.values()]).order_by(
        "document_id", "-requested_at", "-id"
    ):
        checks.setdefault(check.document_id, check)
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
        rows.append(ChecklistRow(DocumentKind(kind), state, doc, checks.get(doc.pk) if doc else None))
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


@dataclass(frozen=True)
class EvidenceRow:
    label: str
    on_document: str
    in_profile: str
    differs: bool


def identity_evidence_rows(check: IdentityCheck) -> list[EvidenceRow]:
    """What the provider read off the document beside what the back office holds, for the review
    screen; a field the comparison found different is marked."""
    client, document, read = check.client, check.document, check.extracted or {}
    differs = {m["field"] for m in check.mismatches or []}
    name = " ".join(v for v in (read.get("first_name", ""), read.get("last_name", "")) if v)
    return [
        EvidenceRow("Name", name, f"{client.first_name} {client.last_name}".strip(), "name" in differs),
        EvidenceRow(
            "Date of birth",
            read.get("date_of_birth", ""),
            client.date_of_birth.isoformat() if client.date_of_birth else "",
            "date_of_birth" in differs,
        ),
        EvidenceRow("Document number", read.get("document_number", ""), document.number, False),
        EvidenceRow(
            "Expires",
            read.get("expiry_date", ""),
            document.expiry_date.isoformat() if document.expiry_date else "",
            False,
        ),
    ]


def documents_evidence_part(client: Any, subjects: set[tuple[str, str]]) -> Any:
    """The evidence pack's KYC documents: each with its SHA-256 (of the bytes as uploaded), its
    review and every version of its record; the risk assessments and screening hits."""
    from audit.evidence import EvidencePart, history_rows
    from kyc.models import Document, RiskAssessment, ScreeningHit

    documents = list(Document.objects.filter(client=client).order_by("uploaded_at", "id"))
    hits = list(ScreeningHit.objects.filter(client=client).order_by("id"))
    return EvidencePart(
        files={
            "documents.json": [
                {
                    "id": d.pk,
                    "kind": d.get_kind_display(),
                    "file": d.original_name,
                    "sha256": d.sha256,
                    "size": d.size,
                    "status": d.get_status_display(),
                    "rejection_reason": d.get_rejection_reason_display(),
                    "review_note": d.review_note,
                    "uploaded_at": d.uploaded_at,
                    "uploaded_by": d.uploaded_by,
                    "reviewed_at": d.reviewed_at,
                    "reviewed_by": d.reviewed_by.get_username() if d.reviewed_by else None,
                    "expiry_date": d.expiry_date,
                }
                for d in documents
            ],
            "documents_history.json": [
                row for d in documents for row in history_rows(d.history.order_by("history_id"))
            ],
            "risk_assessments.json": [
                {f.attname: getattr(r, f.attname) for f in r._meta.concrete_fields}
                for r in RiskAssessment.objects.filter(client=client).order_by("id")
            ],
            "screening_hits.json": [{f.attname: getattr(h, f.attname) for f in h._meta.concrete_fields} for h in hits],
        },
        subjects={("kyc.document", str(d.pk)) for d in documents} | {("kyc.screeninghit", str(h.pk)) for h in hits},
    )
