"""Each role may do what seed 003 step four gives it, and not more."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from ops.roles import ROLE_PERMISSIONS, Role, qualified
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

# (role, one thing it may do, one thing it may not)
MATRIX = [
    (Role.SUPPORT, "ops.view_client_status", "ops.restrict_account"),
    (Role.SUPPORT, "ops.submit_ticket", "ops.handle_withdrawals"),
    (Role.COMPLIANCE, "ops.review_documents", "ops.handle_deposits"),
    (Role.COMPLIANCE, "ops.restrict_account", "ops.manage_staff"),
    (Role.FINANCE, "ops.handle_withdrawals", "ops.set_risk_level"),
    (Role.FINANCE, "ops.handle_internal_transfers", "ops.view_audit_trail"),
    (Role.RISK, "ops.view_trading_risk", "ops.handle_refunds"),
    (Role.RISK, "ops.view_fund_flows", "ops.review_documents"),
    (Role.ADMIN, "ops.manage_configuration", "ops.handle_withdrawals"),
    (Role.ADMIN, "ops.view_audit_trail", "ops.review_documents"),
    (Role.AUDITOR, "ops.view_audit_trail", "ops.manage_configuration"),
    (Role.AUDITOR, "ops.export_audit_trail", "ops.restrict_account"),
]


def test_groups_in_the_database_match_the_role_table() -> None:
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        in_db = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert in_db == {qualified(n) for n in names}, role


@pytest.mark.parametrize(("role", "may", "may_not"), MATRIX)
def test_role_may_and_may_not(role: Role, may: str, may_not: str) -> None:
    user = staff(role)
    assert user.has_perm(may)
    assert not user.has_perm(may_not)


def test_auditor_is_read_only_everywhere() -> None:
    writes = {n for n in ROLE_PERMISSIONS[Role.AUDITOR] if not n.startswith(("view_", "export_"))}
    assert writes == set()


@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        (Role.AUDITOR, "/audit/", 200),
        (Role.ADMIN, "/audit/", 200),
        (Role.SUPPORT, "/audit/", 403),
        (Role.FINANCE, "/audit/export.csv", 403),
        (Role.ADMIN, "/admin/", 200),
        (Role.AUDITOR, "/admin/", 302),  # admin site sends non-admins to its login
        (Role.COMPLIANCE, "/admin/", 302),
    ],
)
def test_pages_follow_the_role(client: Client, role: Role, url: str, status: int) -> None:
    sign_in(client, staff(role))
    assert client.get(url).status_code == status


def test_home_lists_only_what_the_role_may_do(client: Client) -> None:
    sign_in(client, staff(Role.SUPPORT))
    html = client.get("/").content.decode()
    assert '<li data-cap="manage_clients"><a href="/clients/new/">' in html
    assert 'data-cap="restrict_account"' not in html
    assert "Audit trail</a>" not in html  # the nav hides what the role may not open


@pytest.mark.parametrize("role", list(Role))
def test_home_promises_only_capabilities_with_a_page_that_opens(client: Client, role: Role) -> None:
    import re

    sign_in(client, staff(role))
    html = client.get("/").content.decode()
    listed = re.findall(r'<li data-cap="(\w+)"><a href="([^"]+)">', html)
    assert listed, role
    for code, url in listed:
        assert client.get(url).status_code == 200, (code, url)
    # permissions kept for features still to come are not offered as if they existed
    for code in ("submit_ticket", "handle_internal_transfers", "handle_refunds", "view_trading_risk"):
        assert f'data-cap="{code}"' not in html
