"""Who opens which report: a permission per report family in the roles matrix, one can-function
(``reporting.selectors.report_can_view``) read by the page, the export and the nav. One persona,
one exact status."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client as HttpClient

from ops.roles import Role
from tests.personas import ANONYMOUS, DESK, NOBODY

pytestmark = pytest.mark.django_db

LOGIN = "login"
SUPPORT, COMPLIANCE, FINANCE, RISK, ADMIN, AUDITOR = (
    Role.SUPPORT, Role.COMPLIANCE, Role.FINANCE, Role.RISK, Role.ADMIN, Role.AUDITOR,
)  # fmt: skip

# fmt: off
ROWS: list[tuple[str, str, int | str]] = [
    ("/reports/", ANONYMOUS, LOGIN), ("/reports/", NOBODY, 403), ("/reports/", DESK, 403),
    ("/reports/", SUPPORT, 403), ("/reports/", FINANCE, 200), ("/reports/", AUDITOR, 200),
    ("/reports/accounts/", ANONYMOUS, LOGIN), ("/reports/accounts/", SUPPORT, 403),
    ("/reports/accounts/", ADMIN, 403), ("/reports/accounts/", COMPLIANCE, 200),
    ("/reports/payments/", COMPLIANCE, 403), ("/reports/payments/", FINANCE, 200), ("/reports/payments/", RISK, 200),
    ("/reports/compliance/", FINANCE, 403), ("/reports/compliance/", COMPLIANCE, 200),
    ("/reports/permissions/", FINANCE, 403), ("/reports/permissions/", ADMIN, 200),
    ("/reports/partners/", RISK, 403), ("/reports/partners/", FINANCE, 200),
    ("/reports/operations/", RISK, 403), ("/reports/operations/", ADMIN, 200),
    ("/reports/balances/", COMPLIANCE, 403), ("/reports/balances/", FINANCE, 200),
    ("/reports/balances/", AUDITOR, 200),
    ("/reports/nonsense/", AUDITOR, 404),
    ("/reports/accounts/export.csv", ANONYMOUS, LOGIN), ("/reports/accounts/export.csv", SUPPORT, 403),
    ("/reports/accounts/export.csv", ADMIN, 403), ("/reports/accounts/export.csv", COMPLIANCE, 200),
    ("/reports/balances/export.xlsx", COMPLIANCE, 403), ("/reports/balances/export.xlsx", FINANCE, 200),
    ("/reports/accounts/export.pdf", COMPLIANCE, 404),
]
# fmt: on


@pytest.mark.parametrize(("url", "who", "expected"), ROWS, ids=[f"{u} as {p} -> {e}" for u, p, e in ROWS])
def test_report_access(url: str, who: str, expected: int | str, persona: Callable[[str], HttpClient]) -> None:
    response = persona(who).get(url)
    if expected == LOGIN:
        assert (response.status_code, response["Location"]) == (302, f"/login/?next={url}")
    else:
        assert response.status_code == expected


@pytest.mark.parametrize(("who", "shown"), [(SUPPORT, False), (FINANCE, True), (AUDITOR, True)])
def test_nav_offers_reports_exactly_to_who_may_open_them(
    who: str, shown: bool, persona: Callable[[str], HttpClient]
) -> None:
    html = persona(who).get("/").content.decode()
    assert ('href="/reports/"' in html) is shown


def test_catalogue_lists_only_the_families_open_to_the_viewer(persona: Callable[[str], HttpClient]) -> None:
    html = persona(ADMIN).get("/reports/").content.decode()
    assert 'href="/reports/permissions/"' in html and 'href="/reports/operations/"' in html
    assert 'href="/reports/payments/"' not in html and 'href="/reports/balances/"' not in html


@pytest.mark.parametrize(("who", "expected"), [(ANONYMOUS, LOGIN), (SUPPORT, 403), (COMPLIANCE, 403), (FINANCE, 302)])
def test_subscribing_to_a_report_needs_its_family(
    who: str, expected: int | str, persona: Callable[[str], HttpClient]
) -> None:
    from reporting.models import ReportSubscription

    url = "/reports/payments/subscribe/"
    response = persona(who).post(url, {"frequency": "weekly", "subscribed": "on"})
    if expected == LOGIN:
        assert (response.status_code, response["Location"]) == (302, f"/login/?next={url}")
    else:
        assert response.status_code == expected
    assert ReportSubscription.objects.filter(family="payments").exists() is (expected == 302)


def test_bad_subscription_frequency_is_a_400(persona: Callable[[str], HttpClient]) -> None:
    response = persona(FINANCE).post("/reports/payments/subscribe/", {"frequency": "hourly", "subscribed": "on"})
    assert response.status_code == 400
    assert b"frequency" in response.content


def test_good_subscribing_and_unsubscribing_are_on_the_audit_trail(persona: Callable[[str], HttpClient]) -> None:
    from audit.models import AuditEvent

    http = persona(FINANCE)
    url = "/reports/payments/subscribe/"
    assert http.post(url, {"frequency": "weekly", "subscribed": "on"}).status_code == 302
    assert http.post(url, {"frequency": "weekly", "subscribed": "on"}).status_code == 302  # no change: no event
    assert http.post(url, {"frequency": "weekly"}).status_code == 302
    events = list(
        AuditEvent.objects.filter(subject_type="reporting.report", subject_id="payments")
        .order_by("id")
        .values_list("action", "after__frequency")
    )
    assert events == [("report.subscribed", "weekly"), ("report.unsubscribed", "weekly")]
