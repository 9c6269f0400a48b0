"""Exposure in money, not only lots: the platform gateway describes each symbol's contract (contract
size, base and quote currency) and quotes its price; the dashboard shows notional per symbol and
book and the net per currency in the reporting currency (converted with the FX rates), the clients'
and the broker's B-book floating P&L, and says which symbol it could not price or convert; exposure
limits are set in lots, in notional or both (bad amounts refused, nothing stored), and a notional
breach raises an alert. The lots view keeps working beside it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from accounts.models import Book
from accounts.platform import get_platform
from audit.models import AuditEvent
from ops.models import WorkItem
from ops.roles import Role
from payments.models import FxRate
from risk import errors
from risk.models import ExposureLimit, FxRateGap, Instrument, Position, RiskAlert
from risk.services import exposure_check, instruments_refresh, positions_refresh
from sim.platform import SimulatedPlatform
from tests.factories import approved_client, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _as(role: Role, username: str) -> HttpClient:
    return sign_in(HttpClient(), staff(role, username=username))


def _book() -> None:
    """An A-book client long 3 EURUSD from 1.0800; a B-book client short 1 EURUSD from 1.0900, long 2
    XAUUSD from 2600.00, long 1 GER40 (no open price given) and long 0.5 of a symbol the platform
    does not list; GER40 quoted 19500/19502; one EUR/USD rate of 1.10."""
    a_client = approved_client(first_name="Alpha", last_name="Book", country="DE")
    b_client = approved_client(first_name="Beta", last_name="Book", country="FR")
    a_account = a_client.trading_accounts.get()
    a_account.book = Book.A
    a_account.save()
    b_login = b_client.trading_accounts.get().login
    SimulatedPlatform.open_position(a_account.login, "EURUSD", Decimal("3.00"), open_price=Decimal("1.08000"))
    SimulatedPlatform.open_position(b_login, "EURUSD", Decimal("-1.00"), open_price=Decimal("1.09000"))
    SimulatedPlatform.open_position(b_login, "XAUUSD", Decimal("2.00"), open_price=Decimal("2600.00"))
    SimulatedPlatform.open_position(b_login, "GER40", Decimal("1.00"))
    SimulatedPlatform.open_position(b_login, "BTCUSD", Decimal("0.50"))
    SimulatedPlatform.set_price("GER40", Decimal("19500"), Decimal("19502"))
    FxRate.objects.create(base="EUR", quote="USD", rate=Decimal("1.10"), as_of=timezone.now() - timedelta(days=1))
    assert positions_refresh() == 5
    assert instruments_refresh() == Instrument.objects.count() >= 12


def test_good_the_gateway_describes_symbols_and_quotes_prices_that_move() -> None:
    platform = get_platform()
    specs = {i.symbol: i for i in platform.instruments()}
    assert (specs["EURUSD"].contract_size, specs["EURUSD"].base, specs["EURUSD"].quote) == (
        Decimal("100000"), "EUR", "USD",
    )  # fmt: skip
    assert (specs["XAUUSD"].contract_size, specs["XAUUSD"].base) == (Decimal("100"), "XAU")
    assert (specs["GER40"].base, specs["GER40"].quote) == ("", "EUR")  # an index: no base currency
    SimulatedPlatform.set_price("EURUSD", Decimal("1.1000"), Decimal("1.1002"))
    (quote,) = platform.quotes(["EURUSD", "NOSUCH"])
    assert (quote.symbol, quote.bid, quote.ask) == ("EURUSD", Decimal("1.1000"), Decimal("1.1002"))
    instruments_refresh()
    eurusd = Instrument.objects.get(symbol="EURUSD")
    assert (eurusd.mid, eurusd.quote_currency, eurusd.base_currency) == (Decimal("1.1001"), "USD", "EUR")


def test_good_dashboard_shows_notional_per_symbol_and_currency_and_the_b_book_floating_pnl() -> None:
    _book()
    http = _as(Role.RISK, "desk-risk")
    response = http.get("/risk/")
    assert response.status_code == 200
    data = response.context["data"]
    assert data["reporting"] == "USD"
    rows = {r["symbol"]: r for r in data["by_symbol"]}
    # the lots view as before
    assert [(s, r["a"], r["b"], r["net"]) for s, r in rows.items()] == [
        ("EURUSD", Decimal("3.00"), Decimal("-1.00"), Decimal("2.00")),
        ("XAUUSD", Decimal("0"), Decimal("2.00"), Decimal("2.00")),
        ("GER40", Decimal("0"), Decimal("1.00"), Decimal("1.00")),
        ("BTCUSD", Decimal("0"), Decimal("0.50"), Decimal("0.50")),
    ]
    # notional: lots x contract size x the middle price, in USD (GER40 from EUR at 1.10)
    eurusd, xau, ger = rows["EURUSD"], rows["XAUUSD"], rows["GER40"]
    assert (eurusd["price"], eurusd["reporting_a"], eurusd["reporting_b"], eurusd["reporting_net"]) == (
        Decimal("1.08455"), Decimal("325365.00"), Decimal("-108455.00"), Decimal("216910.00"),
    )  # fmt: skip
    assert (xau["notional_net"], xau["reporting_net"]) == (Decimal("530050.00"), Decimal("530050.00"))
    assert (ger["notional_net"], ger["quote_currency"], ger["reporting_net"]) == (
        Decimal("19501.00"), "EUR", Decimal("21451.10"),
    )  # fmt: skip
    assert rows["BTCUSD"]["unpriced"] == "The platform has not described this symbol (no contract size)."
    assert rows["BTCUSD"]["reporting_net"] is None
    # floating P&L: a long closes at the bid, a short at the ask; the broker is the other side of its B-book
    assert (eurusd["reporting_floating"], eurusd["reporting_broker_b_floating"]) == (
        Decimal("1890.00"), Decimal("-540.00"),
    )  # fmt: skip
    assert (xau["reporting_floating"], xau["reporting_broker_b_floating"]) == (
        Decimal("10020.00"),
        Decimal("-10020.00"),
    )
    assert ger["reporting_floating"] is None  # no open price from the platform
    assert data["floating"] == {"clients": Decimal("11910.00"), "broker_b": Decimal("-10560.00"), "symbols": 2}
    # per currency: EUR long, USD short, XAU long; the index adds to no currency
    currencies = {c["currency"]: (c["net"], c["reporting_a"], c["reporting_net"]) for c in data["currencies"]}
    assert currencies == {
        "USD": (Decimal("-746960.00"), Decimal("-325365.00"), Decimal("-746960.00")),
        "XAU": (Decimal("200.00"), Decimal("0.00"), Decimal("530050.00")),
        "EUR": (Decimal("200000.00"), Decimal("325365.00"), Decimal("216910.00")),
    }
    assert [c["currency"] for c in data["currencies"]] == ["USD", "XAU", "EUR"]
    assert data["notional_chart"] == [
        ("XAUUSD", Decimal("530050.00")), ("EURUSD", Decimal("216910.00")), ("GER40", Decimal("21451.10")),
    ]  # fmt: skip
    page = response.content.decode()
    assert 'data-testid="notional-chart"' in page and 'data-label="XAUUSD" data-value="530050.00"' in page
    assert "530,050.00 USD" in page and "Gold vs US dollar" in page
    assert "-10,560.00 USD" in page  # the broker's B-book floating P&L, in words beside it
    assert 'data-testid="missing-rates"' not in page


def test_good_another_reporting_currency_and_a_missing_rate_said_on_the_page() -> None:
    _book()
    http = _as(Role.RISK, "desk-risk")
    data = http.get("/risk/", {"currency": "EUR"}).context["data"]
    rows = {r["symbol"]: r for r in data["by_symbol"]}
    # USD into EUR: the inverse of the EUR/USD rate, to 8 places
    assert rows["EURUSD"]["reporting_net"] == (Decimal("216910.00") * Decimal("0.90909091")).quantize(Decimal("0.01"))
    assert rows["GER40"]["reporting_net"] == Decimal("19501.00")
    FxRate.objects.all().delete()
    response = http.get("/risk/")
    data = response.context["data"]
    ger = next(r for r in data["by_symbol"] if r["symbol"] == "GER40")
    assert (ger["notional_net"], ger["reporting_net"], ger["unconverted"]) == (
        Decimal("19501.00"), None, "No EUR/USD rate: not converted.",
    )  # fmt: skip
    assert data["missing_rates"] == ["EUR/USD"]
    assert [s for s, _ in data["notional_chart"]] == ["XAUUSD", "EURUSD"]
    page = response.content.decode()
    assert 'data-testid="missing-rates"' in page and "No FX rate for EUR/USD" in page
    assert http.get("/risk/", {"currency": "XYZ"}).status_code == 400


def test_bad_limits_need_lots_or_notional_with_good_amounts_and_store_nothing() -> None:
    http = _as(Role.RISK, "limits")
    base = {"symbol": "EURUSD", "max_net_lots": "", "max_net_notional": "", "notional_currency": "USD", "reason": "x"}
    cases = [
        ({}, "max_net_lots", errors.LIMIT_LOTS_OR_NOTIONAL),
        ({"max_net_notional": "0"}, "max_net_notional", errors.LIMIT_ZERO),
        ({"max_net_notional": "-5"}, "max_net_notional", errors.LIMIT_ZERO),
        ({"max_net_notional": "1000.123"}, "max_net_notional", errors.LIMIT_PLACES.format(places=2)),
        ({"max_net_notional": "1000.5", "notional_currency": "JPY"}, "max_net_notional",
         errors.LIMIT_PLACES.format(places=0)),
        ({"max_net_notional": "lots"}, "max_net_notional", "An amount, e.g. 5000000."),
        ({"max_net_notional": "5", "notional_currency": "XYZ"}, "notional_currency",
         "Select a valid choice. XYZ is not one of the available choices."),
        ({"max_net_lots": "0.001"}, "max_net_lots", errors.LIMIT_PLACES.format(places=2)),
    ]  # fmt: skip
    for change, field, message in cases:
        response = http.post("/risk/limits/", base | change)
        assert response.status_code == 400, change
        assert response.context["form"].errors[field] == [message], change
    assert not ExposureLimit.objects.exists()
    assert not AuditEvent.objects.filter(action="exposure_limit.set").exists()


def test_good_a_notional_limit_breach_raises_an_alert_with_its_figures() -> None:
    c = approved_client()
    SimulatedPlatform.open_position(c.trading_accounts.get().login, "EURUSD", Decimal("3.00"))
    positions_refresh()
    instruments_refresh()
    http = _as(Role.RISK, "limits")
    response = http.post(
        "/risk/limits/",
        {"symbol": "eurusd", "max_net_lots": "5", "max_net_notional": "300,000", "notional_currency": "USD",
         "reason": "risk appetite"},
    )  # fmt: skip
    assert response.status_code == 302
    limit = ExposureLimit.objects.get()
    assert (limit.max_net_lots, limit.max_net_notional, limit.notional_currency) == (
        Decimal("5.00"), Decimal("300000.00"), "USD",
    )  # fmt: skip
    event = AuditEvent.objects.get(action="exposure_limit.set")
    assert event.after == {"symbol": "EURUSD", "max_net_lots": "5.00", "max_net_notional": "300000.00",
                           "notional_currency": "USD"}  # fmt: skip
    page = http.get("/risk/limits/").content.decode()
    assert "300,000.00 USD" in page
    (alert,) = exposure_check()  # 3 lots are within 5, 325,365.00 USD is not within 300,000.00
    assert alert.summary == ("Net exposure in EURUSD is 325,365.00 USD notional, over the limit of 300,000.00 USD")
    assert WorkItem.objects.filter(queue__code="risk_alert", subject_id=str(alert.pk)).count() == 1
    detail = _as(Role.RISK, "analyst").get(f"/risk/alerts/{alert.pk}/").content.decode()
    assert "net notional 325,365.00 USD at 1.08455" in detail and "limit 300,000.00 USD notional" in detail
    assert exposure_check() == []  # once per symbol and day
    assert Position.objects.count() == 1 and RiskAlert.objects.count() == 1


def test_good_a_notional_limit_in_a_currency_without_a_rate_opens_one_gap_not_an_alert() -> None:
    c = approved_client()
    SimulatedPlatform.open_position(c.trading_accounts.get().login, "XAUUSD", Decimal("1.00"))
    positions_refresh()
    instruments_refresh()
    http = _as(Role.RISK, "limits")
    response = http.post(
        "/risk/limits/",
        {"symbol": "XAUUSD", "max_net_notional": "1000", "notional_currency": "CHF", "reason": "metals appetite"},
    )
    assert response.status_code == 302
    assert exposure_check() == []
    assert exposure_check() == []
    (gap,) = FxRateGap.objects.all()
    assert (gap.base, gap.quote, gap.day, gap.for_exposure, gap.examples) == (
        "USD", "CHF", timezone.now().date(), True, ["XAUUSD"],
    )  # fmt: skip
    (item,) = WorkItem.objects.filter(queue__code="fx_rate_missing")
    assert item.title == f"No USD/CHF rate on {gap.day:%Y-%m-%d}: exposure not converted"
    assert not RiskAlert.objects.exists()
