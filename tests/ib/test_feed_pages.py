"""The trade feed's pages: the deal list with its filters, a deal with the partner in force when it
closed, the feed's batches, a batch with its refusals, and importing a deal report file."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.utils import timezone

from ib import errors
from ib.models import Attribution, AttributionSource, Deal, DealBatch, SymbolGroup
from ops.models import WorkItem
from ops.roles import Role
from tests.factories import staff
from tests.ib.factories import tree
from tests.ib.test_feed import CLOSE, account, csv_text, imported, row
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def test_good_deal_list_shows_names_and_money_and_filters_by_client_symbol_dates_and_batch(client: Client) -> None:
    eur, usd = account("EUR"), account("USD")
    first = imported(row(eur, "E1", spread="1234.50"), row(eur, "E2", symbol="XAUUSD"))
    imported(row(usd, "U1", close_time=(CLOSE + timedelta(days=3)).isoformat()))
    sign_in(client, staff(Role.RISK))
    page = client.get("/partners/deals/")
    assert page.status_code == 200
    html = page.content.decode()
    assert eur.client.display_name in html and usd.client.display_name in html
    assert "1,234.50 EUR" in html
    by_client = client.get("/partners/deals/", {"client": eur.client.reference}).content.decode()
    assert "E1" in by_client and "U1" not in by_client
    by_symbol = client.get("/partners/deals/", {"symbol": "xauusd"}).context["page"].object_list
    assert [d.deal_id for d in by_symbol] == ["E2"]
    late = client.get("/partners/deals/", {"closed_from": (CLOSE + timedelta(days=1)).date().isoformat()})
    assert [d.deal_id for d in late.context["page"].object_list] == ["U1"]
    by_login = client.get("/partners/deals/", {"login": usd.login or ""}).context["page"].object_list
    assert [d.deal_id for d in by_login] == ["U1"]
    of_batch = client.get("/partners/deals/", {"batch": first.pk}).context["page"].object_list
    assert sorted(d.deal_id for d in of_batch) == ["E1", "E2"]


def test_bad_filter_value_is_a_form_error_naming_it(client: Client) -> None:
    sign_in(client, staff(Role.FINANCE))
    page = client.get("/partners/deals/", {"closed_from": "yesterday"})
    assert page.status_code == 400
    assert page.context["filters"].errors["closed_from"] == ["Enter a valid date."]


def test_good_deal_page_shows_the_partner_in_force_when_it_closed(client: Client) -> None:
    acct = account()
    alpha, beta = tree("ALPHA", "BETA")
    Attribution.objects.create(
        client=acct.client, partner=alpha, source=AttributionSource.REFERRAL,
        valid_from=CLOSE - timedelta(days=10), valid_to=CLOSE + timedelta(days=1),
    )  # fmt: skip
    Attribution.objects.create(
        client=acct.client, partner=beta, source=AttributionSource.STAFF, valid_from=CLOSE + timedelta(days=1)
    )
    imported(row(acct, "D-1"), row(acct, "D-2", close_time=(CLOSE + timedelta(days=2)).isoformat()))
    sign_in(client, staff(Role.AUDITOR))
    early = client.get("/partners/deals/D-1/")
    assert early.status_code == 200
    assert early.context["attribution"].partner == alpha
    assert "Introduced by" in early.content.decode() and "Partner ALPHA" in early.content.decode()
    assert client.get("/partners/deals/D-2/").context["attribution"].partner == beta
    assert acct.client.display_name in early.content.decode()
    assert client.get("/partners/deals/NOPE/").status_code == 404


def test_good_feed_and_batch_pages_show_counts_refusals_and_the_work_item(client: Client) -> None:
    acct = account()
    batch = imported(row(acct, "D1"), row(acct, "D2", lots="-1"), row(acct, "D1"))
    sign_in(client, staff(Role.SUPPORT))
    feed = client.get("/partners/feed/")
    assert feed.status_code == 200 and batch.get_absolute_url() in feed.content.decode()
    page = client.get(batch.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="rows-new">1<' in html and 'data-testid="rows-duplicate">1<' in html
    assert 'data-testid="rows-rejected">1<' in html
    assert errors.ROW_LOTS_NOT_POSITIVE.format(value="-1") in html
    item = WorkItem.objects.get(queue__code="trade_feed_exception")
    assert item.get_absolute_url() in html
    sign_in(client, staff(Role.RISK))  # risk and finance work the trade feed exception queue
    item_page = client.get(item.get_absolute_url())
    assert item_page.status_code == 200
    assert batch.get_absolute_url() in item_page.content.decode()


def test_good_import_page_stores_processes_and_shows_the_result(client: Client) -> None:
    acct = account()
    fiona = staff(Role.FINANCE, username="fiona")
    sign_in(client, fiona)
    assert client.get("/partners/deals/import/").status_code == 200
    upload = SimpleUploadedFile("nov.csv", csv_text(row(acct, "F1"), row(acct, "F2", login="9")).encode())
    response = client.post("/partners/deals/import/", {"file": upload})
    batch = DealBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == batch.get_absolute_url()
    assert (batch.filename, batch.received_by, batch.rows_new, batch.rows_rejected) == ("nov.csv", "fiona", 1, 1)
    assert Deal.objects.get().deal_id == "F1"
    result = client.get(response["Location"]).content.decode()
    assert "Imported: 1 new, 0 duplicate, 1 refused." in result
    assert errors.ROW_UNKNOWN_LOGIN.format(login="9") in result


def test_bad_import_of_a_file_missing_columns_is_a_form_error_and_nothing_is_stored(client: Client) -> None:
    sign_in(client, staff(Role.RISK))
    upload = SimpleUploadedFile("bad.csv", b"deal_id,login,lots\n1,2,3\n")
    response = client.post("/partners/deals/import/", {"file": upload})
    assert response.status_code == 400
    (error,) = response.context["form"].errors["file"]
    assert error.startswith("file: the header lacks the column(s) symbol, side, open_time")
    assert not DealBatch.objects.exists()


@override_settings(DEAL_IMPORT_MAX_UPLOAD_BYTES=1024)
def test_bad_import_above_the_size_limit_is_a_form_error(client: Client) -> None:
    sign_in(client, staff(Role.FINANCE))
    upload = SimpleUploadedFile("big.csv", b"x" * 2048)
    response = client.post("/partners/deals/import/", {"file": upload})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == [errors.FEED_TOO_LARGE.format(size=2048, limit=1024)]
    assert not DealBatch.objects.exists()


def test_bad_import_by_a_role_without_the_permission_is_refused(client: Client) -> None:
    sign_in(client, staff(Role.SUPPORT))
    upload = SimpleUploadedFile("nov.csv", b"deal_id\n1\n")
    assert client.post("/partners/deals/import/", {"file": upload}).status_code == 403
    assert not DealBatch.objects.exists()


def test_good_partner_list_links_to_deals_and_the_feed(client: Client) -> None:
    sign_in(client, staff(Role.COMPLIANCE))
    html = client.get("/partners/").content.decode()
    assert 'href="/partners/deals/"' in html and 'href="/partners/feed/"' in html


def test_good_default_symbol_groups_are_seeded() -> None:
    groups = {g.code: sorted(s.name for s in g.symbols.all()) for g in SymbolGroup.objects.all()}
    assert groups["fx"] == sorted(["EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD"])
    assert groups["metals"] == ["XAGUSD", "XAUUSD"]
    assert groups["indices"] == ["GER40", "NAS100", "US30"]


def test_good_deal_page_lists_no_commission_line_yet(client: Client) -> None:
    acct = account()
    now = timezone.now().isoformat()
    imported(row(acct, "N1", close_time=now, open_time=now))
    sign_in(client, staff(Role.FINANCE))
    page = client.get("/partners/deals/N1/")
    assert page.status_code == 200 and page.context["lines"] == []
    assert "No partner had introduced" in page.content.decode()


def test_good_admin_shows_the_feed_read_only_and_takes_fx_rates_into_the_audit_trail(client: Client) -> None:
    from audit.actions import AuditAction
    from audit.models import AuditEvent
    from payments.models import FxRate

    acct = account()
    batch = imported(row(acct, "A1"))
    deal = Deal.objects.get()
    sign_in(client, staff(Role.ADMIN))
    assert client.get("/admin/ib/deal/").status_code == 200
    assert client.get(f"/admin/ib/deal/{deal.pk}/change/").status_code == 200
    assert client.get(f"/admin/ib/dealbatch/{batch.pk}/change/").status_code == 200
    assert client.get("/admin/ib/deal/add/").status_code == 403
    assert client.get("/admin/ib/symbolgroup/").status_code == 200
    added = client.post(
        "/admin/payments/fxrate/add/",
        {"base": "eur", "quote": "usd", "rate": "1.0850", "as_of_0": "2026-11-02", "as_of_1": "00:00:00",
         "source": "ECB"},
    )  # fmt: skip
    assert added.status_code == 302
    rate = FxRate.objects.get()
    assert (rate.base, rate.quote, rate.rate) == ("EUR", "USD", Decimal("1.0850"))
    event = AuditEvent.objects.get(action=AuditAction.FX_RATE_ADDED)
    assert event.after["pair"] == "EUR/USD"
    assert client.get(f"/admin/payments/fxrate/{rate.pk}/delete/").status_code == 403
