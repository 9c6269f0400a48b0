"""Every report page renders from the services' own data, and its figures follow the metric
definitions; the exports hold exactly the page's rows and are audited."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from openpyxl import load_workbook

from audit.models import AuditEvent
from reporting.families import FAMILIES
from tests.personas import persona_user, sign_in
from tests.reporting.world import world

pytestmark = pytest.mark.django_db


def _auditor(client: HttpClient) -> HttpClient:
    user = persona_user("auditor")
    assert user is not None
    return sign_in(client, user)


def _rows(html: str) -> list[list[str]]:
    import re

    body = html.split('data-testid="dataset"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    import html as h

    return [[h.unescape(c) for c in re.findall(r"<td>(.*?)</td>", r, re.S)] for r in rows]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_good_every_report_renders_with_its_filter_bar(client: HttpClient, family: str) -> None:
    world()
    response = _auditor(client).get(f"/reports/{family}/")
    assert response.status_code == 200
    assert b'data-testid="filter-bar"' in response.content
    assert b'data-testid="kpis"' in response.content


def test_good_accounts_report_figures_and_funnel(client: HttpClient) -> None:
    w = world()
    response = _auditor(client).get("/reports/accounts/")
    html = response.content.decode()
    assert 'data-label="Registered" data-value="3"' in html
    assert 'data-label="Approved" data-value="2"' in html
    assert 'data-label="First deposit" data-value="2"' in html
    references = [r[0] for r in _rows(html)]
    assert sorted(references) == sorted([w.gb.reference, w.de.reference, w.registered.reference])


def test_good_filters_combine_and_export_rows_equal_the_page_rows(client: HttpClient) -> None:
    w = world()
    http = _auditor(client)
    query = "?account_type=standard&region=uk&staff=mgr"
    page = _rows(http.get(f"/reports/accounts/{query}").content.decode())
    assert [r[0] for r in page] == [w.gb.reference]
    exported = http.get(f"/reports/accounts/export.csv{query}")
    assert exported.status_code == 200
    body = b"".join(exported.streaming_content)  # type: ignore[attr-defined]
    lines = list(csv.reader(io.StringIO(body.decode())))
    assert lines[1:] == page
    event = AuditEvent.objects.filter(action="report.exported").latest("id")
    assert event.after["filters"]["region"] == "uk" and event.after["format"] == "csv"
    assert event.actor_label == "auditor"


def test_good_xlsx_export_holds_the_same_rows(client: HttpClient) -> None:
    world()
    http = _auditor(client)
    page = _rows(http.get("/reports/payments/").content.decode())
    response = http.get("/reports/payments/export.xlsx")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    book = load_workbook(io.BytesIO(body), read_only=True)
    rows = [[("" if v is None else str(v)) for v in r] for r in book.active.iter_rows(values_only=True)]
    assert rows[1:] == page and len(page) == 4  # three deposits and one withdrawal


def test_bad_reversed_dates_are_a_400_naming_the_field(client: HttpClient) -> None:
    response = _auditor(client).get("/reports/accounts/?date_from=2026-05-01&date_to=2026-04-01")
    assert response.status_code == 400
    assert b'data-testid="error-date_to"' in response.content


def test_good_net_deposits_reconcile_with_the_ledger(client: HttpClient) -> None:
    from payments.models import AccountKind, Posting

    world()
    html = _auditor(client).get("/reports/payments/").content.decode()
    # deposits 1000 + 250 + 400 credited, 100 paid out
    assert "1,550.00 EUR" in html
    wallets = Posting.objects.filter(account__kind__in=(AccountKind.CLIENT_WALLET, AccountKind.TRADING))
    assert -sum(p.amount for p in wallets) == Decimal("1550.00")


def test_good_permissions_report_names_subjects_not_ids(client: HttpClient) -> None:
    from django.db import transaction

    from audit.actions import AuditAction
    from audit.context import Actor, acting_as
    from audit.services import audit_record
    from ops.roles import Role
    from tests.factories import staff

    admin, grantee = staff(Role.ADMIN, username="ada-admin"), staff(username="gus-grantee")
    with acting_as(Actor.staff(admin)), transaction.atomic():
        audit_record(
            action=AuditAction.STAFF_ROLE_GRANTED, subject=grantee, before={"roles": []}, after={"roles": ["risk"]}
        )
    html = _auditor(client).get("/reports/permissions/?staff=ada-admin").content.decode()
    rows = _rows(html)
    assert len(rows) == 1 and rows[0][1] == "ada-admin" and rows[0][3].endswith(": gus-grantee")
    assert rows[0][4:6] == ["roles: []", "roles: ['risk']"]
    assert f"ops.user:{grantee.pk}" not in html


def test_good_failed_withdrawal_payouts_show_with_their_failure_code(client: HttpClient) -> None:
    """The payments report's failed payments are deposits' and withdrawals' alike: a payout the PSP
    failed counts with its code beside the rejected withdrawals."""
    from ops.roles import Role
    from ops.services.approvals import approval_decide
    from payments.services.ledger import wallet_for
    from payments.services.withdrawals import (
        payout_send,
        withdrawal_payout_execute,
        withdrawal_payout_result,
        withdrawal_request,
    )
    from tests.factories import staff

    w = world()
    failed = withdrawal_request(
        client=w.gb, source=wallet_for(client=w.gb, currency="EUR"), amount="50.00", method="card",
        destination=w.withdrawal.destination, destination_name=w.gb.display_name,
    )  # fmt: skip
    failed.refresh_from_db()
    if failed.approval_request_id and failed.status == "under_review":
        approval_decide(
            request_id=failed.approval_request_id, checker=staff(Role.FINANCE), decision="approve", reason="ok"
        )
        failed.refresh_from_db()
    if failed.status == "approved":
        withdrawal_payout_execute(withdrawal_id=failed.pk, actor=staff(Role.FINANCE))
    voucher = payout_send(withdrawal_id=failed.pk)
    withdrawal_payout_result(withdrawal_id=failed.pk, paid=False, voucher=voucher, failure_code="card_expired")
    failed.refresh_from_db()
    assert failed.status == "failed"
    html = _auditor(client).get("/reports/payments/").content.decode()
    assert '<li data-label="Failed withdrawal payouts"><span class="kpi-value">1</span>' in html
    assert '<li data-label="Withdrawals rejected"><span class="kpi-value">0</span>' in html
    table = html.split('data-testid="withdrawal-failure-codes"', 1)[1].split("</table>", 1)[0]
    assert "<td>card_expired</td>" in table and "<td>1</td>" in table
