"""Identity verification by the provider (``kyc.identity``): documents are checked automatically,
and a person looks only at the exceptions (seed 004) - but decides every document.

After an upload of a checked kind (``IDENTITY_CHECK_KINDS``) a check is recorded and, after
commit, a worker sends the document and the profile to the provider (retried with backoff; out of
retries, a work item). The provider's signed result arrives at ``/webhooks/identity/``: verified and
stored as it came (a bad signature stores nothing), unique by the provider's check id (a repeated
delivery is counted, not applied again), then processed: the evidence (result, risk score, what it
read, where that differs from the profile) is kept on the check and shown beside the document, the
provider's score becomes a factor of the client's risk score, and a mismatch or a failed check opens
a KYC exception work item. A clean result decides nothing: the reviewer still accepts or rejects.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Client
from accounts.selectors import client_is_visible_to
from audit.actions import AuditAction
from audit.context import Actor, acting_as, current_actor
from audit.services import audit_record
from kyc import errors
from kyc.errors import KycError
from kyc.identity import (
    IdentityApplicant,
    IdentityCheckOutcome,
    IdentityDocumentSubmission,
    IdentitySignatureError,
    get_identity_verifier,
    identity_verifier_configured,
)
from kyc.models import (
    Document,
    DocumentKind,
    DocumentStatus,
    IdentityCheck,
    IdentityCheckStatus,
    IdentityInboundResult,
    IdentityInboundStatus,
    IdentityResult,
)
from ops.events import EventType
from ops.models import ResolutionCode, RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.events import event_publish

# A check still with the provider after this long may be requested again (its result was lost).
IN_FLIGHT = timedelta(minutes=15)
CHECKED_STATUSES = (DocumentStatus.PENDING, DocumentStatus.ACCEPTED)


def identity_check_wanted(document: Document) -> bool:
    """Whether an upload of this document is sent to the provider."""
    return identity_verifier_configured() and document.kind in settings.IDENTITY_CHECK_KINDS


def identity_check_can_request(actor: User, document: Document) -> Decision:
    """Request the provider's check of a document again (staff, from the document page)."""
    if not actor.has_perm("ops.review_documents"):
        return deny(errors.NOT_ALLOWED.format(verb="request identity checks"))
    if not client_is_visible_to(actor, document.client):
        return deny(errors.OUT_OF_SCOPE)
    if not identity_verifier_configured():
        return deny(errors.IDV_NOT_CONFIGURED)
    if document.kind not in settings.IDENTITY_CHECK_KINDS:
        return deny(errors.IDV_KIND_NOT_CHECKED.format(kind=DocumentKind(document.kind).label))
    if document.status not in CHECKED_STATUSES:
        return deny(errors.IDV_DOCUMENT_NOT_CURRENT.format(status=document.get_status_display().lower()))
    latest = identity_check_latest(document)
    if (
        latest is not None
        and latest.status in (IdentityCheckStatus.REQUESTED, IdentityCheckStatus.SUBMITTED)
        and latest.requested_at > timezone.now() - IN_FLIGHT
    ):
        return deny(errors.IDV_IN_FLIGHT.format(when=timezone.localtime(latest.requested_at).strftime("%H:%M")))
    return ALLOWED


def identity_check_latest(document: Document) -> IdentityCheck | None:
    return document.identity_checks.order_by("-requested_at", "-id").first()


@transaction.atomic
def identity_check_open(*, document: Document, reason: str) -> IdentityCheck:
    """Record a check of ``document`` and send it to the provider after commit (composed: the
    upload, or a request by staff)."""
    from kyc.tasks import identity_check_submit_task

    actor = current_actor()
    check = IdentityCheck.objects.create(
        document=document,
        client_id=document.client_id,
        reference=f"idv_{uuid.uuid4().hex[:24]}",
        provider=get_identity_verifier().name,
        requested_by=actor.label if actor else "system",
    )
    audit_record(
        action=AuditAction.KYC_IDENTITY_CHECK_REQUESTED,
        subject=document.client,
        after={"document": document.pk, "check": check.reference, "provider": check.provider},
        reason=reason,
    )
    pk = check.pk
    transaction.on_commit(lambda: identity_check_submit_task.delay(check_id=pk))
    return check


@transaction.atomic(durable=True)
def identity_check_request(*, document_id: int, actor: User, reason: str) -> IdentityCheck:
    """Staff ask the provider to check a document again (a lost or failed check, a new scan of the
    same file): audited with the reason; an open "check not completed" item of it is closed."""
    from ops.services.work_items import work_item_resolve_for_subject

    document = Document.objects.select_for_update().select_related("client").get(pk=document_id)
    identity_check_can_request(actor, document).require(KycError)
    reason = (reason or "").strip()
    if not reason:
        raise KycError(errors.IDV_REASON_REQUIRED, "reason")
    for earlier in document.identity_checks.filter(status=IdentityCheckStatus.PROVIDER_FAILED):
        work_item_resolve_for_subject(
            queue="identity_check_failure",
            subject=earlier,
            code=ResolutionCode.FIXED,
            note=f"check requested again by {actor.username}: {reason}",
        )
    return identity_check_open(document=document, reason=reason)


def identity_exceptions_settle(*, document: Document, reviewer: User, note: str) -> int:
    """The reviewer decided the document: the KYC exception items its identity checks opened are
    closed with the decision (composed into ``document_review``). Returns how many were closed."""
    from ops.services.work_items import work_item_resolve_for_subject

    accepted = document.status == DocumentStatus.ACCEPTED
    closed = 0
    for check in document.identity_checks.all():
        item = work_item_resolve_for_subject(
            queue="kyc_exception",
            subject=check,
            code=ResolutionCode.APPROVED if accepted else ResolutionCode.REJECTED,
            note=f"{document.get_kind_display()} {document.get_status_display().lower()} by {reviewer.username}: {note}",
        )
        closed += item is not None
    return closed


# --- sending the check (a worker, with retries) --------------------------------------------------


def identity_check_submit(*, check_id: int) -> IdentityCheck:
    """Send a requested check to the provider (the worker's task). Provider failures propagate
    (IdentityProviderError) for the task to retry; the request carries our reference, so a retry
    after a timeout finds the check the provider already made."""
    from kyc.identity import IdentityProviderError

    with transaction.atomic(durable=True):
        check = IdentityCheck.objects.select_for_update().select_related("document", "client").get(pk=check_id)
        if check.status != IdentityCheckStatus.REQUESTED:
            return check
        check.attempts += 1
        check.save(update_fields=["attempts"])
    document, client = check.document, check.client
    with document.file.open("rb") as handle:
        content = handle.read()
    try:
        provider_check_id = get_identity_verifier().request_check(
            reference=check.reference,
            applicant=IdentityApplicant(
                reference=client.reference,
                first_name=client.first_name,
                last_name=client.last_name,
                date_of_birth=client.date_of_birth,
                nationality=str(client.nationality or ""),
            ),
            document=IdentityDocumentSubmission(
                kind=document.kind, filename=document.original_name, content_type=document.content_type,
                content=content, sha256=document.sha256, number=document.number, expiry_date=document.expiry_date,
            ),
        )  # fmt: skip
    except IdentityProviderError as exc:
        IdentityCheck.objects.filter(pk=check.pk).update(last_error=str(exc)[:300])
        raise
    with transaction.atomic(durable=True):
        check = IdentityCheck.objects.select_for_update().select_related("client").get(pk=check_id)
        if check.status in (IdentityCheckStatus.REQUESTED, IdentityCheckStatus.PROVIDER_FAILED):
            check.status = IdentityCheckStatus.SUBMITTED
            check.provider_check_id = check.provider_check_id or provider_check_id
            check.submitted_at = timezone.now()
            check.last_error = ""
            check.save(update_fields=["status", "provider_check_id", "submitted_at", "last_error"])
            audit_record(
                action=AuditAction.KYC_IDENTITY_CHECK_SUBMITTED,
                subject=check.client,
                after={"document": check.document_id, "check": check.reference, "provider_check": provider_check_id,
                       "attempts": check.attempts},
            )  # fmt: skip
        return check


@transaction.atomic(durable=True)
def identity_check_give_up(*, check_id: int, error: str) -> IdentityCheck:
    """Out of retries: the check is marked so and lands in the "check not completed" queue."""
    from ops.services.work_items import work_item_open

    check = IdentityCheck.objects.select_for_update().select_related("document", "client").get(pk=check_id)
    if check.status != IdentityCheckStatus.REQUESTED:
        return check
    check.status = IdentityCheckStatus.PROVIDER_FAILED
    check.last_error = error[:300]
    check.save(update_fields=["status", "last_error"])
    client = check.client
    audit_record(
        action=AuditAction.KYC_IDENTITY_CHECK_PROVIDER_FAILED,
        subject=client,
        after={
            "document": check.document_id,
            "check": check.reference,
            "attempts": check.attempts,
            "error": error[:300],
        },
    )
    work_item_open(
        queue="identity_check_failure",
        subject=check,
        title=f"Identity check not completed: {check.document.get_kind_display()} of {client.display_name}"
        f" ({client.reference})",
        risk_level=client.risk_level or RiskLevel.MEDIUM,
        details={"document": check.document_id, "attempts": check.attempts, "error": error[:300]},
    )
    return check


# --- the provider's result: stored, then processed ----------------------------------------------


class IdentityWebhookRejected(Exception):
    """Refused before anything is stored. ``forged``: no valid signature (or a stale one)."""

    def __init__(self, message: str, status: int = 400, *, forged: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.forged = forged


def identity_result_store(*, body: bytes, signature: str | None) -> tuple[IdentityInboundResult, bool]:
    """Verify and store the raw result; returns (stored, is_new). Raises IdentityWebhookRejected,
    having stored nothing."""
    if not identity_verifier_configured():
        raise IdentityWebhookRejected(errors.IDV_NOT_CONFIGURED, status=404)
    verifier = get_identity_verifier()
    try:
        verifier.webhook_verify(body, signature)
    except IdentitySignatureError as exc:
        raise IdentityWebhookRejected(str(exc), status=400, forged=True) from None
    try:
        outcome = verifier.webhook_parse(body)
    except (ValueError, KeyError, TypeError) as exc:
        raise IdentityWebhookRejected(errors.IDV_PAYLOAD_INVALID.format(why=exc), status=400) from None
    try:
        with transaction.atomic():
            stored = IdentityInboundResult.objects.create(
                provider=verifier.name,
                provider_check_id=outcome.check_id,
                event_id=outcome.event_id,
                body=body.decode("utf-8", "replace"),
                signature=(signature or "")[:300],
                payload=outcome.payload,
            )
        return stored, True
    except IntegrityError:
        with transaction.atomic():  # a repeated delivery: counted, not applied again
            repeated = IdentityInboundResult.objects.select_for_update().get(
                provider=verifier.name, provider_check_id=outcome.check_id
            )
            repeated.deliveries += 1
            repeated.save(update_fields=["deliveries"])
        return repeated, False


def identity_result_process(*, result_pk: int) -> IdentityInboundResult:
    """Apply a stored result once; a processed one is left as it is."""
    done = _process(IdentityInboundResult.objects.filter(pk=result_pk).select_for_update())
    return done[0] if done else IdentityInboundResult.objects.get(pk=result_pk)


def identity_results_drain(*, older_than: timedelta = timedelta(minutes=1), limit: int = 200) -> int:
    """Beat: apply what was stored but not applied (its task was lost); several drains can run."""
    waiting = (
        IdentityInboundResult.objects.filter(received_at__lt=timezone.now() - older_than)
        .order_by("pk")
        .select_for_update(skip_locked=True)
    )
    return len(_process(waiting, limit=limit))


@transaction.atomic(durable=True)
def _process(results: QuerySet[IdentityInboundResult], *, limit: int = 1) -> list[IdentityInboundResult]:
    verifier = get_identity_verifier()
    claimed = list(results.filter(status=IdentityInboundStatus.RECEIVED)[:limit])
    now = timezone.now()
    for stored in claimed:
        try:
            outcome = verifier.webhook_parse(stored.body.encode())
            with transaction.atomic(), acting_as(Actor.system(f"identity:{stored.provider}")):
                stored.status, stored.detail = _apply(outcome)
        except (ValueError, KeyError, TypeError, IntegrityError) as exc:
            stored.status, stored.detail = IdentityInboundStatus.FAILED, str(exc)[:300]
        stored.detail = stored.detail[:300]
        stored.processed_at = now
        stored.save(update_fields=["status", "detail", "processed_at"])
    return claimed


def _norm(value: str) -> str:
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return " ".join(plain.casefold().split())


def identity_mismatches(extracted: dict[str, str], client: Client) -> list[dict[str, str]]:
    """Where what the provider read off the document differs from the client's profile (fields it
    could not read are not mismatches: the provider's result says so)."""
    found: list[dict[str, str]] = []
    on_document = " ".join(v for v in (extracted.get("first_name", ""), extracted.get("last_name", "")) if v)
    profile = f"{client.first_name} {client.last_name}".strip()
    if on_document and _norm(on_document) != _norm(profile):
        found.append({"field": "name", "label": "Name", "document": on_document, "profile": profile})
    dob = extracted.get("date_of_birth", "")
    if dob and client.date_of_birth and dob != client.date_of_birth.isoformat():
        found.append(
            {"field": "date_of_birth", "label": "Date of birth", "document": dob,
             "profile": client.date_of_birth.isoformat()}
        )  # fmt: skip
    return found


def _apply(outcome: IdentityCheckOutcome) -> tuple[IdentityInboundStatus, str]:
    from kyc.services.risk import risk_assess
    from ops.services.work_items import work_item_open, work_item_resolve_for_subject

    check = (
        IdentityCheck.objects.select_for_update(of=("self",))
        .select_related("document", "client")
        .filter(reference=outcome.reference)
        .first()
    )
    if check is None:
        return IdentityInboundStatus.IGNORED, f"no identity check {outcome.reference}"
    if check.provider_check_id and check.provider_check_id != outcome.check_id:
        return IdentityInboundStatus.IGNORED, f"check {check.reference} is the provider's {check.provider_check_id}"
    if check.status == IdentityCheckStatus.COMPLETED:
        return IdentityInboundStatus.IGNORED, f"check {check.reference} already has its result"
    client, document = check.client, check.document
    before = {"status": check.status}
    check.status = IdentityCheckStatus.COMPLETED
    check.provider_check_id = outcome.check_id
    check.completed_at = timezone.now()
    check.result = IdentityResult(outcome.result)
    check.risk_score = outcome.risk_score
    check.review_status = outcome.review_status
    check.extracted = outcome.extracted
    check.reasons = outcome.reasons
    check.mismatches = identity_mismatches(outcome.extracted, client)
    check.save()
    audit_record(
        action=AuditAction.KYC_IDENTITY_CHECK_COMPLETED,
        subject=client,
        before=before,
        after={"document": document.pk, "check": check.reference, "provider_check": check.provider_check_id,
               "result": check.result, "risk_score": check.risk_score,
               "mismatches": [m["field"] for m in check.mismatches]},
    )  # fmt: skip
    event_publish(type=EventType.KYC_IDENTITY_CHECK_COMPLETED, subject=check, data=_event_data(check))
    if before["status"] == IdentityCheckStatus.PROVIDER_FAILED:  # it came after all
        work_item_resolve_for_subject(
            queue="identity_check_failure", subject=check, code=ResolutionCode.FIXED,
            note="the provider's result arrived",
        )  # fmt: skip
    with acting_as(Actor.automation("kyc.identity_check")):
        risk_assess(client_id=client.pk)
    if check.is_exception:
        client.refresh_from_db()
        what = ", ".join(m["label"].lower() for m in check.mismatches) or check.get_result_display().lower()
        work_item_open(
            queue="kyc_exception",
            subject=check,
            title=f"Identity check {check.get_result_display().lower()}: {document.get_kind_display()} of "
            f"{client.display_name} ({client.reference})"
            + (f" - {what} differs from the profile" if check.mismatches else ""),
            risk_level=RiskLevel.HIGH if check.result == IdentityResult.FAILED else RiskLevel.MEDIUM,
            details={"document": document.pk, "result": check.get_result_display(), "risk_score": check.risk_score,
                     "mismatches": what if check.mismatches else "", "reasons": " ".join(check.reasons)[:500]},
        )  # fmt: skip
    return IdentityInboundStatus.PROCESSED, (
        f"check {check.reference}: {check.result}, score {check.risk_score}"
        + (f", mismatches {', '.join(m['field'] for m in check.mismatches)}" if check.mismatches else "")
    )


def _event_data(check: IdentityCheck) -> dict[str, Any]:
    """The ``kyc.identity_check_completed`` event's data: states and references, not the personal
    data the provider read (receivers ask for it through the API they are allowed)."""
    return {
        "client": check.client.reference,
        "client_id": check.client_id,
        "document_id": check.document_id,
        "check": check.reference,
        "provider": check.provider,
        "result": check.result,
        "risk_score": check.risk_score,
        "mismatched_fields": [m["field"] for m in check.mismatches],
        "exception": check.is_exception,
    }


def identity_checks_for(document: Document) -> list[IdentityCheck]:
    return list(document.identity_checks.order_by("-requested_at", "-id"))
