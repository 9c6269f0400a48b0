"""The REST API, version 1, under /api/v1/ (backoffice.urls): the staff API, the partner API, its OpenAPI document
and the browsable documentation. Paths of the unversioned API (/api/staff/...) answer 308 to the
same path under /api/v1/ (method and body kept)."""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from accounts.api import ClientViewSet
from backoffice import client_area_api as ca
from ib import api as partner_api
from ops.api import requires_scope
from ops.api_events import EventViewSet
from ops.api_keys import ANY_SCOPE
from payments.api import WithdrawalViewSet
from reporting.api import ReportViewSet

router = DefaultRouter(trailing_slash=True)
router.register("staff/clients", ClientViewSet, basename="api-client")
router.register("staff/withdrawals", WithdrawalViewSet, basename="api-withdrawal")
router.register("staff/reports", ReportViewSet, basename="api-report")  # the reports' figures (reporting.api)
partner_api.register(router)  # /api/v1/partner/...: a partner's own clients, tree, lines, disputes


class SchemaView(SpectacularAPIView):
    """The OpenAPI document: for staff signed in, and for any active API key."""

    permission_classes = [requires_scope(ANY_SCOPE), IsAuthenticated]


# Swagger UI draws its icons as data: images; nothing else is loosened (scripts and styles stay 'self').
@method_decorator(csp_update({"img-src": ["'self'", "data:"]}), name="dispatch")
class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files; its start script is a separate
    request (no inline script) and its page styles a static file (no inline style): the strict
    CSP holds."""

    permission_classes = [requires_scope(ANY_SCOPE), IsAuthenticated]
    template_name = "api/swagger_ui.html"
    url_name = "api-schema"
    title = "Back office API v1"


# the client-area API (server to server, the broker's portal with its client_area key)
client_area: list[URLPattern | URLResolver] = [
    path("clients/", ca.ClientAreaClientViewSet.as_view({"post": "create"}), name="api-ca-clients"),
    path("clients/<str:client_id>/", ca.ClientAreaClientViewSet.as_view({"get": "retrieve"}), name="api-ca-client"),
    path(
        "clients/<str:client_id>/documents/",
        ca.DocumentViewSet.as_view({"get": "list", "post": "create"}),
        name="api-ca-documents",
    ),
    path(
        "clients/<str:client_id>/checklist/", ca.ChecklistViewSet.as_view({"get": "retrieve"}), name="api-ca-checklist"
    ),
    path(
        "clients/<str:client_id>/deposits/",
        ca.DepositViewSet.as_view({"get": "list", "post": "create"}),
        name="api-ca-deposits",
    ),
    path(
        "clients/<str:client_id>/withdrawals/",
        ca.WithdrawalViewSet.as_view({"get": "list", "post": "create"}),
        name="api-ca-withdrawals",
    ),
    path("clients/<str:client_id>/transfers/", ca.TransferViewSet.as_view({"post": "create"}), name="api-ca-transfers"),
    path(
        "clients/<str:client_id>/transactions/",
        ca.TransactionViewSet.as_view({"get": "list"}),
        name="api-ca-transactions",
    ),
    path(
        "clients/<str:client_id>/sign-ins/",
        ca.SignInViewSet.as_view({"get": "list", "post": "create"}),
        name="api-ca-sign-ins",
    ),
    path(
        "clients/<str:client_id>/notifications/",
        ca.NotificationViewSet.as_view({"get": "list"}),
        name="api-ca-notifications",
    ),
]

v1: list[URLPattern | URLResolver] = [
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(), name="api-docs"),
    path("", include(router.urls)),
    path("client-area/", include(client_area)),
    # outbound webhooks' events, for receivers filling gaps (/api/v1/events)
    path("events", EventViewSet.as_view({"get": "list"}), name="api-events"),
]


@login_not_required
def unversioned(request: HttpRequest, rest: str) -> HttpResponsePermanentRedirect:
    """308: the old path's caller follows to /api/v1/ with the same method and body."""
    query = request.META.get("QUERY_STRING", "")
    target = f"/api/v1/{rest}" + (f"?{query}" if query else "")
    response = HttpResponsePermanentRedirect(target)
    response.status_code = 308
    return response


urlpatterns: list[Any] = [
    path("v1/", include(v1)),
    re_path(r"^(?P<rest>(?!v1/).*)$", unversioned, name="api-unversioned"),
]
