"""The fixed library of monitoring rule kinds: the parameters each kind takes (checked here, each
problem naming its parameter) and the set-based SQL that finds its hits over a window of activity.

Every kind answers "which activity in ``[start, end)`` fires me" in one statement over the whole
table (no loop per client), so a rule runs the same way on new activity (the beat task), on demand,
and over the last 30 days when a checker looks at a proposed version (the backtest). A hit names a
key (what fired it: a transaction, a card, a client in a week), the client, a summary and the rows
that fired it, as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection

from risk.errors import RuleError
from risk.models import RuleKind


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    kind: str  # "int", "decimal" or "choice"
    default: Any
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    key: str
    client_id: int | None
    summary: str
    evidence: list[dict[str, Any]]


@dataclass(frozen=True)
class KindSpec:
    kind: RuleKind
    params: tuple[Param, ...]
    sql: str
    summary: Callable[[dict[str, Any], dict[str, Any]], str]


def _int(name: str, label: str, default: int, lo: int, hi: int) -> Param:
    return Param(name, label, "int", default, Decimal(lo), Decimal(hi))


def _dec(name: str, label: str, default: str, lo: str, hi: str) -> Param:
    return Param(name, label, "decimal", default, Decimal(lo), Decimal(hi))


DIRECTION = Param("direction", "Deposits or withdrawals", "choice", "deposit", choices=("deposit", "withdrawal"))

# --- the statements -------------------------------------------------------------------------------
# Parameters are bound (%(name)s), never formatted in; the direction picks one of two fixed tables.

_VELOCITY = """
WITH t AS (
  SELECT id, reference, client_id, amount, currency, created_at,
         count(*) OVER (PARTITION BY client_id ORDER BY created_at
                        RANGE BETWEEN make_interval(hours => %(window_hours)s) PRECEDING AND CURRENT ROW) AS n
  FROM {table}
  WHERE created_at >= %(start)s - make_interval(hours => %(window_hours)s) AND created_at < %(end)s
), fired AS (
  SELECT client_id, min(created_at) AS at FROM t
  WHERE n >= %(count)s AND created_at >= %(start)s GROUP BY client_id
)
SELECT 'client:' || f.client_id || ':' || to_char(f.at, 'YYYY-MM-DD') AS key, f.client_id,
       json_build_object('count', count(*), 'first', min(t.created_at), 'last', max(t.created_at)) AS facts,
       json_agg(json_build_object('table', '{kind}', 'id', t.id, 'reference', t.reference, 'amount', t.amount,
                                  'currency', t.currency, 'at', t.created_at) ORDER BY t.created_at) AS evidence
FROM fired f JOIN t ON t.client_id = f.client_id
  AND t.created_at > f.at - make_interval(hours => %(window_hours)s) AND t.created_at <= f.at
GROUP BY f.client_id, f.at
"""

_DEPOSIT_THEN_WITHDRAWAL = """
SELECT 'withdrawal:' || w.id AS key, w.client_id,
       json_build_object('withdrawal', w.reference, 'deposit', d.reference, 'amount', w.amount,
                         'deposited', d.amount, 'currency', w.currency, 'lots', t.lots,
                         'hours', round(extract(epoch FROM w.created_at - d.created_at) / 3600.0, 1)) AS facts,
       json_build_array(
         json_build_object('table', 'deposit', 'id', d.id, 'reference', d.reference, 'amount', d.amount,
                           'currency', d.currency, 'at', d.created_at, 'payer', d.payer_account),
         json_build_object('table', 'withdrawal', 'id', w.id, 'reference', w.reference, 'amount', w.amount,
                           'currency', w.currency, 'at', w.created_at, 'destination', w.destination),
         json_build_object('table', 'deals', 'count', t.n, 'lots', t.lots)) AS evidence
FROM payments_withdrawal w
JOIN LATERAL (
  SELECT d.id, d.reference, d.amount, d.currency, d.created_at, d.payer_account FROM payments_deposit d
  WHERE d.client_id = w.client_id AND d.currency = w.currency AND d.status = 'credited'
    AND d.created_at <= w.created_at AND d.created_at >= w.created_at - make_interval(hours => %(within_hours)s)
    AND w.amount * 100 >= d.amount * %(min_pct)s
  ORDER BY d.created_at DESC LIMIT 1
) d ON true
JOIN LATERAL (
  SELECT count(*) AS n, coalesce(sum(x.lots), 0) AS lots FROM ib_deal x
  WHERE x.client_id = w.client_id AND x.closed_at >= d.created_at AND x.closed_at <= w.created_at
) t ON true
WHERE w.created_at >= %(start)s AND w.created_at < %(end)s AND w.status <> 'rejected' AND t.lots <= %(max_lots)s
"""

_CARD_MANY_CLIENTS = """
SELECT 'card:' || d.payer_account AS key,
       (array_agg(d.client_id ORDER BY d.created_at DESC))[1] AS client_id,
       json_build_object('card', d.payer_account, 'clients', count(DISTINCT d.client_id)) AS facts,
       json_agg(json_build_object('table', 'deposit', 'id', d.id, 'reference', d.reference, 'client_id', d.client_id,
                                  'amount', d.amount, 'currency', d.currency, 'at', d.created_at,
                                  'payer', d.payer_account) ORDER BY d.created_at) AS evidence
FROM payments_deposit d
WHERE d.channel = 'card' AND d.payer_account <> ''
  AND d.created_at >= %(start)s - make_interval(days => %(window_days)s) AND d.created_at < %(end)s
GROUP BY d.payer_account
HAVING count(DISTINCT d.client_id) >= %(min_clients)s AND max(d.created_at) >= %(start)s
"""

_CLIENT_MANY_CARDS = """
SELECT 'client:' || d.client_id || ':cards' AS key, d.client_id,
       json_build_object('cards', count(DISTINCT d.payer_account)) AS facts,
       json_agg(json_build_object('table', 'deposit', 'id', d.id, 'reference', d.reference, 'amount', d.amount,
                                  'currency', d.currency, 'at', d.created_at, 'payer', d.payer_account)
                ORDER BY d.created_at) AS evidence
FROM payments_deposit d
WHERE d.channel = 'card' AND d.payer_account <> ''
  AND d.created_at >= %(start)s - make_interval(days => %(window_days)s) AND d.created_at < %(end)s
GROUP BY d.client_id
HAVING count(DISTINCT d.payer_account) >= %(min_cards)s AND max(d.created_at) >= %(start)s
"""

_STRUCTURING = """
SELECT 'client:' || t.client_id || ':' || to_char(max(t.created_at), 'IYYY-IW') AS key, t.client_id,
       json_build_object('count', count(*), 'threshold', %(threshold)s, 'total', sum(t.amount)) AS facts,
       json_agg(json_build_object('table', '{kind}', 'id', t.id, 'reference', t.reference, 'amount', t.amount,
                                  'currency', t.currency, 'at', t.created_at) ORDER BY t.created_at) AS evidence
FROM {table} t
WHERE t.created_at >= %(start)s - make_interval(days => %(window_days)s) AND t.created_at < %(end)s
  AND t.amount < %(threshold)s AND t.amount * 100 >= %(threshold)s * (100 - %(band_pct)s)
GROUP BY t.client_id
HAVING count(*) >= %(min_count)s AND max(t.created_at) >= %(start)s
"""

_DORMANT_THEN_LARGE = """
WITH moves AS (
  SELECT 'deposit' AS tbl, id, reference, client_id, amount, currency, created_at FROM payments_deposit
  WHERE created_at >= %(start)s AND created_at < %(end)s AND amount >= %(min_amount)s AND status <> 'failed'
  UNION ALL
  SELECT 'withdrawal', id, reference, client_id, amount, currency, created_at FROM payments_withdrawal
  WHERE created_at >= %(start)s AND created_at < %(end)s AND amount >= %(min_amount)s
)
SELECT m.tbl || ':' || m.id AS key, m.client_id,
       json_build_object('table', m.tbl, 'reference', m.reference, 'amount', m.amount, 'currency', m.currency,
                         'days', %(dormant_days)s) AS facts,
       json_build_array(json_build_object('table', m.tbl, 'id', m.id, 'reference', m.reference, 'amount', m.amount,
                                          'currency', m.currency, 'at', m.created_at),
                        json_build_object('table', 'client', 'id', c.id, 'reference', c.reference,
                                          'since', c.created_at)) AS evidence
FROM moves m JOIN accounts_client c ON c.id = m.client_id
WHERE c.created_at < m.created_at - make_interval(days => %(dormant_days)s)
  AND NOT EXISTS (SELECT 1 FROM payments_deposit d WHERE d.client_id = m.client_id AND d.id <> m.id
                  AND d.created_at >= m.created_at - make_interval(days => %(dormant_days)s) AND d.created_at < m.created_at)
  AND NOT EXISTS (SELECT 1 FROM payments_withdrawal w WHERE w.client_id = m.client_id AND w.id <> m.id
                  AND w.created_at >= m.created_at - make_interval(days => %(dormant_days)s) AND w.created_at < m.created_at)
  AND NOT EXISTS (SELECT 1 FROM ib_deal x WHERE x.client_id = m.client_id
                  AND x.closed_at >= m.created_at - make_interval(days => %(dormant_days)s) AND x.closed_at < m.created_at)
"""

_SHORT_HOLD = """
SELECT 'client:' || x.client_id || ':' || to_char(max(x.closed_at), 'YYYY-MM-DD') AS key, x.client_id,
       json_build_object('count', count(*), 'seconds', %(max_seconds)s,
                         'lots', sum(x.lots), 'profit', sum(x.profit)) AS facts,
       json_agg(json_build_object('table', 'deal', 'id', x.id, 'reference', x.deal_id, 'symbol', x.symbol,
                                  'lots', x.lots, 'profit', x.profit, 'currency', x.currency,
                                  'held_seconds', extract(epoch FROM x.closed_at - x.opened_at),
                                  'at', x.closed_at) ORDER BY x.closed_at) AS evidence
FROM ib_deal x
WHERE x.closed_at >= %(start)s - make_interval(days => %(window_days)s) AND x.closed_at < %(end)s
  AND x.closed_at - x.opened_at < make_interval(secs => %(max_seconds)s)
GROUP BY x.client_id
HAVING count(*) >= %(min_deals)s AND max(x.closed_at) >= %(start)s
"""

_LINKED_ADDRESS = """
WITH addr AS (
  SELECT c.id, c.reference, lower(btrim(c.address_line)) || '|' || upper(replace(c.postcode, ' ', '')) AS address
  FROM accounts_client c WHERE btrim(c.address_line) <> ''
), groups AS (
  SELECT address FROM addr GROUP BY address HAVING count(*) >= %(min_clients)s
)
SELECT 'address:' || md5(a.address) AS key,
       (array_agg(a.id ORDER BY a.id DESC))[1] AS client_id,
       json_build_object('clients', count(*)) AS facts,
       json_agg(json_build_object('table', 'client', 'id', a.id, 'reference', a.reference) ORDER BY a.id) AS evidence
FROM addr a JOIN groups g ON g.address = a.address
GROUP BY a.address
HAVING EXISTS (SELECT 1 FROM payments_deposit d WHERE d.client_id = ANY(array_agg(a.id))
               AND d.created_at >= %(start)s AND d.created_at < %(end)s)
"""


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


KINDS: dict[str, KindSpec] = {
    RuleKind.VELOCITY: KindSpec(
        RuleKind.VELOCITY,
        (DIRECTION, _int("count", "Transactions", 5, 2, 1000), _int("window_hours", "Within hours", 24, 1, 720)),
        _VELOCITY,
        lambda p, f: f"{f['count']} {p['direction']}s within {p['window_hours']} h",
    ),
    RuleKind.DEPOSIT_THEN_WITHDRAWAL: KindSpec(
        RuleKind.DEPOSIT_THEN_WITHDRAWAL,
        (
            _int("min_pct", "Withdrawal at least this % of the deposit", 80, 1, 100),
            _int("within_hours", "Within hours of the deposit", 24, 1, 720),
            _dec("max_lots", "Traded at most (lots) in between", "0.10", "0", "100000"),
        ),
        _DEPOSIT_THEN_WITHDRAWAL,
        lambda p, f: (
            f"Withdrawal {f['withdrawal']} of {_money(f['amount'])} {f['currency']} {f['hours']} h after deposit "
            f"{f['deposit']} of {_money(f['deposited'])}, {f['lots']} lots traded"
        ),
    ),
    RuleKind.CARD_MANY_CLIENTS: KindSpec(
        RuleKind.CARD_MANY_CLIENTS,
        (_int("min_clients", "Clients on one card", 3, 2, 100), _int("window_days", "Within days", 30, 1, 365)),
        _CARD_MANY_CLIENTS,
        lambda p, f: f"Card {f['card']} used by {f['clients']} clients",
    ),
    RuleKind.CLIENT_MANY_CARDS: KindSpec(
        RuleKind.CLIENT_MANY_CARDS,
        (_int("min_cards", "Cards on one client", 4, 2, 100), _int("window_days", "Within days", 30, 1, 365)),
        _CLIENT_MANY_CARDS,
        lambda p, f: f"{f['cards']} cards used by one client within {p['window_days']} days",
    ),
    RuleKind.STRUCTURING: KindSpec(
        RuleKind.STRUCTURING,
        (
            DIRECTION,
            _dec("threshold", "Reporting threshold", "10000", "0.01", "1000000000"),
            _int("band_pct", "Within % under it", 10, 1, 50),
            _int("min_count", "Transactions", 3, 2, 1000),
            _int("window_days", "Within days", 7, 1, 90),
        ),
        _STRUCTURING,
        lambda p, f: (
            f"{f['count']} {p['direction']}s just under {_money(p['threshold'])} "
            f"({_money(f['total'])} in all) within {p['window_days']} days"
        ),
    ),
    RuleKind.DORMANT_THEN_LARGE: KindSpec(
        RuleKind.DORMANT_THEN_LARGE,
        (
            _int("dormant_days", "Dormant for days", 90, 7, 3650),
            _dec("min_amount", "Then at least", "5000", "0.01", "1000000000"),
        ),
        _DORMANT_THEN_LARGE,
        lambda p, f: (
            f"{f['table'].capitalize()} {f['reference']} of {_money(f['amount'])} {f['currency']} "
            f"after {f['days']} days without activity"
        ),
    ),
    RuleKind.SHORT_HOLD: KindSpec(
        RuleKind.SHORT_HOLD,
        (
            _int("max_seconds", "Held under seconds", 60, 1, 3600),
            _int("min_deals", "Deals", 10, 1, 100000),
            _int("window_days", "Within days", 1, 1, 30),
        ),
        _SHORT_HOLD,
        lambda p, f: f"{f['count']} deals held under {p['max_seconds']} s ({f['lots']} lots, profit {f['profit']})",
    ),
    RuleKind.LINKED_ADDRESS: KindSpec(
        RuleKind.LINKED_ADDRESS,
        (_int("min_clients", "Clients at one address", 3, 2, 50),),
        _LINKED_ADDRESS,
        lambda p, f: f"{f['clients']} clients registered at one address",
    ),
}


def kind_spec(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise RuleError({"kind": f"Not a rule kind: {kind!r}."}) from None


def params_clean(kind: str, params: Any) -> dict[str, Any]:
    """The kind's parameters, checked: each problem names its parameter; unknown names are refused
    (a typo must not silently fall back to a default). Missing parameters take the kind's default."""
    spec = kind_spec(kind)
    if not isinstance(params, dict):
        raise RuleError({"params": 'The parameters are a JSON object, e.g. {"count": 5}.'})
    problems: dict[str, str] = {}
    known = {p.name for p in spec.params}
    for name in sorted(set(params) - known):
        problems[name] = f"Not a parameter of this kind (it takes {', '.join(sorted(known))})."
    cleaned: dict[str, Any] = {}
    for p in spec.params:
        raw = params.get(p.name, p.default)
        if p.kind == "choice":
            if raw not in p.choices:
                problems[p.name] = f"One of {', '.join(p.choices)}."
            else:
                cleaned[p.name] = raw
            continue
        if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
            problems[p.name] = "A number."
            continue
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            problems[p.name] = "A number."
            continue
        if not number.is_finite():
            problems[p.name] = "A number."
            continue
        if p.kind == "int" and number != number.to_integral_value():
            problems[p.name] = "A whole number."
            continue
        assert p.minimum is not None and p.maximum is not None
        if not p.minimum <= number <= p.maximum:
            problems[p.name] = f"From {p.minimum} to {p.maximum}."
            continue
        cleaned[p.name] = int(number) if p.kind == "int" else str(number.quantize(Decimal("0.01")))
    if problems:
        raise RuleError(problems)
    return cleaned


def params_parse(kind: str, text: str) -> dict[str, Any]:
    """Parameters typed as JSON text (the form), checked by :func:`params_clean`."""
    try:
        params = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise RuleError({"params": f"Not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."}) from None
    return params_clean(kind, params)


def hits(kind: str, params: dict[str, Any], *, start: datetime, end: datetime) -> list[Hit]:
    """What a rule of ``kind`` with (cleaned) ``params`` fires on in ``[start, end)``: one statement."""
    spec = kind_spec(kind)
    sql = spec.sql
    if "{table}" in sql:
        table = "payments_withdrawal" if params["direction"] == "withdrawal" else "payments_deposit"
        sql = sql.replace("{table}", table).replace("{kind}", params["direction"])
    bound = {**{k: (Decimal(v) if isinstance(v, str) and k != "direction" else v) for k, v in params.items()}}
    with connection.cursor() as cursor:
        cursor.execute(sql, {**bound, "start": start, "end": end})
        columns = [c.name for c in cursor.description or ()]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    found = []
    for row in rows:
        facts = _json(row["facts"])
        found.append(Hit(row["key"], row["client_id"], spec.summary(params, facts)[:300], _json(row["evidence"])))
    return found


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
