"""The reports through the staff API (``/api/v1/staff/reports/``): the same builders, filters and
metric definitions as the pages and the exports (``reporting.reports``), so a figure has one value
whichever door it is read through. The catalogue, and one report's figures, charts and tables with
the links to its CSV and XLSX exports of the filtered rows (the exports stream the rows; the API
gives the figures)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from backoffice.api import DecisionPermission
from ops.api import requires_scope
from reporting.families import FAMILIES
from reporting.filters import ReportFilter, filters_from
from reporting.metrics import METRICS
from reporting.reports import report_build
from reporting.routers import reporting_reads
from reporting.selectors import report_can_view, report_families_for, reports_can_view

FILTER_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="First day (default: 90 days before date_to)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Last day, included (default: today)."),
    OpenApiParameter("account_type", str, description="An account type's code."),
    OpenApiParameter("country", str, description="A client country (ISO 3166 alpha-2)."),
    OpenApiParameter("region", str, description="A region grouping of client countries."),
    OpenApiParameter("staff", str, description="A staff member's username (what 'staff' means is per report)."),
    OpenApiParameter("channel", str, description="A payment channel (card, bank)."),
    OpenApiParameter("currency", str, description="A currency code."),
    OpenApiParameter("partner", str, description="A partner's code."),
]
FAMILY = OpenApiParameter("family", str, OpenApiParameter.PATH, enum=list(FAMILIES), description="The report.")


def _cell(value: Any) -> str:
    """A figure or cell as text: decimals exactly, dates in ISO 8601, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class MetricOut(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named as DRF's Field.label
    definition = serializers.CharField()


class FamilyOut(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    filters = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField(help_text="This report in the API.")


class CatalogueOut(serializers.Serializer):
    reports = FamilyOut(many=True, help_text="The reports the caller may read.")
    metrics = MetricOut(many=True, help_text="The definitions every report, page and export uses.")


class KpiOut(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named as DRF's Field.label
    value = serializers.CharField(help_text="As the page shows it (money with its currency, rates with %).")
    definition = serializers.CharField()


class PointOut(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named as DRF's Field.label
    value = serializers.CharField(help_text="The exact figure (a decimal or an integer, as text).")


class ChartOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["bar", "line", "funnel"])
    title = serializers.CharField()
    currency = serializers.CharField(allow_blank=True)
    series = PointOut(many=True)


class TableOut(serializers.Serializer):
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField(allow_blank=True)))


class ExportsOut(serializers.Serializer):
    csv = serializers.CharField()
    xlsx = serializers.CharField()


class ReportOut(serializers.Serializer):
    family = serializers.CharField()
    title = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField(), help_text="The filters applied, defaults included.")
    kpis = KpiOut(many=True)
    charts = ChartOut(many=True)
    tables = TableOut(many=True)
    notes = serializers.ListField(child=serializers.CharField())
    rows = serializers.IntegerField(help_text="How many rows the filtered set holds (the exports stream them all).")
    exports = ExportsOut(allow_null=True, help_text="The filtered set as CSV or XLSX (staff session; audited).")


@extend_schema_view(
    list=extend_schema(responses=CatalogueOut, summary="The reports the caller may read, and the metric definitions"),
    retrieve=extend_schema(
        parameters=[FAMILY, *FILTER_PARAMETERS],
        responses=ReportOut,
        summary="One report: its figures, charts and tables for the filters",
        description="The same filters as the report's page (a bad value, or a parameter the report does not "
        "know, is a 400 naming it). The figures use the metric definitions of `GET /api/v1/staff/reports/`.",
    ),
)
class ReportViewSet(viewsets.ViewSet):
    permission_classes = [requires_scope("reports:read"), DecisionPermission]
    decision_map = {"list": reports_can_view, "retrieve": reports_can_view}
    lookup_field = "family"
    lookup_value_regex = r"[a-z_]+"

    def list(self, request: Request) -> Response:
        reports = [
            {
                "code": f.code,
                "title": f.title,
                "description": f.description,
                "filters": list(f.filters),
                "url": reverse("api-report-detail", args=[f.code]),
            }
            for f in report_families_for(request.user)
        ]
        metrics = [{"code": m.code, "label": m.label, "definition": m.definition} for m in METRICS.values()]
        return Response(CatalogueOut({"reports": reports, "metrics": metrics}).data)

    def retrieve(self, request: Request, family: str) -> Response:
        if family not in FAMILIES:
            raise exceptions.NotFound(f"No report {family!r}.")
        decision = report_can_view(request.user, family)
        if not decision:
            raise exceptions.PermissionDenied(decision.reason)
        allowed = set(FAMILIES[family].filters)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise exceptions.ValidationError(
                {name: [f"Not a filter of this report (it takes: {', '.join(sorted(allowed))})."] for name in unknown}
            )
        with reporting_reads():
            bar = ReportFilter(request.query_params)
            if not bar.is_valid():
                raise exceptions.ValidationError({k: list(v) for k, v in bar.form.errors.items()})
            filters = filters_from(bar)
            report = report_build(family, filters)
            total = report.dataset.count() if report.dataset else 0
        query = request.query_params.urlencode()
        suffix = f"?{query}" if query else ""
        exports = None
        if report.dataset is not None:
            exports = {
                fmt: reverse("report-export", kwargs={"family": family, "fmt": fmt}) + suffix for fmt in ("csv", "xlsx")
            }
        out = {
            "family": family,
            "title": report.title,
            "filters": {
                "date_from": filters.date_from.isoformat(),
                "date_to": filters.date_to.isoformat(),
                **filters.values,
            },
            "kpis": [{"label": k.label, "value": k.value, "definition": k.definition} for k in report.kpis],
            "charts": [
                {
                    "kind": c.kind,
                    "title": c.title,
                    "currency": c.currency,
                    "series": [{"label": _cell(label), "value": _cell(value)} for label, value in c.series],
                }
                for c in report.charts
            ],
            "tables": [
                {"title": t.title, "columns": t.columns, "rows": [[_cell(v) for v in row] for row in t.rows]}
                for t in report.tables
            ],
            "notes": report.notes,
            "rows": total,
            "exports": exports,
        }
        return Response(ReportOut(out).data)
