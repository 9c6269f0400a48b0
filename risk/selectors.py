"""Risk reads: rules with their versions and per-version precision, alerts, the backtest a checker
sees beside a proposed rule version, and exposure and P&L for the risk dashboard (set-based SQL)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Client
from risk.models import AlertStatus, ExposureLimit, FxRateGap, Instrument, RiskAlert, RiskRule, RiskRuleVersion
from risk.rules import Gap, Hit, country_names, gaps, hits
from risk.services import exposure_can_view, fx_gap_covered, risk_can_view, version_in_force

BACKTEST_DAYS = 30


def rule_list() -> QuerySet[RiskRule]:
    return RiskRule.objects.annotate(
        open_alerts=Count("alerts", filter=Q(alerts__status=AlertStatus.OPEN)), all_alerts=Count("alerts")
    ).order_by("code")


def rule_get_for(actor: Any, pk: int) -> RiskRule:
    """A rule, for whoever may see the rules (404 otherwise: its existence is not told)."""
    if not risk_can_view(actor):
        raise Http404
    found = RiskRule.objects.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def alert_get_for(actor: Any, pk: int) -> RiskAlert:
    """An alert, for risk and the auditor, and for compliance (who report suspicious activity from it)."""
    from risk.sar import sar_can_start

    if not (risk_can_view(actor) or sar_can_start(actor)):
        raise Http404
    found = RiskAlert.objects.select_related("rule", "rule_version", "client", "disposed_by").filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def alert_list(*, status: str = "") -> QuerySet[RiskAlert]:
    alerts = RiskAlert.objects.select_related("rule", "rule_version", "client")
    return alerts.filter(status=status) if status else alerts


@dataclass
class Precision:
    true_match: int = 0
    false_positive: int = 0
    escalated: int = 0
    open: int = 0

    @property
    def decided(self) -> int:
        return self.true_match + self.false_positive

    @property
    def precision(self) -> Decimal | None:
        """True matches over true matches and false positives (escalations are not yet settled)."""
        if not self.decided:
            return None
        return (Decimal(100) * self.true_match / self.decided).quantize(Decimal("0.1"))


def precision_by_version(rule: RiskRule) -> dict[int, Precision]:
    counts: dict[int, Precision] = defaultdict(Precision)
    rows = RiskAlert.objects.filter(rule=rule).values("rule_version_id", "status").annotate(n=Count("id"))
    for row in rows:
        setattr(counts[row["rule_version_id"]], row["status"], row["n"])
    return counts


def rule_versions(rule: RiskRule) -> list[dict[str, Any]]:
    now = timezone.now()
    precision = precision_by_version(rule)
    shown = []
    for version in rule.versions.select_related("approval").order_by("-number"):
        state = (
            "scheduled" if version.valid_from > now
            else "ended" if version.valid_to is not None and version.valid_to <= now
            else "in force"
        )  # fmt: skip
        shown.append({"version": version, "state": state, "precision": precision.get(version.pk, Precision())})
    return shown


# --- the backtest of a proposed version -------------------------------------------------------------


@dataclass
class BacktestRow:
    hit: Hit
    client: Client | None
    proposed: bool
    current: bool
    disposition: str = ""


@dataclass
class Backtest:
    rule: RiskRule
    start: datetime
    end: datetime
    computed_at: datetime
    current_version: RiskRuleVersion | None
    rows: list[BacktestRow] = field(default_factory=list)
    proposed_count: int = 0
    current_count: int = 0
    proposed_precision: Precision = field(default_factory=Precision)
    current_precision: Precision = field(default_factory=Precision)
    missed_true_matches: int = 0
    # the amounts the proposed version could not compare (no rate into its currency), per currency and day
    unconverted: list[Gap] = field(default_factory=list)

    @property
    def both(self) -> int:
        return sum(1 for r in self.rows if r.proposed and r.current)


SHOWN_ROWS = 50


def rule_backtest(rule: RiskRule, params: dict[str, Any], *, days: int = BACKTEST_DAYS) -> Backtest:
    """The proposed ``params`` replayed over the last ``days`` of real activity, beside the version
    in force now replayed over the same window; and each one's precision on the alerts of this rule
    already decided in that window (a decided alert counts for a version when the replay raises it
    again)."""
    end = timezone.now()
    start = end - timedelta(days=days)
    current = version_in_force(rule, end) if rule.pk else None
    proposed_hits = {h.key: h for h in hits(rule.kind, params, start=start, end=end)}
    current_hits = {h.key: h for h in hits(rule.kind, current.params, start=start, end=end)} if current else {}
    decided = dict(
        RiskAlert.objects.filter(rule=rule, raised_at__gte=start)
        .exclude(status=AlertStatus.OPEN)
        .values_list("key", "status")
    )
    result = Backtest(
        rule=rule, start=start, end=end, computed_at=end, current_version=current,
        proposed_count=len(proposed_hits), current_count=len(current_hits),
        unconverted=gaps(rule.kind, params, start=start, end=end),
    )  # fmt: skip
    for raised, precision in ((proposed_hits, result.proposed_precision), (current_hits, result.current_precision)):
        for key, status in decided.items():
            if key in raised:
                setattr(precision, status, getattr(precision, status) + 1)
    result.missed_true_matches = sum(
        1 for key, status in decided.items() if status == AlertStatus.TRUE_MATCH and key not in proposed_hits
    )
    keys = list(dict.fromkeys([*proposed_hits, *current_hits]))
    # the changes first (what the new version adds or drops), then what both raise
    keys.sort(key=lambda k: (k in proposed_hits and k in current_hits, k))
    clients = Client.objects.in_bulk(
        [h.client_id for h in (*proposed_hits.values(), *current_hits.values()) if h.client_id]
    )
    for key in keys[:SHOWN_ROWS]:
        hit = proposed_hits.get(key) or current_hits[key]
        result.rows.append(
            BacktestRow(
                hit=hit,
                client=clients.get(hit.client_id) if hit.client_id else None,
                proposed=key in proposed_hits,
                current=key in current_hits,
                disposition=AlertStatus(decided[key]).label if key in decided else "",
            )
        )
    return result


# --- exposure and P&L ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    group: str = ""
    partner: int | None = None
    country: str = ""

    def sql(self, client: str = "c", account: str = "ta", client_id: str = "") -> tuple[str, dict[str, Any]]:
        """The filters as SQL on the aliases given (``client_id``: the client's id column when the
        statement has no client row, e.g. ``x.client_id`` of a deal)."""
        client_id = client_id or f"{client}.id"
        where: list[str] = []
        params: dict[str, Any] = {}
        if self.group:
            where.append(f"{account}.platform_group = %(group)s")
            params["group"] = self.group
        if self.country:
            where.append(f"{client}.country = %(country)s")
            params["country"] = self.country
        if self.partner:
            where.append(
                f"EXISTS (SELECT 1 FROM ib_attribution at WHERE at.client_id = {client_id}"  # noqa: S608 - fixed fragments, values bound
                " AND at.partner_id = %(partner)s AND at.valid_to IS NULL)"
            )
            params["partner"] = self.partner
        return (" AND " + " AND ".join(where)) if where else "", params


def _rows(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# the clients' floating result of a position row at the instrument's price, in price units x lots
# (x contract size: in the quote currency): a long closes at the bid, a short at the ask
_FLOATING = "p.volume * CASE WHEN p.volume > 0 THEN i.bid ELSE i.ask END - p.open_value"


def exposure_by_symbol(filters: Filters | None = None) -> list[dict[str, Any]]:
    """Net open lots per symbol (long positive), split by book, from the platform's open positions;
    and the clients' floating result per book at the platform's latest price (``float_a``,
    ``float_b``: in price units x lots, None when no position of the book has an open price)."""
    where, params = (filters or Filters()).sql()
    return _rows(
        "SELECT p.symbol, coalesce(sum(p.volume) FILTER (WHERE ta.book = 'a'), 0) AS a,"  # noqa: S608 - fixed fragments, values bound
        " coalesce(sum(p.volume) FILTER (WHERE ta.book = 'b'), 0) AS b, sum(p.volume) AS net,"
        " count(DISTINCT ta.client_id) AS clients,"
        f" sum({_FLOATING}) FILTER (WHERE ta.book = 'a') AS float_a,"
        f" sum({_FLOATING}) FILTER (WHERE ta.book = 'b') AS float_b"
        " FROM risk_position p JOIN accounts_tradingaccount ta ON ta.id = p.trading_account_id"
        " JOIN accounts_client c ON c.id = ta.client_id"
        " LEFT JOIN risk_instrument i ON i.symbol = p.symbol"
        f" WHERE true{where} GROUP BY p.symbol ORDER BY abs(sum(p.volume)) DESC, p.symbol",
        params,
    )


# --- notional: lots x contract size x price, converted with the FX rates ------------------------------


def reporting_currency() -> str:
    return str(settings.RISK_REPORTING_CURRENCY)


def _exact(amount: Decimal, currency: str) -> Decimal:
    from payments.currencies import minor_units

    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)))


class Rates:
    """FX rates of one moment, each pair looked up once (``payments.selectors.fx_rate_at``)."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or timezone.now()
        self._known: dict[tuple[str, str], Decimal | None] = {}

    def rate(self, base: str, quote: str) -> Decimal | None:
        from payments.errors import FxRateMissing
        from payments.selectors import fx_rate_at

        if (base, quote) not in self._known:
            try:
                self._known[(base, quote)] = fx_rate_at(base, quote, self.at)[0]
            except FxRateMissing:
                self._known[(base, quote)] = None
        return self._known[(base, quote)]

    def missing(self) -> list[tuple[str, str]]:
        return sorted(pair for pair, rate in self._known.items() if rate is None)


def convert(amount: Decimal, base: str, quote: str, *, at: datetime, rates: Rates | None = None) -> Decimal | None:
    """``amount`` of ``base`` in ``quote`` (to its minor units) at the rate of ``at``; None without a rate."""
    rate = (rates or Rates(at)).rate(base, quote)
    return None if rate is None else _exact(amount * rate, quote)


def exposure_priced(
    by_symbol: list[dict[str, Any]], *, reporting: str = "", rates: Rates | None = None
) -> list[dict[str, Any]]:
    """Each symbol row of :func:`exposure_by_symbol` with its contract and price: notional per book
    (lots x contract size x mid price) in the quote currency and in the ``reporting`` currency, and
    the clients' floating P&L and the broker's B-book floating P&L (the other side of its B-book
    clients'). A row the platform gave no contract or price for says why (``unpriced``); a quote
    currency without a rate into the reporting currency says which pair (``unconverted``)."""
    reporting = reporting or reporting_currency()
    rates = rates or Rates()
    instruments = Instrument.objects.in_bulk([r["symbol"] for r in by_symbol], field_name="symbol")
    for row in by_symbol:
        instrument = instruments.get(row["symbol"])
        row.update({
            "instrument": instrument, "price": None, "quote_currency": "", "base_currency": "",
            "notional_a": None, "notional_b": None, "notional_net": None, "reporting": reporting,
            "reporting_a": None, "reporting_b": None, "reporting_net": None, "floating": None,
            "broker_b_floating": None, "reporting_floating": None, "reporting_broker_b_floating": None,
            "unpriced": "", "unconverted": "", "price_shown": "", "lot_shown": "",
        })  # fmt: skip
        if instrument is None:
            row["unpriced"] = "The platform has not described this symbol (no contract size)."
            continue
        row["quote_currency"], row["base_currency"] = instrument.quote_currency, instrument.base_currency
        price = instrument.mid
        if price is None:
            row["unpriced"] = "The platform quotes no price for this symbol."
            continue
        row["price"] = price
        row["price_shown"] = f"{price.normalize():,f}"
        row["lot_shown"] = f"{instrument.contract_size.normalize():,f}"
        quote, size = instrument.quote_currency, instrument.contract_size
        for book in ("a", "b", "net"):
            row[f"notional_{book}"] = _exact(row[book] * size * price, quote)
        floating: list[Decimal] = [row[k] for k in ("float_a", "float_b") if row.get(k) is not None]
        if floating:
            row["floating"] = _exact(sum(floating, Decimal(0)) * size, quote)
        if row.get("float_b") is not None:
            row["broker_b_floating"] = _exact(-row["float_b"] * size, quote)
        rate = rates.rate(quote, reporting)
        if rate is None:
            row["unconverted"] = f"No {quote}/{reporting} rate: not converted."
            continue
        for key in ("a", "b", "net", "floating", "broker_b_floating"):
            source = row[f"notional_{key}"] if key in ("a", "b", "net") else row[key]
            if source is not None:
                row[f"reporting_{key}"] = _exact(source * rate, reporting)
    return by_symbol


def exposure_currencies(priced: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Net exposure per currency from the priced symbols: a long EURUSD lot is 100,000 EUR long and
    100,000 x price USD short; each leg valued in the reporting currency at the symbol's notional
    (so only the quote currency needs a rate). An index (no base currency) is exposure to the index,
    its value and its financing both in the quote currency: it adds to no currency's net."""
    legs: dict[str, dict[str, Any]] = {}

    def leg(currency: str) -> dict[str, Any]:
        return legs.setdefault(currency, {
            "currency": currency, "a": Decimal(0), "b": Decimal(0), "net": Decimal(0),
            "reporting_a": Decimal(0), "reporting_b": Decimal(0), "reporting_net": Decimal(0), "complete": True,
            "symbols": [],
        })  # fmt: skip

    for row in priced:
        instrument = row.get("instrument")
        if row.get("price") is None or instrument is None or not instrument.base_currency:
            continue
        size, price = instrument.contract_size, row["price"]
        for currency, units in ((instrument.base_currency, size), (instrument.quote_currency, -size * price)):
            entry = leg(currency)
            entry["symbols"].append(row["symbol"])
            sign = 1 if units > 0 else -1
            for book in ("a", "b", "net"):
                entry[book] += row[book] * units
                shown = row.get(f"reporting_{book}")
                if shown is None:
                    entry["complete"] = False
                else:
                    entry[f"reporting_{book}"] += sign * shown
    rows = list(legs.values())
    for entry in rows:
        for book in ("a", "b", "net"):
            entry[book] = _exact(entry[book], entry["currency"])
            if not entry["complete"]:
                entry[f"reporting_{book}"] = None
    rows.sort(key=lambda e: (-(abs(e["reporting_net"]) if e["reporting_net"] is not None else 0), e["currency"]))
    return rows


def exposure_fx_gaps(priced: list[dict[str, Any]], limits: Any) -> dict[tuple[str, str], list[str]]:
    """The pairs the exposure could not be converted with: a priced symbol's quote currency into the
    reporting currency, and into the currency of its notional limit; the symbols affected."""
    rates = Rates()
    missing: dict[tuple[str, str], list[str]] = {}
    wanted = {limit.symbol: limit.notional_currency for limit in limits if limit.max_net_notional is not None}
    for row in priced:
        quote = row.get("quote_currency")
        if row.get("price") is None or not quote:
            continue
        for target in {row["reporting"], wanted.get(row["symbol"], "")} - {""}:
            if rates.rate(quote, target) is None:
                missing.setdefault((quote, target), []).append(row["symbol"])
    return missing


HEAT_LEFT, HEAT_TOP, HEAT_COL, HEAT_ROW = 90, 22, 110, 24


def exposure_heatmap(filters: Filters | None = None) -> dict[str, Any]:
    """Net lots per symbol (rows) and platform group (columns)."""
    where, params = (filters or Filters()).sql()
    rows = _rows(
        "SELECT p.symbol, ta.platform_group AS grp, sum(p.volume) AS net"  # noqa: S608 - fixed fragments, values bound
        " FROM risk_position p JOIN accounts_tradingaccount ta ON ta.id = p.trading_account_id"
        " JOIN accounts_client c ON c.id = ta.client_id"
        f" WHERE true{where} GROUP BY p.symbol, ta.platform_group",
        params,
    )
    symbols = sorted({r["symbol"] for r in rows})
    groups = sorted({r["grp"] for r in rows})
    cells = {(r["symbol"], r["grp"]): r["net"] for r in rows}
    top = max((abs(v) for v in cells.values()), default=Decimal(0)) or Decimal(1)
    grid = []
    for j, symbol in enumerate(symbols):
        line = []
        y = HEAT_TOP + j * HEAT_ROW
        for i, group in enumerate(groups):
            value = cells.get((symbol, group), Decimal(0))
            shade = min(4, int((abs(value) / top) * 4 + Decimal("0.999"))) if value else 0
            line.append({
                "group": group, "value": value, "css": f"heat-{'neg' if value < 0 else 'pos'}-{shade}",
                "x": HEAT_LEFT + i * HEAT_COL, "y": y,
            })  # fmt: skip
        grid.append({"symbol": symbol, "cells": line, "y": y, "label_y": y + HEAT_ROW - 8})
    heads = [{"group": g, "x": HEAT_LEFT + i * HEAT_COL + 4} for i, g in enumerate(groups)]
    return {
        "groups": heads, "grid": grid, "width": HEAT_LEFT + len(groups) * HEAT_COL,
        "height": HEAT_TOP + len(symbols) * HEAT_ROW, "cell_w": HEAT_COL - 4, "cell_h": HEAT_ROW - 4,
    }  # fmt: skip


def exposure_by_currency(by_symbol: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Net lots per currency leg: a long EURUSD is long EUR and short USD (in lots of the base)."""
    legs: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"a": Decimal(0), "b": Decimal(0)})
    for row in by_symbol:
        symbol = row["symbol"].upper()
        if len(symbol) < 6 or not symbol[:6].isalpha():
            continue
        for currency, sign in ((symbol[:3], 1), (symbol[3:6], -1)):
            legs[currency]["a"] += sign * row["a"]
            legs[currency]["b"] += sign * row["b"]
    return [
        {"currency": c, "a": v["a"], "b": v["b"], "net": v["a"] + v["b"]}
        for c, v in sorted(legs.items(), key=lambda kv: (-abs(kv[1]["a"] + kv[1]["b"]), kv[0]))
    ]


def pnl(filters: Filters | None = None, *, days: int = 30, top: int = 10) -> dict[str, Any]:
    """Realised P&L from the trade feed's deals closed in the last ``days``: the clients' (profit and
    swap) per currency and book, the broker's B-book result (the other side of its B-book clients'
    P&L) and its revenue (commission and spread, both books); the clients with the largest P&L."""
    filters = filters or Filters()
    where, params = filters.sql(client_id="x.client_id")
    params |= {"since": timezone.now() - timedelta(days=days), "top": top}
    # one pass over the deals, grouped by client, currency and book (the client row only when a
    # filter reads it); from the groups, in the same statement, the totals per currency and book
    # and the ``top`` largest P&Ls: a few rows come back, not one per client
    join_client = " JOIN accounts_client c ON c.id = x.client_id" if filters.country else ""
    rows = _rows(
        "WITH g AS (SELECT x.client_id, x.currency, ta.book, count(*) AS deals, sum(x.profit + x.swap) AS pnl,"  # noqa: S608 - fixed fragments, values bound
        " sum(x.commission + x.spread) AS revenue"
        " FROM ib_deal x JOIN accounts_tradingaccount ta ON ta.id = x.trading_account_id"
        + join_client
        + f" WHERE x.closed_at >= %(since)s{where} GROUP BY x.client_id, x.currency, ta.book)"  # noqa: S608 - as above
        " (SELECT NULL::bigint AS client_id, currency, book, sum(deals)::bigint AS deals, sum(pnl) AS pnl,"
        " sum(revenue) AS revenue FROM g GROUP BY currency, book)"
        " UNION ALL"
        " (SELECT client_id, currency, book, deals, pnl, revenue FROM g ORDER BY abs(pnl) DESC, client_id LIMIT %(top)s)",
        params,
    )
    groups = [r for r in rows if r["client_id"] is None]
    by_currency: dict[str, dict[str, Any]] = {}
    for row in groups:
        total = by_currency.setdefault(
            row["currency"],
            {"currency": row["currency"], "deals": 0, "client_pnl": Decimal(0), "b_book_pnl": Decimal(0),
             "revenue": Decimal(0)},
        )  # fmt: skip
        total["deals"] += row["deals"]
        total["client_pnl"] += row["pnl"]
        total["revenue"] += row["revenue"]
        if row["book"] == "b":
            total["b_book_pnl"] -= row["pnl"]
    totals = [by_currency[c] for c in sorted(by_currency)]
    clients = sorted((r for r in rows if r["client_id"] is not None), key=lambda r: (-abs(r["pnl"]), r["client_id"]))
    names = Client.objects.in_bulk([r["client_id"] for r in clients])
    for row in clients:
        row["client"] = names.get(row["client_id"])
    return {"totals": totals, "clients": clients, "days": days}


def dashboard(filters: Filters | None = None, *, reporting: str = "") -> dict[str, Any]:
    reporting = reporting or reporting_currency()
    rates = Rates()
    by_symbol = exposure_priced(exposure_by_symbol(filters), reporting=reporting, rates=rates)
    priced = [r for r in by_symbol if r["reporting_net"] is not None]
    by_notional = sorted(priced, key=lambda r: (-abs(r["reporting_net"]), r["symbol"]))[:12]
    currencies = exposure_currencies(by_symbol)
    floating = [r for r in by_symbol if r["reporting_floating"] is not None]
    broker = [r for r in by_symbol if r["reporting_broker_b_floating"] is not None]
    return {
        "reporting": reporting,
        "by_symbol": by_symbol,
        "by_currency": exposure_by_currency(by_symbol),
        "currencies": currencies,
        "heatmap": exposure_heatmap(filters),
        "pnl": pnl(filters),
        "chart": [(r["symbol"], r["net"]) for r in by_symbol[:12]],
        "notional_chart": [(r["symbol"], r["reporting_net"]) for r in by_notional],
        "currency_chart": [(c["currency"], c["reporting_net"]) for c in currencies if c["reporting_net"] is not None],
        "floating": {
            "clients": sum((r["reporting_floating"] for r in floating), Decimal(0)) if floating else None,
            "broker_b": sum((r["reporting_broker_b_floating"] for r in broker), Decimal(0)) if broker else None,
            "symbols": len(floating),
        },
        "unpriced": [r for r in by_symbol if r["unpriced"] or r["unconverted"]],
        "missing_rates": [f"{base}/{quote}" for base, quote in rates.missing()],
        "open_alerts": RiskAlert.objects.filter(status=AlertStatus.OPEN).count(),
    }


def limit_list() -> list[ExposureLimit]:
    return list(ExposureLimit.objects.order_by("symbol"))


# --- missing FX rates (the ``fx_rate_missing`` queue) ------------------------------------------------


def fx_gap_get_for(actor: Any, pk: int) -> FxRateGap:
    from risk.services import fx_gap_can_view

    if not fx_gap_can_view(actor):
        raise Http404
    found = FxRateGap.objects.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def fx_gaps_of(rule: RiskRule) -> list[dict[str, Any]]:
    """The gaps a rule met, newest first, each with its work item and whether a rate exists now."""
    return fx_gaps_with_items(rule.fx_gaps.order_by("-day", "base"))


def fx_gap_list(limit: int = 200) -> list[dict[str, Any]]:
    return fx_gaps_with_items(FxRateGap.objects.prefetch_related("rules").order_by("-day", "base", "quote")[:limit])


def fx_gaps_with_items(gaps_: Any) -> list[dict[str, Any]]:
    from django.contrib.contenttypes.models import ContentType

    from ops.models import WorkItem

    rows = list(gaps_)
    items = {
        int(i.subject_id): i
        for i in WorkItem.objects.filter(
            subject_type=ContentType.objects.get_for_model(FxRateGap), subject_id__in=[str(g.pk) for g in rows]
        ).order_by("id")
    }
    return [{"gap": g, "item": items.get(g.pk), "rate_now": fx_gap_covered(g)} for g in rows]


def filter_choices() -> dict[str, Any]:
    from accounts.models import TradingAccount
    from ib.models import Partner

    return {
        "groups": list(
            TradingAccount.objects.values_list("platform_group", flat=True).distinct().order_by("platform_group")
        ),
        "partners": list(Partner.objects.order_by("name").values_list("pk", "name")),
    }


__all__ = ["exposure_can_view"]


_EVIDENCE_LINKS = {"deposit": "/payments/deposits/{id}/", "withdrawal": "/payments/withdrawals/{id}/",
                   "client": "/clients/{id}/", "sign_in": "/clients/{id}/"}  # fmt: skip


def _sign_in_details(row: dict[str, Any]) -> list[str]:
    from accounts.selectors import user_agent_label

    details = []
    if row.get("outcome") == "failed":
        details.append(f"failed ({row.get('reason') or 'no reason given'})")
    if row.get("ip"):
        details.append(f"from {row['ip']}")
    if row.get("country"):
        details.append(f"placed in {country_names([row['country']])}")
    if row.get("residence"):
        details.append(f"the client lives in {country_names([row['residence']])}")
    if row.get("new_device"):
        details.append(f"a device not seen before ({user_agent_label(str(row.get('user_agent') or ''))})")
    elif row.get("device"):
        details.append("the shared device")
    if row.get("sign_ins"):
        details.append(f"{row['sign_ins']} sign-in(s), the last shown")
    return details


def evidence_rows(alert: RiskAlert) -> list[dict[str, Any]]:
    """The alert's evidence as the page shows it: every row with the same keys, in words."""
    shown = []
    for row in alert.evidence:
        table = str(row.get("table", ""))
        details = []
        if row.get("payer"):
            details.append(f"card {row['payer']}")
        if row.get("destination"):
            details.append(f"to {row['destination']}")
        if table == "deals":
            details.append(f"{row.get('count', 0)} deal(s), {row.get('lots', 0)} lots in between")
        if row.get("held_seconds") is not None:
            details.append(f"held {Decimal(str(row['held_seconds'])):.0f} s")
        if table == "exposure":
            details.append(f"net {row.get('net')} lots (A-book {row.get('a_book')}, B-book {row.get('b_book')})")
            if row.get("limit"):
                details.append(f"limit {row['limit']} lots")
            if row.get("notional"):
                details.append(
                    f"net notional {Decimal(str(row['notional'])):,.2f} {row.get('notional_currency')}"
                    f" at {row.get('price')}"
                )
            if row.get("notional_limit"):
                details.append(
                    f"limit {Decimal(str(row['notional_limit'])):,.2f} {row.get('notional_limit_currency')} notional"
                )
        if table == "sign_in":
            details.extend(_sign_in_details(row))
        if table == "transfer":
            details.append(
                f"{'into' if row.get('direction') == 'in' else 'out of'} trading account {row.get('account')}"
            )
        if row.get("converted") is not None and row.get("currency"):
            details.append(f"{Decimal(str(row['converted'])):,.2f} in the rule's currency")
        if row.get("client"):
            details.append(f"client {row['client']}")
        elif row.get("client_id") and table != "client":
            details.append(f"client #{row['client_id']}")
        link = _EVIDENCE_LINKS.get(table, "")
        link_id = row.get("client_id") if table == "sign_in" else row.get("id")
        shown.append({
            "what": {"deals": "Trading in between", "sign_in": "Sign-in"}.get(table, table.capitalize()),
            "reference": str(row.get("reference") or row.get("symbol") or "—"),
            "url": link.format(id=link_id) if link and link_id else "",
            "amount": Decimal(str(row["amount"])) if row.get("amount") is not None else None,
            "currency": str(row.get("currency") or ""),
            "lots": row.get("lots") if table == "deal" else row.get("net"),
            "at": str(row.get("at") or "")[:16].replace("T", " "),
            "details": "; ".join(details),
        })  # fmt: skip
    return shown


# --- evidence packs per case (audit.evidence) -------------------------------------------------------

# the audit trail's names of the records an alert's evidence rows point at
_EVIDENCE_SUBJECTS = {"deposit": "payments.deposit", "withdrawal": "payments.withdrawal", "client": "accounts.client"}


def _user_name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def alert_evidence_case(alert: RiskAlert) -> Any:
    """A risk alert's own evidence pack: the alert with the rule version that fired it (and its
    approval, among the decisions), the rows that fired it, its disposition, and the reports made
    from it; an alert naming no client (an exposure limit's) is a pack of the alert alone."""
    from audit.evidence import EvidenceCase, EvidencePart

    version = alert.rule_version
    sars = list(alert.sars.all())
    subjects = {("risk.suspiciousactivityreport", str(s.pk)) for s in sars}
    if alert.rule_id is not None:
        subjects.add(("risk.riskrule", str(alert.rule_id)))
    if version is not None:
        subjects.add(("risk.riskruleversion", str(version.pk)))
        if version.approval_id is not None:
            subjects.add(("ops.approvalrequest", str(version.approval_id)))
    for row in alert.evidence:
        subject_type = _EVIDENCE_SUBJECTS.get(str(row.get("table", "")))
        if subject_type and row.get("id") is not None:
            subjects.add((subject_type, str(row["id"])))
    return EvidenceCase(
        kind="risk-alerts",
        reference=f"risk-alert-{alert.pk}",
        subject=("risk.riskalert", str(alert.pk)),
        client=alert.client,
        part=EvidencePart(
            files={
                "risk_alert.json": {
                    "alert": alert.pk,
                    "source": alert.get_source_display(),
                    "summary": alert.summary,
                    "key": alert.key,
                    "client": alert.client.reference if alert.client else None,
                    "symbol": alert.symbol,
                    "raised_at": alert.raised_at,
                    "status": alert.get_status_display(),
                    "disposition_reason": alert.disposition_reason,
                    "disposed_by": _user_name(alert.disposed_by),
                    "disposed_at": alert.disposed_at,
                    "rule": {"code": alert.rule.code, "name": alert.rule.name, "kind": alert.rule.get_kind_display()}
                    if alert.rule
                    else None,
                    "rule_version": {
                        "number": version.number,
                        "params": version.params,
                        "valid_from": version.valid_from,
                        "valid_to": version.valid_to,
                        "approval": version.approval_id,
                    }
                    if version
                    else None,
                    "evidence": alert.evidence,
                    "reports": [s.reference for s in sars],
                },
            },
            subjects=subjects,
        ),
    )


def sar_get_for(actor: Any, pk: int) -> Any:
    """A report, for whoever may read reports (404 otherwise: a report's existence is not told)."""
    from risk.models import SuspiciousActivityReport
    from risk.sar import sar_can_view

    if not sar_can_view(actor):
        raise Http404
    found = (
        SuspiciousActivityReport.objects.select_related("client", "alert", "screening_hit", "created_by", "filed_by")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404
    return found


def sar_evidence_case(sar: Any) -> Any:
    """A SAR's own evidence pack: the report as drafted and approved (its content hash, approval and
    filing), the alert or screening hit it came from, beside its client's parts."""
    from audit.evidence import EvidenceCase, EvidencePart

    subjects = set()
    if sar.alert_id is not None:
        subjects.add(("risk.riskalert", str(sar.alert_id)))
    if sar.screening_hit_id is not None:
        subjects.add(("kyc.screeninghit", str(sar.screening_hit_id)))
    if sar.approval_id is not None:
        subjects.add(("ops.approvalrequest", str(sar.approval_id)))
    return EvidenceCase(
        kind="sars",
        reference=sar.reference,
        subject=("risk.suspiciousactivityreport", str(sar.pk)),
        client=sar.client,
        part=EvidencePart(
            files={
                "sar.json": {
                    "reference": sar.reference,
                    "status": sar.get_status_display(),
                    "source": sar.get_source_display(),
                    "alert": sar.alert_id,
                    "screening_hit": sar.screening_hit_id,
                    "client": sar.client.reference,
                    "subject": sar.subject,
                    "transactions": sar.transactions,
                    "fired": sar.fired,
                    "narrative": sar.narrative,
                    "no_transactions_reason": sar.no_transactions_reason,
                    "drafted_by": _user_name(sar.created_by),
                    "drafted_at": sar.created_at,
                    "content_sha256": sar.content_sha256,
                    "approval": sar.approval_id,
                    "approved_at": sar.approved_at,
                    "filed_at": sar.filed_at,
                    "filed_by": _user_name(sar.filed_by),
                    "regulator_reference": sar.regulator_reference,
                },
            },
            subjects=subjects,
        ),
    )
