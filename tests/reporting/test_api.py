"""The reports through the staff API: the same figures as the page (one builder, one set of metric
definitions), the same filters with a 400 naming a bad one, and access per persona: no credentials
401, a key without the scope 403, a role without the report 403, an unknown report 404."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client as HttpClient

from ops.roles import Role
from reporting.metrics import METRICS
from tests.api.keys import approved_key
from tests.factories import staff
from tests.personas import sign_in
from tests.reporting.world import world

pytestmark = pytest.mark.django_db
BASE = "/api/v1/staff/reports/"


def _key(role: Role, scopes: list[str]) -> HttpClient:
    """An HTTP client calling with a staff member's API key."""
    token = approved_key(staff(role), scopes, kind="staff")
    return HttpClient(headers={"Authorization": f"Bearer {token}"})


def _page_kpis(html: str) -> dict[str, str]:
    """The KPI cards of a report page: label -> value as shown."""
    block = html.split('data-testid="kpis"', 1)[1].split("</ul>", 1)[0]
    pairs = re.findall(r'<li data-label="([^"]+)"><span class="kpi-value">(.*?)</span>', block, re.S)
    return {unescape(label): unescape(value).strip() for label, value in pairs}


def test_good_the_api_gives_the_pages_figures_for_the_same_filters(client: HttpClient) -> None:
    world()
    api = _key(Role.FINANCE, ["reports:read"])
    query = "?date_from=2026-01-01&account_type=standard&region=uk"
    response = api.get(f"{BASE}payments/{query}")
    assert response.status_code == 200
    body = response.json()
    assert (body["family"], body["filters"]["region"], body["filters"]["account_type"]) == (
        "payments",
        "uk",
        "standard",
    )
    page = sign_in(client, staff(Role.FINANCE)).get(f"/reports/payments/{query}").content.decode()
    shown = _page_kpis(page)
    assert shown and {k["label"]: k["value"] for k in body["kpis"]} == shown
    definitions = {m.definition for m in METRICS.values()}
    assert all(k["definition"] in definitions for k in body["kpis"] if k["definition"])
    assert body["exports"]["csv"] == f"/reports/payments/export.csv{query}"


def test_good_the_catalogue_lists_only_the_callers_reports_and_every_definition() -> None:
    response = _key(Role.COMPLIANCE, ["reports:read"]).get(BASE)
    assert response.status_code == 200
    codes = [r["code"] for r in response.json()["reports"]]
    assert codes == ["accounts", "compliance", "permissions", "operations"]
    assert len(response.json()["metrics"]) == len(METRICS)


def test_bad_a_bad_or_unknown_filter_is_a_400_naming_it() -> None:
    api = _key(Role.FINANCE, ["reports:read"])
    reversed_dates = api.get(f"{BASE}payments/?date_from=2026-05-01&date_to=2026-04-01")
    assert reversed_dates.status_code == 400
    assert list(reversed_dates.json()["errors"]) == ["date_to"]
    unknown = api.get(f"{BASE}payments/?colour=red")
    assert unknown.status_code == 400
    assert list(unknown.json()["errors"]) == ["colour"]
    bad_choice = api.get(f"{BASE}payments/?channel=pigeon")
    assert bad_choice.status_code == 400
    assert list(bad_choice.json()["errors"]) == ["channel"]


def test_bad_no_credentials_is_a_401() -> None:
    assert HttpClient().get(f"{BASE}payments/").status_code == 401


def test_bad_a_key_without_the_scope_is_a_403() -> None:
    response = _key(Role.FINANCE, ["payments:read"]).get(f"{BASE}payments/")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/api_key_scope_missing")


def test_bad_a_role_without_the_report_is_a_403() -> None:
    response = _key(Role.COMPLIANCE, ["reports:read"]).get(f"{BASE}payments/")
    assert response.status_code == 403


def test_bad_a_role_without_any_report_is_a_403_for_the_catalogue() -> None:
    assert _key(Role.SUPPORT, ["reports:read"]).get(BASE).status_code == 403


def test_bad_an_unknown_report_is_a_404() -> None:
    assert _key(Role.FINANCE, ["reports:read"]).get(f"{BASE}nothing/").status_code == 404
