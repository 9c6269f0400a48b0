"""KYC pages: the checklist and upload on the client 360, the review screen, the document viewer."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.selectors import client_get_for
from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.models import SecurityEventKind
from audit.services import audit_record, security_event_note
from kyc.approval_actions import client_can_request_edd_approval
from kyc.errors import KycError
from kyc.forms import IdentityRecheckForm, ReviewForm, UploadForm
from kyc.models import Document
from kyc.requirements import allowed_kinds
from kyc.selectors import client_documents, identity_evidence_rows, kyc_checklist
from kyc.services.documents import (
    document_can_open_file,
    document_can_review,
    document_can_upload,
    document_review,
    document_upload,
)
from kyc.services.identity import identity_check_can_request, identity_check_request, identity_checks_for
from kyc.services.risk import latest_assessment, risk_assess, risk_can_assess
from kyc.services.screening import sanctions_list_can_import, sanctions_list_can_view, screening_hit_can_decide
from ops.models import User

logger = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def kyc_panel(user: User, client: Any, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The KYC section of the client 360: checklist, documents, upload."""
    upload_form = forms.get("upload_form")
    hits = list(client.screening_hits.select_related("decided_by", "client").order_by("-created_at"))
    for hit in hits:
        hit.can_decide = screening_hit_can_decide(user, hit)
    return "kyc/_client_panel.html", {
        "checklist": kyc_checklist(client),
        "documents": client_documents(client),
        "can_upload": document_can_upload(user, client),
        "can_request_edd_approval": client_can_request_edd_approval(user, client),
        "upload_form": upload_form or UploadForm(kinds=allowed_kinds(client.kind)),
        "assessment": latest_assessment(client),
        "hits": hits,
        "can_assess": risk_can_assess(user, client),
    }


@require_POST
def document_upload_view(request: HttpRequest, client_id: int) -> HttpResponse:
    user = _user(request)
    client = client_get_for(user, client_id, for_write=True)
    document_can_upload(user, client).require(PermissionDenied)
    form = UploadForm(request.POST, request.FILES, kinds=allowed_kinds(client.kind))
    if form.is_valid():
        data = form.cleaned_data
        try:
            document_upload(
                client_id=client.pk, kind=data["kind"], upload=data["file"], actor=user, number=data["number"],
                issue_date=data["issue_date"], expiry_date=data["expiry_date"],
            )  # fmt: skip
        except KycError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, "Document uploaded for review.")
            return redirect("client", pk=client.pk)
    from accounts.views import render_client

    return render_client(request, client, status=400, upload_form=form)


def _review_page(
    request: HttpRequest,
    document: Document,
    *,
    form: ReviewForm | None = None,
    status: int = 200,
    recheck_form: IdentityRecheckForm | None = None,
) -> HttpResponse:
    user = _user(request)
    client = client_get_for(user, document.client_id, for_write=False)
    checks = identity_checks_for(document)
    return render(
        request,
        "kyc/review.html",
        {
            "doc": document,
            "client": client,
            "checklist": kyc_checklist(client),
            "form": form or ReviewForm(),
            "can_review": document_can_review(user, document),
            "can_open_file": document_can_open_file(user, document),
            # the identity verification provider's evidence, beside the document (it decides nothing)
            "identity_check": checks[0] if checks else None,
            "identity_rows": identity_evidence_rows(checks[0]) if checks and checks[0].extracted else [],
            "earlier_checks": checks[1:],
            "can_request_identity_check": identity_check_can_request(user, document),
            "recheck_form": recheck_form or IdentityRecheckForm(),
        },
        status=status,
    )


def _document_get_for(user: User, pk: int, *, for_write: bool) -> Document:
    """A document through its client's scoped fetch: 404 outside the viewer's clients."""
    document = get_object_or_404(Document.objects.select_related("client", "replaces"), pk=pk)
    client_get_for(user, document.client_id, for_write=for_write)
    return document


def document_review_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    document = _document_get_for(user, pk, for_write=request.method == "POST")
    if request.method != "POST":
        return _review_page(request, document)
    document_can_review(user, document).require(PermissionDenied)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _review_page(request, document, form=form, status=400)
    data = form.cleaned_data
    try:
        document_review(
            document_id=document.pk, reviewer=user, accept=data["decision"] == "accept",
            reason_code=data["reason_code"], note=data["note"],
        )  # fmt: skip
    except KycError as exc:
        form.add_error(None, str(exc))
        document.refresh_from_db()
        return _review_page(request, document, form=form, status=409)
    messages.success(request, "Decision recorded.")
    return redirect("client", pk=document.client_id)


@require_POST
def identity_check_request_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Staff ask the identity verification provider to check the document again (audited)."""
    user = _user(request)
    document = _document_get_for(user, pk, for_write=True)
    identity_check_can_request(user, document).require(PermissionDenied)
    form = IdentityRecheckForm(request.POST)
    if not form.is_valid():
        return _review_page(request, document, recheck_form=form, status=400)
    try:
        identity_check_request(document_id=document.pk, actor=user, reason=form.cleaned_data["reason"])
    except KycError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        return _review_page(request, document, recheck_form=form, status=409)
    messages.success(request, "Identity check requested; the provider's result will show here.")
    return redirect("document-review", pk=document.pk)


@csrf_exempt
@login_not_required
@require_POST
def identity_webhook(request: HttpRequest) -> HttpResponse:
    """The identity verification provider's results: verified and stored as they came first (a bad
    signature: 400, nothing stored), then processed by a worker (or at once, WEBHOOK_APPLY=inline)."""
    from django.conf import settings

    from kyc.identity import get_identity_verifier, identity_verifier_configured
    from kyc.services.identity import IdentityWebhookRejected, identity_result_process, identity_result_store
    from kyc.tasks import identity_result_process_task

    with acting_as(Actor.system("webhook:identity")):  # the provider acts; its signature says so
        header = get_identity_verifier().signature_header if identity_verifier_configured() else ""
        try:
            stored, new = identity_result_store(
                body=request.body, signature=request.headers.get(header) if header else None
            )
        except IdentityWebhookRejected as exc:
            if exc.forged:
                security_event_note(kind=SecurityEventKind.WEBHOOK_REJECTED, reason=str(exc), status=exc.status)
            return JsonResponse({"error": str(exc)}, status=exc.status)
        if new and settings.WEBHOOK_APPLY == "queued":
            pk = stored.pk
            try:
                identity_result_process_task.delay(result_pk=pk)
            except Exception:  # stored either way: beat's drain applies it
                logger.warning("identity webhook: could not queue result %s; beat's drain will apply it", pk)
        elif new:
            stored = identity_result_process(result_pk=stored.pk)
        return JsonResponse({"received": True, "duplicate": not new, "status": stored.status})


def document_file_view(request: HttpRequest, pk: int) -> FileResponse:
    """The only way to a document's bytes: compliance or the auditor, allowed to see the client."""
    user = _user(request)
    document = _document_get_for(user, pk, for_write=False)
    document_can_open_file(user, document).require(PermissionDenied)
    if not document.file:
        raise Http404
    from django.db import transaction

    with transaction.atomic():
        audit_record(action=AuditAction.KYC_DOCUMENT_VIEWED, subject=document, after={"client": document.client_id})
    shown = document.view_file or document.file
    response = FileResponse(shown.open("rb"), content_type=document.content_type)
    response["Content-Disposition"] = (
        f'inline; filename="{document.kind}-{document.pk}.{EXTENSION[document.content_type]}"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Whatever the bytes are, no script runs and nothing loads: a sandboxed, unique-origin document
    # that only the review screen (same origin) may frame.
    response["Content-Security-Policy"] = FILE_POLICY
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "private, no-store"
    return response


EXTENSION = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
FILE_POLICY = "default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'self'; sandbox"


@require_POST
def risk_assess_view(request: HttpRequest, client_id: int) -> HttpResponse:
    user = _user(request)
    client = client_get_for(user, client_id, for_write=True)
    risk_can_assess(user, client).require(PermissionDenied)
    assessment = risk_assess(client_id=client.pk, actor=user)
    messages.success(request, f"Risk assessed: {assessment.level} ({assessment.score}).")
    return redirect("client", pk=client.pk)


@require_POST
def edd_approval_request_view(request: HttpRequest, client_id: int) -> HttpResponse:
    from ops.errors import OpsError
    from ops.services.approvals import approval_submit

    user = _user(request)
    client = client_get_for(user, client_id, for_write=True)
    client_can_request_edd_approval(user, client).require(PermissionDenied)
    reason = request.POST.get("reason", "")
    try:
        approval = approval_submit(
            action="client.approve_edd", subject=client, payload={"client": client.reference}, maker=user, reason=reason
        )
    except (OpsError, KycError) as exc:
        messages.error(request, str(exc))
        from accounts.views import render_client

        return render_client(request, client, status=409)
    messages.success(request, f"Request #{approval.pk} waits for a second compliance officer.")
    return redirect("approval", pk=approval.pk)


@require_POST
def screening_hit_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    from kyc.models import ScreeningHit
    from kyc.services.screening import screening_hit_decide

    user = _user(request)
    hit = get_object_or_404(ScreeningHit.objects.select_related("client"), pk=pk)
    client = client_get_for(user, hit.client_id, for_write=True)
    screening_hit_can_decide(user, hit).require(PermissionDenied)
    try:
        screening_hit_decide(
            hit_id=hit.pk, reviewer=user, true_match=request.POST.get("decision") == "true_match",
            reason=request.POST.get("reason", ""),
        )  # fmt: skip
    except KycError as exc:
        messages.error(request, str(exc))
        from accounts.views import render_client

        return render_client(request, client, status=409)
    messages.success(request, "Screening decision recorded.")
    return redirect("client", pk=client.pk)


def sanctions_lists_view(request: HttpRequest) -> HttpResponse:
    """List versions with their import progress; compliance uploads a new file (imported by a task)."""
    from kyc.models import SanctionsListVersion

    user = _user(request)
    sanctions_list_can_view(user).require(PermissionDenied)
    if request.method == "POST":
        sanctions_list_can_import(user).require(PermissionDenied)
        upload = request.FILES.get("file")
        name = (request.POST.get("name") or "opensanctions").strip()[:80]
        if upload is None or not (upload.size or 0):
            messages.error(request, "file: choose a targets.simple CSV file to import.")
        else:
            from kyc.models import KycStorage
            from kyc.tasks import sanctions_import_task

            stored = KycStorage().save(f"lists/{name}.csv", upload)
            sanctions_import_task.delay(path=stored, name=name)
            messages.success(request, f"Importing {upload.name}; every client is re-screened when it completes.")
        return redirect("sanctions-lists")
    return render(
        request,
        "kyc/sanctions_lists.html",
        {"versions": SanctionsListVersion.objects.all()[:50], "can_import": sanctions_list_can_import(user)},
    )
