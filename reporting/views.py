"""The reports' pages: the catalogue, one page per family with the filter bar, and its exports."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actions import AuditAction
from audit.services import audit_record
from reporting.exports import csv_stream, file_chunks, xlsx_file
from reporting.families import FAMILIES
from reporting.filters import ReportFilter, filters_from
from reporting.metrics import METRICS
from reporting.models import Frequency, ReportSubscription
from reporting.reports import PAGE_ROWS, report_build, report_dataset
from reporting.routers import reporting_reads
from reporting.selectors import report_can_view, report_families_for, reports_can_view
from reporting.services import report_subscription_set

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def catalogue(request: HttpRequest) -> HttpResponse:
    reports_can_view(request.user).require(PermissionDenied)
    return render(
        request,
        "reporting/catalogue.html",
        {"families": report_families_for(request.user), "metrics": METRICS.values()},
    )


def _family(request: HttpRequest, family: str) -> Any:
    if family not in FAMILIES:
        raise Http404(family)
    report_can_view(request.user, family).require(PermissionDenied)
    return FAMILIES[family]


def report_page(request: HttpRequest, family: str) -> HttpResponse:
    fam = _family(request, family)
    with reporting_reads():
        bar = ReportFilter(request.GET or None)
        if request.GET and not bar.is_valid():
            bar.form.is_valid()
            return render(request, "reporting/report.html", {"family": fam, "bar": bar, "report": None}, status=400)
        if not request.GET:
            bar = ReportFilter({})
            bar.is_valid()
        filters = filters_from(bar)
        report = report_build(family, filters)
        dataset = report.dataset
        rows = dataset.head(PAGE_ROWS) if dataset else []
        total = dataset.count() if dataset else 0
        query = request.GET.urlencode()
        return render(
            request,
            "reporting/report.html",
            {
                "family": fam, "bar": bar, "report": report, "filters": filters, "rows": rows, "total": total,
                "truncated": total > len(rows), "query": query, "frequencies": Frequency.choices,
                "subscribed": set(ReportSubscription.objects.filter(user_id=request.user.pk or 0, family=family)
                                  .values_list("frequency", flat=True)),
            },
        )  # fmt: skip


def report_export(request: HttpRequest, family: str, fmt: str) -> HttpResponseBase:
    fam = _family(request, family)
    if fmt not in ("csv", "xlsx"):
        raise Http404(fmt)
    with reporting_reads():
        bar = ReportFilter(request.GET or {})
        if not bar.is_valid():
            return render(request, "reporting/report.html", {"family": fam, "bar": bar, "report": None}, status=400)
        filters = filters_from(bar)
        dataset = report_dataset(family, filters)  # the rows alone: no figures computed to be thrown away
    applied = {"date_from": filters.date_from.isoformat(), "date_to": filters.date_to.isoformat(), **filters.values}
    with transaction.atomic():
        audit_record(
            action=AuditAction.REPORT_EXPORTED,
            subject=("reporting.report", family),
            after={"report": family, "format": fmt, "filters": applied, "dataset": dataset.title},
        )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"{family}-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}-{stamp}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(csv_stream(dataset), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(file_chunks(xlsx_file(dataset, title=fam.title)), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class SubscriptionForm(forms.Form):
    frequency = forms.ChoiceField(choices=Frequency.choices)
    subscribed = forms.BooleanField(required=False)


@require_POST
def report_subscribe(request: HttpRequest, family: str) -> HttpResponse:
    """Receive (or stop receiving) this report's scheduled snapshot by e-mail."""
    fam = _family(request, family)
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    on = report_subscription_set(
        user=request.user, family=family, frequency=form.cleaned_data["frequency"],
        subscribed=form.cleaned_data["subscribed"],
    )  # fmt: skip
    label = Frequency(form.cleaned_data["frequency"]).label.lower()
    messages.success(
        request, f"{'Subscribed to' if on else 'Unsubscribed from'} the {label} {fam.title.lower()} report."
    )
    return redirect("report", family=family)
