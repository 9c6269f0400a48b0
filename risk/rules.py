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
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection

from payments.currencies import MINOR_UNITS
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
class Gap:
    """Amounts in ``currency`` a rule could not compare on ``day``: no rate into the rule's currency
    (``quote``)."""

    currency: str
    quote: str
    day: date
    first_at: datetime
    count: int
    examples: list[str]


@dataclass(frozen=True)
class KindSpec:
    kind: RuleKind
    params: tuple[Param, ...]
    sql: str
    summary: Callable[[dict[str, Any], dict[str, Any]], str]
    # the kinds that convert amounts into the rule's currency: the rows they convert in [start, end)
    # (currency, at, reference), for finding the amounts that had no rate (:func:`gaps`)
    amounts: str = ""


def _int(name: str, label: str, default: int, lo: int, hi: int) -> Param:
    return Param(name, label, "int", default, Decimal(lo), Decimal(hi))


def _dec(name: str, label: str, default: str, lo: str, hi: str) -> Param:
    return Param(name, label, "decimal", default, Decimal(lo), Decimal(hi))


DIRECTION = Param("direction", "Deposits or withdrawals", "choice", "deposit", choices=("deposit", "withdrawal"))
# the currency a rule's amounts are in: every amount is converted to it at the rate of its moment
CURRENCY = Param("currency", "Amounts in", "choice", "EUR", choices=tuple(MINOR_UNITS))
DEVICES = Param(
    "devices", "Devices identified by", "choice", "fingerprint", choices=("fingerprint", "fingerprint_or_user_agent")
)


def fx(currency: str, at: str) -> str:
    """SQL: the price of one ``currency`` (a column) in the rule's currency (``%(currency)s``) at ``at``,
    as ``payments.selectors.fx_rate_at`` prices it: 1 in the same currency; the latest rate of the pair
    at or before then; failing that, the inverse of the reverse pair's; NULL without a rate (the
    amount is then not comparable and fires nothing: :func:`gaps` finds those amounts, and a run
    puts each pair and day in the ``fx_rate_missing`` queue). Two index probes on
    ``fx_rate_unique``; the subqueries run only for rows in another currency."""
    return (
        f"(CASE WHEN {currency} = %(currency)s THEN 1::numeric ELSE coalesce("  # noqa: S608 - fixed fragments, values bound
        f"(SELECT r.rate FROM payments_fxrate r WHERE r.base = {currency} AND r.quote = %(currency)s"
        f" AND r.as_of <= {at} ORDER BY r.as_of DESC LIMIT 1),"
        f"(SELECT round(1 / r.rate, 8) FROM payments_fxrate r WHERE r.base = %(currency)s AND r.quote = {currency}"
        f" AND r.as_of <= {at} ORDER BY r.as_of DESC LIMIT 1)) END)"
    )


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

_STRUCTURING = f"""
WITH t AS (
  SELECT t.id, t.reference, t.client_id, t.amount, t.currency, t.created_at,
         round(t.amount * {fx("t.currency", "t.created_at")}, 2) AS converted
  FROM {{table}} t
  WHERE t.created_at >= %(start)s - make_interval(days => %(window_days)s) AND t.created_at < %(end)s
)
SELECT 'client:' || t.client_id || ':' || to_char(max(t.created_at), 'IYYY-IW') AS key, t.client_id,
       json_build_object('count', count(*), 'threshold', %(threshold)s, 'total', sum(t.converted)) AS facts,
       json_agg(json_build_object('table', '{{kind}}', 'id', t.id, 'reference', t.reference, 'amount', t.amount,
                                  'currency', t.currency, 'converted', t.converted, 'at', t.created_at)
                ORDER BY t.created_at) AS evidence
FROM t
WHERE t.converted < %(threshold)s AND t.converted * 100 >= %(threshold)s * (100 - %(band_pct)s)
GROUP BY t.client_id
HAVING count(*) >= %(min_count)s AND max(t.created_at) >= %(start)s
"""  # noqa: S608 - fixed fragments, values bound

_DORMANT_THEN_LARGE = f"""
WITH all_moves AS (
  SELECT 'deposit' AS tbl, id, reference, client_id, amount, currency, created_at FROM payments_deposit
  WHERE created_at >= %(start)s AND created_at < %(end)s AND status <> 'failed'
  UNION ALL
  SELECT 'withdrawal', id, reference, client_id, amount, currency, created_at FROM payments_withdrawal
  WHERE created_at >= %(start)s AND created_at < %(end)s
), moves AS (
  SELECT m.*, round(m.amount * {fx("m.currency", "m.created_at")}, 2) AS converted FROM all_moves m
)
SELECT m.tbl || ':' || m.id AS key, m.client_id,
       json_build_object('table', m.tbl, 'reference', m.reference, 'amount', m.amount, 'currency', m.currency,
                         'days', %(dormant_days)s, 'converted', m.converted) AS facts,
       json_build_array(json_build_object('table', m.tbl, 'id', m.id, 'reference', m.reference, 'amount', m.amount,
                                          'currency', m.currency, 'converted', m.converted, 'at', m.created_at),
                        json_build_object('table', 'client', 'id', c.id, 'reference', c.reference,
                                          'since', c.created_at)) AS evidence
FROM moves m JOIN accounts_client c ON c.id = m.client_id
WHERE m.converted >= %(min_amount)s AND c.created_at < m.created_at - make_interval(days => %(dormant_days)s)
  AND NOT EXISTS (SELECT 1 FROM payments_deposit d WHERE d.client_id = m.client_id AND d.id <> m.id
                  AND d.created_at >= m.created_at - make_interval(days => %(dormant_days)s) AND d.created_at < m.created_at)
  AND NOT EXISTS (SELECT 1 FROM payments_withdrawal w WHERE w.client_id = m.client_id AND w.id <> m.id
                  AND w.created_at >= m.created_at - make_interval(days => %(dormant_days)s) AND w.created_at < m.created_at)
  AND NOT EXISTS (SELECT 1 FROM ib_deal x WHERE x.client_id = m.client_id
                  AND x.closed_at >= m.created_at - make_interval(days => %(dormant_days)s) AND x.closed_at < m.created_at)
"""  # noqa: S608 - fixed fragments, values bound

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


# --- sign-ins (accounts.ClientSignIn) and transfers (ledger entries of kind "transfer") ------------
# Links count successful sign-ins only (someone got into each account); a pseudonymised sign-in has
# no IP address or device and links nothing. A key names the linked clients, so a client joining a
# known group raises a new alert.


def _linked(link: str, column: str, where: str, partner: bool = False) -> str:
    """Clients (of one partner, with ``partner``) who signed in from one ``column`` value."""
    by = "s.partner_id, s.link" if partner else "s.link"
    return f"""
WITH s AS (
  SELECT s.id, s.client_id, {column} AS link, s.at, s.ip_address, s.device_id, s.user_agent
         {", a.partner_id" if partner else ""}
  FROM accounts_clientsignin s
  {"JOIN ib_attribution a ON a.client_id = s.client_id AND a.valid_to IS NULL" if partner else ""}
  WHERE s.outcome = 'succeeded' AND {where}
    AND s.at >= %(start)s - make_interval(days => %(window_days)s) AND s.at < %(end)s
), groups AS (
  SELECT {by} FROM s GROUP BY {by}
  HAVING count(DISTINCT s.client_id) >= %(min_clients)s AND max(s.at) >= %(start)s
), per_client AS (
  SELECT {by}, s.client_id, count(*) AS n, max(s.at) AS last, max(s.id) AS last_id
  FROM s JOIN groups g ON g.link = s.link {"AND g.partner_id = s.partner_id" if partner else ""}
  GROUP BY {by}, s.client_id
)
SELECT '{link}:' || {"s.partner_id || ':' || " if partner else ""}md5(s.link) || ':'
         || md5(string_agg(s.client_id::text, ',' ORDER BY s.client_id)) AS key,
       (array_agg(s.client_id ORDER BY s.last DESC, s.client_id))[1] AS client_id,
       json_build_object('link', s.link, 'clients', count(*), 'sign_ins', sum(s.n)
                         {", 'partner', max(p.name)" if partner else ""}) AS facts,
       json_agg(json_build_object('table', 'sign_in', 'id', s.last_id, 'client_id', s.client_id,
                                  'client', CASE WHEN c.kind = 'corporate' THEN c.legal_name
                                                 ELSE btrim(c.first_name || ' ' || c.last_name) END,
                                  'reference', c.reference, '{link}', s.link, 'sign_ins', s.n, 'at', s.last)
                ORDER BY s.client_id) AS evidence
FROM per_client s JOIN accounts_client c ON c.id = s.client_id
{"JOIN ib_partner p ON p.id = s.partner_id" if partner else ""}
GROUP BY {by}
"""  # noqa: S608 - fixed fragments, values bound


_DEVICE_WHERE = "s.device_id <> '' AND (%(devices)s = 'fingerprint_or_user_agent' OR s.device_source = 'fingerprint')"
_LINKED_IP = _linked("ip", "host(s.ip_address)", "s.ip_address IS NOT NULL")
_LINKED_DEVICE = _linked("device", "s.device_id", _DEVICE_WHERE)
_LINKED_PARTNER = _linked(
    "partner",
    "CASE WHEN %(link)s = 'ip' THEN host(s.ip_address) ELSE s.device_id END",
    f"(CASE WHEN %(link)s = 'ip' THEN s.ip_address IS NOT NULL ELSE {_DEVICE_WHERE} END)",
    partner=True,
)

_SIGN_IN_MANY_IPS = """
WITH s AS (
  SELECT s.id, s.client_id, s.at, x.n
  FROM accounts_clientsignin s
  CROSS JOIN LATERAL (
    SELECT count(DISTINCT t.ip_address) AS n FROM accounts_clientsignin t
    WHERE t.client_id = s.client_id AND t.ip_address IS NOT NULL
      AND t.at > s.at - make_interval(hours => %(window_hours)s) AND t.at <= s.at
  ) x
  WHERE s.at >= %(start)s AND s.at < %(end)s AND s.ip_address IS NOT NULL
), fired AS (
  SELECT client_id, min(at) AS at FROM s WHERE n >= %(min_ips)s GROUP BY client_id, date_trunc('day', at)
)
SELECT 'client:' || f.client_id || ':ips:' || to_char(f.at, 'YYYY-MM-DD') AS key, f.client_id,
       json_build_object('ips', count(DISTINCT t.ip_address), 'sign_ins', count(*),
                         'failed', count(*) FILTER (WHERE t.outcome = 'failed')) AS facts,
       json_agg(json_build_object('table', 'sign_in', 'id', t.id, 'client_id', t.client_id,
                                  'ip', host(t.ip_address), 'outcome', t.outcome,
                                  'reason', t.failure_reason, 'at', t.at) ORDER BY t.at, t.id) AS evidence
FROM fired f JOIN accounts_clientsignin t ON t.client_id = f.client_id AND t.ip_address IS NOT NULL
  AND t.at > f.at - make_interval(hours => %(window_hours)s) AND t.at <= f.at
GROUP BY f.client_id, f.at
"""

_NEW_DEVICE_WITHDRAWAL = f"""
SELECT 'withdrawal:' || w.id AS key, w.client_id,
       json_build_object('withdrawal', w.reference, 'amount', w.amount, 'currency', w.currency,
                         'converted', v.converted,
                         'hours', round(extract(epoch FROM w.created_at - s.at) / 3600.0, 1)) AS facts,
       json_build_array(
         json_build_object('table', 'sign_in', 'id', s.id, 'client_id', w.client_id, 'ip', host(s.ip_address),
                           'device', s.device_id, 'user_agent', s.user_agent, 'outcome', 'succeeded',
                           'new_device', true, 'at', s.at),
         json_build_object('table', 'withdrawal', 'id', w.id, 'reference', w.reference, 'amount', w.amount,
                           'currency', w.currency, 'converted', v.converted, 'at', w.created_at,
                           'destination', w.destination)) AS evidence
FROM payments_withdrawal w
CROSS JOIN LATERAL (SELECT round(w.amount * {fx("w.currency", "w.created_at")}, 2) AS converted) v
JOIN LATERAL (
  SELECT s.id, s.at, s.ip_address, s.device_id, s.user_agent FROM accounts_clientsignin s
  WHERE s.client_id = w.client_id AND s.outcome = 'succeeded' AND s.device_id <> ''
    AND s.at <= w.created_at AND s.at >= w.created_at - make_interval(hours => %(within_hours)s)
    AND NOT EXISTS (SELECT 1 FROM accounts_clientsignin p WHERE p.client_id = s.client_id
                    AND p.device_id = s.device_id AND p.outcome = 'succeeded' AND p.at < s.at
                    AND p.at >= s.at - make_interval(days => %(history_days)s))
    AND EXISTS (SELECT 1 FROM accounts_clientsignin p WHERE p.client_id = s.client_id AND p.outcome = 'succeeded'
                AND p.at < s.at AND p.at >= s.at - make_interval(days => %(history_days)s))
  ORDER BY s.at DESC LIMIT 1
) s ON true
WHERE w.created_at >= %(start)s AND w.created_at < %(end)s AND w.status <> 'rejected'
  AND v.converted >= %(min_amount)s
"""  # noqa: S608 - fixed fragments, values bound

# A transfer into a trading account credits it (a negative posting), one out of it debits it.
_TRANSFER_ROUND_TRIP = f"""
WITH moves AS (
  SELECT e.id, e.created_at, a.client_id, a.id AS account_id, a.currency, p.amount AS posted,
         ta.login
  FROM payments_journalentry e
  JOIN payments_posting p ON p.entry_id = e.id
  JOIN payments_ledgeraccount a ON a.id = p.account_id AND a.kind = 'trading'
  LEFT JOIN accounts_tradingaccount ta ON ta.id = a.trading_account_id
  WHERE e.kind = 'transfer'
    AND e.created_at >= %(start)s - make_interval(hours => %(within_hours)s) AND e.created_at < %(end)s
)
SELECT 'transfer:' || o.id AS key, o.client_id,
       json_build_object('account', o.login, 'in', -i.posted, 'out', o.posted, 'currency', o.currency,
                         'converted', v.converted, 'lots', t.lots,
                         'hours', round(extract(epoch FROM o.created_at - i.created_at) / 3600.0, 1)) AS facts,
       json_build_array(
         json_build_object('table', 'transfer', 'id', i.id, 'reference', 'entry ' || i.id, 'amount', -i.posted,
                           'currency', i.currency, 'account', i.login, 'direction', 'in', 'at', i.created_at),
         json_build_object('table', 'transfer', 'id', o.id, 'reference', 'entry ' || o.id, 'amount', o.posted,
                           'currency', o.currency, 'account', o.login, 'direction', 'out', 'at', o.created_at),
         json_build_object('table', 'deals', 'count', t.n, 'lots', t.lots)) AS evidence
FROM moves o
JOIN LATERAL (
  SELECT i.id, i.created_at, i.posted, i.currency, i.login FROM moves i
  WHERE i.account_id = o.account_id AND i.posted < 0 AND i.created_at <= o.created_at AND i.id <> o.id
    AND i.created_at >= o.created_at - make_interval(hours => %(within_hours)s)
    AND o.posted * 100 >= -i.posted * %(min_pct)s
  ORDER BY i.created_at DESC LIMIT 1
) i ON true
CROSS JOIN LATERAL (SELECT round(o.posted * {fx("o.currency", "o.created_at")}, 2) AS converted) v
JOIN LATERAL (
  SELECT count(*) AS n, coalesce(sum(x.lots), 0) AS lots FROM ib_deal x
  WHERE x.client_id = o.client_id AND x.closed_at >= i.created_at AND x.closed_at <= o.created_at
) t ON true
WHERE o.posted > 0 AND o.created_at >= %(start)s AND v.converted >= %(min_amount)s AND t.lots <= %(max_lots)s
"""  # noqa: S608 - fixed fragments, values bound


# --- sign-ins by country (the country the portal's edge placed the address in; "" when it did not) --

_SIGN_IN_MANY_COUNTRIES = """
WITH s AS (
  SELECT s.id, s.client_id, s.at, x.n
  FROM accounts_clientsignin s
  CROSS JOIN LATERAL (
    SELECT count(DISTINCT t.country) AS n FROM accounts_clientsignin t
    WHERE t.client_id = s.client_id AND t.country <> ''
      AND t.at > s.at - make_interval(hours => %(window_hours)s) AND t.at <= s.at
  ) x
  WHERE s.at >= %(start)s AND s.at < %(end)s AND s.country <> ''
), fired AS (
  SELECT client_id, min(at) AS at FROM s WHERE n >= %(min_countries)s GROUP BY client_id, date_trunc('day', at)
)
SELECT 'client:' || f.client_id || ':countries:' || to_char(f.at, 'YYYY-MM-DD') AS key, f.client_id,
       json_build_object('countries', count(DISTINCT t.country),
                         'codes', array_agg(DISTINCT t.country ORDER BY t.country), 'sign_ins', count(*),
                         'failed', count(*) FILTER (WHERE t.outcome = 'failed')) AS facts,
       json_agg(json_build_object('table', 'sign_in', 'id', t.id, 'client_id', t.client_id,
                                  'ip', host(t.ip_address), 'country', t.country, 'outcome', t.outcome,
                                  'reason', t.failure_reason, 'at', t.at) ORDER BY t.at, t.id) AS evidence
FROM fired f JOIN accounts_clientsignin t ON t.client_id = f.client_id AND t.country <> ''
  AND t.at > f.at - make_interval(hours => %(window_hours)s) AND t.at <= f.at
GROUP BY f.client_id, f.at
"""

# the client's latest successful sign-in the edge placed, within the hours before the withdrawal, was
# from a country other than the client's country of residence
_SIGN_IN_COUNTRY_WITHDRAWAL = f"""
SELECT 'withdrawal:' || w.id AS key, w.client_id,
       json_build_object('withdrawal', w.reference, 'amount', w.amount, 'currency', w.currency,
                         'converted', v.converted, 'country', s.country, 'residence', c.country,
                         'hours', round(extract(epoch FROM w.created_at - s.at) / 3600.0, 1)) AS facts,
       json_build_array(
         json_build_object('table', 'sign_in', 'id', s.id, 'client_id', w.client_id, 'ip', host(s.ip_address),
                           'country', s.country, 'residence', c.country, 'outcome', 'succeeded', 'at', s.at),
         json_build_object('table', 'withdrawal', 'id', w.id, 'reference', w.reference, 'amount', w.amount,
                           'currency', w.currency, 'converted', v.converted, 'at', w.created_at,
                           'destination', w.destination)) AS evidence
FROM payments_withdrawal w
JOIN accounts_client c ON c.id = w.client_id
CROSS JOIN LATERAL (SELECT round(w.amount * {fx("w.currency", "w.created_at")}, 2) AS converted) v
JOIN LATERAL (
  SELECT s.id, s.at, s.ip_address, s.country FROM accounts_clientsignin s
  WHERE s.client_id = w.client_id AND s.outcome = 'succeeded' AND s.country <> ''
    AND s.at <= w.created_at AND s.at >= w.created_at - make_interval(hours => %(within_hours)s)
  ORDER BY s.at DESC, s.id DESC LIMIT 1
) s ON true
WHERE w.created_at >= %(start)s AND w.created_at < %(end)s AND w.status <> 'rejected'
  AND c.country <> '' AND s.country <> c.country AND v.converted >= %(min_amount)s
"""  # noqa: S608 - fixed fragments, values bound


# --- the amounts each converting kind compares (currency, at, reference), for :func:`gaps` --------

_DEPOSITS_OR_WITHDRAWALS_AMOUNTS = """
SELECT t.currency, t.created_at AS at, t.reference FROM {table} t
WHERE t.created_at >= %(start)s AND t.created_at < %(end)s
"""
_DEPOSIT_AND_WITHDRAWAL_AMOUNTS = """
SELECT currency, created_at AS at, reference FROM payments_deposit
WHERE created_at >= %(start)s AND created_at < %(end)s AND status <> 'failed'
UNION ALL
SELECT currency, created_at, reference FROM payments_withdrawal WHERE created_at >= %(start)s AND created_at < %(end)s
"""
_WITHDRAWAL_AMOUNTS = """
SELECT currency, created_at AS at, reference FROM payments_withdrawal
WHERE created_at >= %(start)s AND created_at < %(end)s AND status <> 'rejected'
"""
_TRANSFER_OUT_AMOUNTS = """
SELECT a.currency, e.created_at AS at, 'entry ' || e.id AS reference
FROM payments_journalentry e
JOIN payments_posting p ON p.entry_id = e.id AND p.amount > 0
JOIN payments_ledgeraccount a ON a.id = p.account_id AND a.kind = 'trading'
WHERE e.kind = 'transfer' AND e.created_at >= %(start)s AND e.created_at < %(end)s
"""


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def country_names(codes: Any) -> str:
    """ISO 3166-1 alpha-2 codes as the countries' names, e.g. "Germany, Nigeria"."""
    from django_countries import countries

    return ", ".join(countries.name(str(code)) or str(code) for code in codes or ())


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
            CURRENCY,
        ),
        _STRUCTURING,
        lambda p, f: (
            f"{f['count']} {p['direction']}s just under {_money(p['threshold'])} {p['currency']} "
            f"({_money(f['total'])} in all) within {p['window_days']} days"
        ),
        _DEPOSITS_OR_WITHDRAWALS_AMOUNTS,
    ),
    RuleKind.DORMANT_THEN_LARGE: KindSpec(
        RuleKind.DORMANT_THEN_LARGE,
        (
            _int("dormant_days", "Dormant for days", 90, 7, 3650),
            _dec("min_amount", "Then at least", "5000", "0.01", "1000000000"),
            CURRENCY,
        ),
        _DORMANT_THEN_LARGE,
        lambda p, f: (
            f"{f['table'].capitalize()} {f['reference']} of {_money(f['amount'])} {f['currency']} "
            f"after {f['days']} days without activity"
        ),
        _DEPOSIT_AND_WITHDRAWAL_AMOUNTS,
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
    RuleKind.LINKED_IP: KindSpec(
        RuleKind.LINKED_IP,
        (
            _int("min_clients", "Clients signed in from one IP address", 2, 2, 100),
            _int("window_days", "Within days", 30, 1, 365),
        ),
        _LINKED_IP,
        lambda p, f: f"{f['clients']} clients signed in from IP address {f['link']} within {p['window_days']} days",
    ),
    RuleKind.LINKED_DEVICE: KindSpec(
        RuleKind.LINKED_DEVICE,
        (
            _int("min_clients", "Clients signed in on one device", 2, 2, 100),
            _int("window_days", "Within days", 30, 1, 365),
            DEVICES,
        ),
        _LINKED_DEVICE,
        lambda p, f: f"{f['clients']} clients signed in on one device within {p['window_days']} days",
    ),
    RuleKind.LINKED_PARTNER: KindSpec(
        RuleKind.LINKED_PARTNER,
        (
            Param("link", "Linked by", "choice", "ip", choices=("ip", "device")),
            _int("min_clients", "Clients of the partner", 2, 2, 100),
            _int("window_days", "Within days", 30, 1, 365),
            DEVICES,
        ),
        _LINKED_PARTNER,
        lambda p, f: (
            f"{f['clients']} clients of partner {f['partner']} signed in from one "
            f"{'IP address' if p['link'] == 'ip' else 'device'} within {p['window_days']} days"
        ),
    ),
    RuleKind.SIGN_IN_MANY_IPS: KindSpec(
        RuleKind.SIGN_IN_MANY_IPS,
        (_int("min_ips", "IP addresses", 4, 2, 1000), _int("window_hours", "Within hours", 24, 1, 720)),
        _SIGN_IN_MANY_IPS,
        lambda p, f: (
            f"Sign-ins from {f['ips']} IP addresses within {p['window_hours']} h "
            f"({f['sign_ins']} attempts, {f['failed']} failed)"
        ),
    ),
    RuleKind.NEW_DEVICE_WITHDRAWAL: KindSpec(
        RuleKind.NEW_DEVICE_WITHDRAWAL,
        (
            _int("within_hours", "Withdrawal within hours of the sign-in", 24, 1, 720),
            _int("history_days", "Device not seen for days before", 90, 1, 3650),
            _dec("min_amount", "Withdrawal at least", "0.01", "0.01", "1000000000"),
            CURRENCY,
        ),
        _NEW_DEVICE_WITHDRAWAL,
        lambda p, f: (
            f"Withdrawal {f['withdrawal']} of {_money(f['amount'])} {f['currency']} {f['hours']} h after "
            f"a sign-in from a new device"
        ),
        _WITHDRAWAL_AMOUNTS,
    ),
    RuleKind.TRANSFER_ROUND_TRIP: KindSpec(
        RuleKind.TRANSFER_ROUND_TRIP,
        (
            _int("min_pct", "Out at least this % of what went in", 80, 1, 100),
            _int("within_hours", "Within hours", 24, 1, 720),
            _dec("max_lots", "Traded at most (lots) in between", "0.10", "0", "100000"),
            _dec("min_amount", "Moved out at least", "1000", "0.01", "1000000000"),
            CURRENCY,
        ),
        _TRANSFER_ROUND_TRIP,
        lambda p, f: (
            f"{_money(f['in'])} {f['currency']} into trading account {f['account']} and {_money(f['out'])} "
            f"back out {f['hours']} h later, {f['lots']} lots traded"
        ),
        _TRANSFER_OUT_AMOUNTS,
    ),
    RuleKind.SIGN_IN_MANY_COUNTRIES: KindSpec(
        RuleKind.SIGN_IN_MANY_COUNTRIES,
        (_int("min_countries", "Countries", 3, 2, 50), _int("window_hours", "Within hours", 24, 1, 720)),
        _SIGN_IN_MANY_COUNTRIES,
        lambda p, f: (
            f"Sign-ins from {f['countries']} countries ({country_names(f['codes'])}) within {p['window_hours']} h "
            f"({f['sign_ins']} attempts, {f['failed']} failed)"
        ),
    ),
    RuleKind.SIGN_IN_COUNTRY_WITHDRAWAL: KindSpec(
        RuleKind.SIGN_IN_COUNTRY_WITHDRAWAL,
        (
            _int("within_hours", "Withdrawal within hours of the sign-in", 24, 1, 720),
            _dec("min_amount", "Withdrawal at least", "0.01", "0.01", "1000000000"),
            CURRENCY,
        ),
        _SIGN_IN_COUNTRY_WITHDRAWAL,
        lambda p, f: (
            f"Withdrawal {f['withdrawal']} of {_money(f['amount'])} {f['currency']} {f['hours']} h after a sign-in "
            f"from {country_names([f['country']])}, the client living in {country_names([f['residence']])}"
        ),
        _WITHDRAWAL_AMOUNTS,
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


def _prepared(spec: KindSpec, sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(the statement with its table picked, the parameters with the kind's defaults, the values bound)."""
    # a parameter added to a kind after a version was approved: the version runs with its default
    params = {**{p.name: p.default for p in spec.params}, **params}
    if "{table}" in sql:
        table = "payments_withdrawal" if params["direction"] == "withdrawal" else "payments_deposit"
        sql = sql.replace("{table}", table).replace("{kind}", params["direction"])
    choices = {p.name for p in spec.params if p.kind == "choice"}
    bound = {k: (Decimal(v) if isinstance(v, str) and k not in choices else v) for k, v in params.items()}
    return sql, params, bound


def _fetch(sql: str, bound: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def hits(kind: str, params: dict[str, Any], *, start: datetime, end: datetime) -> list[Hit]:
    """What a rule of ``kind`` with (cleaned) ``params`` fires on in ``[start, end)``: one statement."""
    spec = kind_spec(kind)
    sql, params, bound = _prepared(spec, spec.sql, params)
    rows = _fetch(sql, {**bound, "start": start, "end": end})
    found = []
    for row in rows:
        facts = _json(row["facts"])
        found.append(Hit(row["key"], row["client_id"], spec.summary(params, facts)[:300], _json(row["evidence"])))
    return found


def gaps(kind: str, params: dict[str, Any], *, start: datetime, end: datetime) -> list[Gap]:
    """The amounts of ``[start, end)`` a rule of ``kind`` converts but could not, for want of a rate
    into its currency at their moment (the statement of :func:`hits` compares them as nothing),
    per currency and day (UTC). Nothing for a kind that converts no amount."""
    spec = kind_spec(kind)
    if not spec.amounts:
        return []
    source, params, bound = _prepared(spec, spec.amounts, params)
    sql = (
        "SELECT g.currency, (g.at AT TIME ZONE 'UTC')::date AS day, min(g.at) AS first_at, count(*) AS n,"  # noqa: S608 - fixed fragments, values bound
        " (array_agg(g.reference ORDER BY g.at, g.reference))[1:5] AS examples"
        f" FROM ({source}) g WHERE g.currency <> %(currency)s AND {fx('g.currency', 'g.at')} IS NULL"
        " GROUP BY g.currency, (g.at AT TIME ZONE 'UTC')::date ORDER BY 2, 1"
    )
    return [
        Gap(
            currency=r["currency"],
            quote=params["currency"],
            day=r["day"],
            first_at=r["first_at"],
            count=r["n"],
            examples=list(r["examples"]),
        )
        for r in _fetch(sql, {**bound, "start": start, "end": end})
    ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
