from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from audit.actions import AuditAction
from audit.evidence import evidence_case, evidence_case_pack_build, evidence_pack_build, evidence_subject
from audit.forms import AuditFilterForm, SecurityLogFilterForm
from audit.selectors import (
    audit_event_list,
    audit_trail_can_export,
    audit_trail_can_view,
    evidence_pack_can_export,
    security_event_list,
    security_log_can_view,
)
from audit.services import audit_record

PAGE_SIZE = 25  # rows of a few lines each: a page stays a couple of screens high
CSV_COLUMNS = [
    "id",
    "occurred_at",
    "actor_kind",
    "actor_label",
    "action",
    "subject_type",
    "subject_id",
    "before",
    "after",
    "reason",
    "request_id",
    "ip",
    "seal__seq",
    "seal__hash",
]


def _filters(form: AuditFilterForm | SecurityLogFilterForm) -> dict[str, Any]:
    if not form.is_valid():
        return {}
    return {k: v for k, v in form.cleaned_data.items() if v}


def audit_event_list_view(request: HttpRequest) -> HttpResponse:
    audit_trail_can_view(request.user).require(PermissionDenied)
    form = AuditFilterForm(request.GET or None)
    filters = _filters(form) if request.GET else {}
    status = 400 if request.GET and not form.is_valid() else 200
    events = audit_event_list(**filters) if status == 200 else audit_event_list().none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/event_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_export": audit_trail_can_export(request.user),
        },
        status=status,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_event_export_view(request: HttpRequest) -> HttpResponseBase:
    audit_trail_can_export(request.user).require(PermissionDenied)
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return render(request, "audit/event_list.html", {"form": form, "page": None}, status=400)
    filters = _filters(form) if request.GET else {}
    with transaction.atomic():
        audit_record(
            action=AuditAction.AUDIT_EXPORTED,
            subject=("audit.auditevent", "export"),
            after={k: str(v) for k, v in filters.items()},
        )
    events = audit_event_list(**filters).values_list(*CSV_COLUMNS)

    def rows() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow([c.replace("seal__", "chain_") for c in CSV_COLUMNS])
        for row in events.iterator(chunk_size=2000):
            yield writer.writerow(row)

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


SECURITY_PAGE_SIZE = 50


def security_log_view(request: HttpRequest) -> HttpResponse:
    """The security log: refused requests, failed sign-ins and second factors, forged webhooks and
    the alerts raised from them, filtered by kind, user, address and dates."""
    security_log_can_view(request.user).require(PermissionDenied)
    form = SecurityLogFilterForm(request.GET or None)
    valid = not request.GET or form.is_valid()
    events = security_event_list(**_filters(form)) if valid else security_event_list().none()
    page = Paginator(events, SECURITY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/security_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if valid else 400,
    )


def evidence_pack_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One client's evidence pack for a regulator: one zip (see ``audit.evidence``)."""
    evidence_pack_can_export(request.user).require(PermissionDenied)
    client = evidence_subject(request.user, pk)  # 404 outside the actor's scope
    name, body = evidence_pack_build(client=client, actor_label=request.user.get_username())
    response = HttpResponse(body, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def evidence_case_pack_view(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """One case's evidence pack (a chargeback, a risk alert, a SAR): the same zip as a client's,
    about the case's client and the case's own records (see ``audit.evidence``)."""
    evidence_pack_can_export(request.user).require(PermissionDenied)
    case = evidence_case(request.user, kind, pk)  # 404 for an unknown kind or outside the actor's scope
    name, body = evidence_case_pack_build(case=case, actor_label=request.user.get_username())
    response = HttpResponse(body, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
