"""The partner 360's money: commissions by month (chart and figures), payables against the ledger,
statements and disputes, read from what a real run posted."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from ib.models import Attribution, AttributionSource
from ib.services.disputes import dispute_raise
from ib.services.money import commission_lines_post
from ib.services.runs import commission_run_execute, commission_run_start
from ops.roles import Role
from tests.factories import approved_client, staff
from tests.ib.factories import deal, follow, plan, tree
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def test_good_the_partner_page_shows_commissions_by_month_payables_statements_and_disputes(
    client: HttpClient,
) -> None:
    _top, _middle, bottom = tree("TOP", "MID", "LOW")
    version = plan(currency="EUR", valid_from=date(2025, 1, 1))
    follow(bottom, version, valid_from=date(2025, 1, 1))
    trader = approved_client(currency="EUR")
    Attribution.objects.create(
        client=trader, partner=bottom, source=AttributionSource.REFERRAL, valid_from=timezone.now() - timedelta(days=90)
    )
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    noon = datetime.min.time().replace(hour=12)
    deal(trader, lots="2.00", closed_at=timezone.make_aware(datetime.combine(last_month + timedelta(days=3), noon)))
    deal(trader, lots="1.00", closed_at=timezone.make_aware(datetime.combine(last_month + timedelta(days=9), noon)))
    finance = staff(Role.FINANCE)
    run = commission_run_start(period_start=last_month, period_end=this_month - timedelta(days=1), actor=finance)
    commission_run_execute(run_id=run.pk)
    commission_lines_post()
    line = bottom.commission_lines.order_by("id").first()
    assert line is not None
    dispute_raise(line=line, claim="Should have paid 8.00 per lot in full.", actor=staff(Role.SUPPORT))

    sign_in(client, staff(Role.SUPPORT))
    page = client.get(f"/partners/{bottom.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    # 8.00 per lot x 3 lots = 24.00; the introducing partner's 50%: 4.00 + 8.00
    assert re.findall(r'data-label="([0-9-]+)" data-value="([0-9.]+)"', html) == [(f"{last_month:%Y-%m}", "12.00")]
    payables = page.context["payables"]
    assert [(p.currency, p.pending, p.agree) for p in payables] == [("EUR", Decimal("12.00"), True)]
    assert [(s.lines_count, s.total) for s in page.context["statements"]] == [(2, Decimal("12.00"))]
    assert [d.claim for d in page.context["disputes"]] == ["Should have paid 8.00 per lot in full."]
    assert "agree" in html and "Should have paid 8.00 per lot in full." in html
