"""Suspicious activity report pages: the list (with the cases a report may be started from), a new
draft from an alert or a screening hit, the report, its edit form, submitting it for approval, the
approved file, and recording the filing. Views parse input, call one service, and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.selectors import evidence_pack_can_export
from kyc.models import HitStatus, ScreeningHit
from ops.errors import OpsError
from ops.models import User
from risk.errors import RiskError
from risk.forms import SarFilingForm, SarForm, SarSubmitForm
from risk.models import AlertStatus, RiskAlert, SuspiciousActivityReport
from risk.sar import (
    included,
    prefill,
    sar_can_edit,
    sar_can_export,
    sar_can_record_filing,
    sar_can_start,
    sar_can_submit,
    sar_can_view,
    sar_draft,
    sar_edit,
    sar_export,
    sar_record_filing,
    sar_sha256,
    sar_submit,
)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _errors_onto(form: Any, problems: dict[str, str]) -> None:
    for key, message in problems.items():
        form.add_error(key if key in form.fields else None, message)


def _sar_get(user: User, pk: int) -> SuspiciousActivityReport:
    sar_can_view(user).require(PermissionDenied)
    return get_object_or_404(
        SuspiciousActivityReport.objects.select_related("client", "alert", "screening_hit", "created_by", "filed_by",
                                                        "approval"), pk=pk
    )  # fmt: skip


def sar_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    sar_can_view(user).require(PermissionDenied)
    reported_alerts = SuspiciousActivityReport.objects.filter(alert__isnull=False).values("alert_id")
    reported_hits = SuspiciousActivityReport.objects.filter(screening_hit__isnull=False).values("screening_hit_id")
    return render(request, "risk/sar_list.html", {
        "sars": SuspiciousActivityReport.objects.select_related("client", "created_by")[:200],
        "can_start": sar_can_start(user),
        "alerts": RiskAlert.objects.filter(status__in=[AlertStatus.TRUE_MATCH, AlertStatus.ESCALATED],
                                           client__isnull=False).exclude(pk__in=reported_alerts)
                  .select_related("rule", "client")[:50],
        "hits": ScreeningHit.objects.filter(status=HitStatus.TRUE_MATCH).exclude(pk__in=reported_hits)
                .select_related("client", "version")[:50],
    })  # fmt: skip


def _new(request: HttpRequest, origin: RiskAlert | ScreeningHit, label: str) -> HttpResponse:
    user = _user(request)
    may = sar_can_start(user, origin)
    reports = SuspiciousActivityReport.objects
    existing = (
        reports.filter(alert=origin) if isinstance(origin, RiskAlert) else reports.filter(screening_hit=origin)
    ).first()
    if existing is not None:
        messages.info(request, may.reason)
        return redirect(existing)
    if not may:
        return render(request, "risk/sar_form.html", {"problem": may.reason, "origin_label": label}, status=409)
    facts = prefill(origin)
    form = SarForm(request.POST or None, transactions=facts["transactions"])
    context = {"form": form, "facts": facts, "origin_label": label, "sar": None}
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                sar = sar_draft(actor=user, origin=origin, narrative=data["narrative"], keep=data["keep"],
                                no_transactions_reason=data["no_transactions_reason"])  # fmt: skip
            except RiskError as exc:
                _errors_onto(form, exc.problems)
            else:
                messages.success(request, f"{sar.reference} saved as a draft.")
                return redirect(sar)
        return render(request, "risk/sar_form.html", context, status=400)
    return render(request, "risk/sar_form.html", context)


def sar_new_from_alert_view(request: HttpRequest, pk: int) -> HttpResponse:
    sar_can_start(_user(request)).require(PermissionDenied)
    alert = get_object_or_404(RiskAlert.objects.select_related("rule", "rule_version", "client"), pk=pk)
    return _new(request, alert, f"Risk alert #{alert.pk}: {alert.summary}")


def sar_new_from_hit_view(request: HttpRequest, pk: int) -> HttpResponse:
    sar_can_start(_user(request)).require(PermissionDenied)
    hit = get_object_or_404(ScreeningHit.objects.select_related("client", "version"), pk=pk)
    return _new(request, hit, f"Screening hit #{hit.pk}: {hit.matched_name} ~ {hit.entry_name}")


def sar_view(request: HttpRequest, pk: int) -> HttpResponse:
    from ops.selectors import approval_pending

    user = _user(request)
    sar = _sar_get(user, pk)
    return render(request, "risk/sar_detail.html", {
        "sar": sar, "transactions": included(sar.transactions), "sha256": sar_sha256(sar),
        "pending": approval_pending("risk.sar_file", sar),
        "can_edit": sar_can_edit(user, sar), "can_submit": sar_can_submit(user, sar),
        "can_export": sar_can_export(user, sar), "can_record_filing": sar_can_record_filing(user, sar),
        "submit_form": SarSubmitForm(), "filing_form": SarFilingForm(),
        "can_export_evidence": evidence_pack_can_export(user),
    })  # fmt: skip


def sar_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    sar = _sar_get(user, pk)
    sar_can_edit(user, sar).require(PermissionDenied)
    form = SarForm(request.POST or None, transactions=sar.transactions,
                   initial={"narrative": sar.narrative, "no_transactions_reason": sar.no_transactions_reason})  # fmt: skip
    facts = {"subject": sar.subject, "fired": sar.fired, "transactions": sar.transactions}
    context = {"form": form, "facts": facts, "sar": sar, "origin_label": str(sar)}
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                sar_edit(sar_id=sar.pk, actor=user, narrative=data["narrative"], keep=data["keep"],
                         no_transactions_reason=data["no_transactions_reason"])  # fmt: skip
            except RiskError as exc:
                _errors_onto(form, exc.problems)
            else:
                messages.success(request, f"{sar.reference} saved.")
                return redirect(sar)
        return render(request, "risk/sar_form.html", context, status=400)
    return render(request, "risk/sar_form.html", context)


@require_POST
def sar_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    sar = _sar_get(user, pk)
    sar_can_submit(user, sar).require(PermissionDenied)
    form = SarSubmitForm(request.POST)
    if form.is_valid():
        try:
            approval = sar_submit(sar_id=sar.pk, actor=user, reason=form.cleaned_data["reason"])
        except (RiskError, OpsError) as exc:
            messages.error(request, str(exc))
            return redirect(sar)
        messages.success(request, f"Asked for approval #{approval.pk}: a second compliance officer decides.")
        return redirect("approval", pk=approval.pk)
    return render(request, "risk/sar_detail.html", {
        "sar": sar, "transactions": included(sar.transactions), "sha256": sar_sha256(sar), "pending": None,
        "can_edit": sar_can_edit(user, sar), "can_submit": sar_can_submit(user, sar),
        "can_export": sar_can_export(user, sar), "can_record_filing": sar_can_record_filing(user, sar),
        "submit_form": form, "filing_form": SarFilingForm(),
    }, status=400)  # fmt: skip


def sar_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    sar = _sar_get(user, pk)
    sar_can_export(user, sar).require(PermissionDenied)
    try:
        document = sar_export(sar_id=sar.pk, actor=user)
    except RiskError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(document, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{sar.reference}.json"'
    response["X-Content-SHA256"] = sar.content_sha256
    return response


@require_POST
def sar_filing_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    sar = _sar_get(user, pk)
    sar_can_record_filing(user, sar).require(PermissionDenied)
    form = SarFilingForm(request.POST)
    if form.is_valid():
        try:
            sar_record_filing(sar_id=sar.pk, actor=user, regulator_reference=form.cleaned_data["regulator_reference"])
        except RiskError as exc:
            _errors_onto(form, exc.problems)
        else:
            messages.success(request, f"{sar.reference} recorded as filed.")
            return redirect(sar)
    return render(request, "risk/sar_detail.html", {
        "sar": sar, "transactions": included(sar.transactions), "sha256": sar_sha256(sar), "pending": None,
        "can_edit": sar_can_edit(user, sar), "can_submit": sar_can_submit(user, sar),
        "can_export": sar_can_export(user, sar), "can_record_filing": sar_can_record_filing(user, sar),
        "submit_form": SarSubmitForm(), "filing_form": form,
    }, status=400)  # fmt: skip
