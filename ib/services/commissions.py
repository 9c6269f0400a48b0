"""The commission engine: what deals, clients and months earn, written as commission lines.

Deal commissions are one set-based statement per chunk of clients (``DEAL_LINES_SQL``): deals
closed in the period x the attribution in force at the close x the plan the introducing partner
follows that day x its version in force that day x the rule of the deal's symbol group x the
partner's ancestors x the FX rate at the close. The same statement text computes a preview of
rules that are not saved yet: only the sources of ``versions`` and ``rules`` differ (the tables,
or one pseudo-version and a jsonb list of rules), and the preview selects instead of inserting.

The pool of a deal (per lot, % of spread or % of commission, in the deal's currency) is converted
to the plan's currency at the rate in force at the close and rounded to the cent; it is capped
per trade, then per client and day, then per client and calendar month (running sums over the
client's deals in close order, counting what earlier runs already earned). The client's rebate
is truncated to the cent; every partner level above the introducing one gets its share
truncated to the cent, and the introducing partner the remainder, so the lines add up to the
pool exactly (``split_pool`` is the same split in Python; a property test holds them equal).

Lines are unique per deal, beneficiary and plan version, and written with ``ON CONFLICT DO
NOTHING``: a rerun of a period adds only what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from ib.models import CommissionPlan, CommissionRun, LineKind, Partner

CENT = Decimal("0.01")
HUNDRED = Decimal("100")


# --- the split, in Python -------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    rebate: Decimal
    levels: list[Decimal]  # level 0 (the introducing partner) first

    @property
    def total(self) -> Decimal:
        return self.rebate + sum(self.levels, Decimal("0"))


def _trunc(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


def effective_shares(tier_shares: Sequence[Decimal], tree_size: int) -> list[Decimal]:
    """The share of each level of a tree of ``tree_size`` partners (introducing partner first):
    levels above the top fold their shares into the top partner; levels beyond the shares get
    nothing. Level 0 is always there (it takes the remainder)."""
    shares = [Decimal(s) for s in tier_shares]
    top = tree_size - 1
    count = max(1, min(len(shares), tree_size))
    result = []
    for level in range(count):
        if level < top:
            result.append(shares[level] if level < len(shares) else Decimal("0"))
        else:
            result.append(sum(shares[level:], Decimal("0")))
    return result


def split_pool(pool: Decimal, *, tier_shares: Sequence[Decimal], tree_size: int, client_rebate_pct: Decimal) -> Split:
    """``pool`` (in the plan currency, to the cent) split into the client's rebate and the amount of
    each partner level; the parts add up to ``pool`` exactly."""
    rebate = _trunc(pool * Decimal(client_rebate_pct) / HUNDRED)
    rest = pool - rebate
    shares = effective_shares(tier_shares, tree_size)
    upper = [_trunc(rest * share / HUNDRED) for share in shares[1:]]
    return Split(rebate=rebate, levels=[rest - sum(upper, Decimal("0")), *upper])


# --- the statement -------------------------------------------------------------------------------


def fx_lateral(base: str, quote: str, at: str) -> str:
    """SQL of a LATERAL subquery giving ``rate`` and ``as_of`` of one ``base`` in ``quote`` at ``at``
    (SQL expressions), as ``payments.selectors.fx_rate_at`` reads it: the latest rate of the pair
    at or before then; failing that, the inverse of the reverse pair's (to 8 places). The first
    branch that finds a rate ends it (an Append under LIMIT 1 runs its branches in order)."""
    return f"""(
        (SELECT f.rate, f.as_of FROM payments_fxrate f
         WHERE f.base = {base} AND f.quote = {quote} AND f.as_of <= {at} ORDER BY f.as_of DESC LIMIT 1)
        UNION ALL
        (SELECT round(1 / f.rate, 8), f.as_of FROM payments_fxrate f
         WHERE f.base = {quote} AND f.quote = {base} AND f.as_of <= {at} ORDER BY f.as_of DESC LIMIT 1)
        LIMIT 1
    )"""  # noqa: S608 - the arguments are this package's column expressions, never input


# The sources the statement reads its plan versions and rules from. A run reads the tables; a
# preview reads one pseudo-version (id 0, in force for ever) of the plan and the rules as jsonb.
VERSIONS_FROM_TABLES = "SELECT v.id, v.plan_id, v.number, v.valid_from, v.valid_to FROM ib_planversion v"
RULES_FROM_TABLES = """
    SELECT r.id AS rule_id, r.version_id, r.symbol_group_id AS group_id, r.kind, r.rate,
           r.tier_shares::numeric[] AS tier_shares, r.client_rebate_pct, r.cap_per_trade, r.cap_per_day,
           r.cap_per_client, r.min_hold_seconds
    FROM ib_planrule r WHERE r.kind IN ('per_lot', 'spread_pct', 'commission_pct')"""
VERSIONS_PREVIEW = """
    SELECT 0::bigint AS id, %(plan_id)s::bigint AS plan_id, 0 AS number, '-infinity'::date AS valid_from,
           NULL::date AS valid_to"""
RULES_PREVIEW = """
    SELECT NULL::bigint AS rule_id, 0::bigint AS version_id, g.id AS group_id, j.kind, j.rate,
           j.tier_shares, COALESCE(j.client_rebate_pct, 0) AS client_rebate_pct, j.cap_per_trade, j.cap_per_day,
           j.cap_per_client, COALESCE(j.min_hold_seconds, 0) AS min_hold_seconds
    FROM jsonb_to_recordset(%(rules)s::jsonb) AS j(
        kind text, symbol_group text, rate numeric, tier_shares numeric[], client_rebate_pct numeric,
        cap_per_trade numeric, cap_per_day numeric, cap_per_client numeric, min_hold_seconds integer)
    JOIN ib_symbolgroup g ON g.code = j.symbol_group
    WHERE j.kind IN ('per_lot', 'spread_pct', 'commission_pct')"""

# The pools of the deals (in ``capped``). Parameters: period_from / period_to (timestamps, half-open), clients (bigint[] or NULL: all),
# plan_id (or NULL: every plan), fresh (true: ignore existing lines, as a preview does), tz, steplen,
# run_id, now.
DEAL_POOLS_SQL = """
WITH versions AS ({versions}),
rules AS ({rules}),
d AS (
    SELECT d.id, d.client_id, d.closed_at, d.opened_at, d.symbol, d.lots, d.spread, d.commission, d.currency,
           (d.closed_at AT TIME ZONE %(tz)s)::date AS day
    FROM ib_deal d
    WHERE d.closed_at >= %(period_from)s AND d.closed_at < %(period_to)s
      AND (%(clients)s::bigint[] IS NULL OR d.client_id = ANY(%(clients)s::bigint[]))
),
src AS (
    SELECT d.*, a.partner_id, pl.currency AS plan_currency, pl.hold_days, v.id AS version_id,
           r.rule_id, r.group_id, r.kind, r.rate, r.tier_shares, r.client_rebate_pct,
           r.cap_per_trade, r.cap_per_day, r.cap_per_client,
           CASE r.kind WHEN 'per_lot' THEN r.rate * d.lots
                       WHEN 'spread_pct' THEN r.rate * d.spread / 100
                       ELSE r.rate * d.commission / 100 END AS raw_pool,
           CASE WHEN d.currency = pl.currency THEN 1::numeric ELSE fx.rate END AS fx_rate,
           CASE WHEN d.currency = pl.currency THEN NULL ELSE fx.as_of END AS fx_at
    FROM d
    JOIN ib_attribution a ON a.client_id = d.client_id AND a.valid_from <= d.closed_at
                         AND (a.valid_to IS NULL OR a.valid_to > d.closed_at)
    JOIN ib_partnerplan pp ON pp.partner_id = a.partner_id AND pp.valid_from <= d.day
                          AND (pp.valid_to IS NULL OR pp.valid_to > d.day)
                          AND (%(plan_id)s::bigint IS NULL OR pp.plan_id = %(plan_id)s::bigint)
    JOIN ib_commissionplan pl ON pl.id = pp.plan_id
    JOIN versions v ON v.plan_id = pl.id AND v.valid_from <= d.day AND (v.valid_to IS NULL OR v.valid_to > d.day)
    JOIN ib_symbol s ON s.name = d.symbol
    JOIN rules r ON r.version_id = v.id AND r.group_id = s.group_id
    LEFT JOIN LATERAL {fx} fx ON d.currency <> pl.currency
    WHERE d.closed_at - d.opened_at >= make_interval(secs => r.min_hold_seconds)
      AND (d.currency = pl.currency OR fx.rate IS NOT NULL)
      AND (%(fresh)s OR NOT EXISTS (
          SELECT 1 FROM ib_commissionline l
          WHERE l.deal_id = d.id AND l.plan_version_id = v.id AND l.kind IN ('deal', 'rebate')))
),
pooled AS (
    SELECT src.*, round(src.raw_pool, 2) AS base_pool,
           LEAST(round(round(src.raw_pool, 2) * src.fx_rate, 2), COALESCE(src.cap_per_trade, 'Infinity'::numeric))
               AS trade_pool,
           date_trunc('month', src.day)::date AS month
    FROM src
),
earlier AS (
    -- what earlier runs already earned per client, rule and day (deal and rebate lines)
    SELECT l.client_id, l.rule_id, l.earned_on, sum(l.amount) AS amount
    FROM ib_commissionline l
    WHERE NOT %(fresh)s AND l.kind IN ('deal', 'rebate')
      AND l.client_id IN (SELECT DISTINCT client_id FROM pooled WHERE cap_per_day IS NOT NULL
                                                                   OR cap_per_client IS NOT NULL)
      AND l.earned_on >= date_trunc('month', %(period_from)s AT TIME ZONE %(tz)s)::date
      AND l.earned_on < (%(period_to)s AT TIME ZONE %(tz)s)::date + 1
    GROUP BY 1, 2, 3
),
earlier_month AS (
    SELECT client_id, rule_id, date_trunc('month', earned_on)::date AS month, sum(amount) AS amount
    FROM earlier GROUP BY 1, 2, 3
),
day_running AS (
    SELECT p.*, COALESCE(em.amount, 0) AS month_before,
           COALESCE(ed.amount, 0)
           + sum(p.trade_pool) OVER (PARTITION BY p.client_id, p.version_id, p.group_id, p.day
                                     ORDER BY p.closed_at, p.id) AS day_to
    FROM pooled p
    LEFT JOIN earlier ed ON ed.client_id = p.client_id AND ed.rule_id = p.rule_id AND ed.earned_on = p.day
    LEFT JOIN earlier_month em ON em.client_id = p.client_id AND em.rule_id = p.rule_id AND em.month = p.month
),
day_capped AS (
    SELECT dr.*,
           CASE WHEN dr.cap_per_day IS NULL THEN dr.trade_pool
                ELSE GREATEST(0, LEAST(dr.cap_per_day, dr.day_to)
                                 - LEAST(dr.cap_per_day, dr.day_to - dr.trade_pool)) END AS day_pool
    FROM day_running dr
),
month_running AS (
    SELECT dc.*,
           dc.month_before + sum(dc.day_pool) OVER (PARTITION BY dc.client_id, dc.version_id, dc.group_id, dc.month
                                                    ORDER BY dc.closed_at, dc.id) AS month_to
    FROM day_capped dc
),
capped AS (
    SELECT mr.*,
           CASE WHEN mr.cap_per_client IS NULL THEN mr.day_pool
                ELSE GREATEST(0, LEAST(mr.cap_per_client, mr.month_to)
                                 - LEAST(mr.cap_per_client, mr.month_to - mr.day_pool)) END AS pool
    FROM month_running mr
)
"""

# The split of the pools of ``capped`` (columns version_id, group_id, partner_id, tier_shares,
# client_rebate_pct, pool, ...) across the client (-1) and the partner levels: one row per line in ``lines``.
SPLIT_SQL = """,
trees AS (
    -- each introducing partner's ancestors, itself first (level = depth difference)
    SELECT p.id AS partner_id, p.depth - 1 AS top_level,
           array_agg(anc.id ORDER BY anc.depth DESC) AS tree
    FROM ib_partner p
    JOIN generate_series(1, 64) k ON k <= p.depth
    JOIN ib_partner anc ON anc.path = substr(p.path, 1, k * %(steplen)s)
    WHERE p.id IN (SELECT DISTINCT partner_id FROM capped)
    GROUP BY p.id
),
rule_partner AS (
    SELECT DISTINCT c.version_id, c.group_id, c.partner_id, c.tier_shares, c.client_rebate_pct FROM capped c
),
levels AS (
    -- the beneficiaries of one rule's pool under one introducing partner: -1 the client, 0.. partners
    SELECT rp.version_id, rp.group_id, rp.partner_id, t.tree, lvl.lvl,
           CASE WHEN lvl.lvl < 0 THEN NULL ELSE t.tree[lvl.lvl + 1] END AS beneficiary,
           CASE WHEN lvl.lvl < 0 THEN rp.client_rebate_pct
                WHEN lvl.lvl < t.top_level THEN COALESCE(rp.tier_shares[lvl.lvl + 1], 0)
                ELSE (SELECT COALESCE(sum(s), 0) FROM unnest(rp.tier_shares[lvl.lvl + 1:]) s) END AS share
    FROM rule_partner rp
    JOIN trees t ON t.partner_id = rp.partner_id
    CROSS JOIN LATERAL generate_series(
        CASE WHEN rp.client_rebate_pct > 0 THEN -1 ELSE 0 END,
        GREATEST(0, LEAST(COALESCE(cardinality(rp.tier_shares), 0) - 1, t.top_level))) AS lvl(lvl)
),
upper AS (
    SELECT version_id, group_id, partner_id, array_agg(share ORDER BY lvl) AS upper_shares
    FROM levels WHERE lvl >= 1 GROUP BY 1, 2, 3
),
shares AS MATERIALIZED (
    SELECT l.*, u.upper_shares
    FROM levels l
    LEFT JOIN upper u ON u.version_id = l.version_id AND u.group_id = l.group_id AND u.partner_id = l.partner_id
),
split AS (
    SELECT c.*, s.lvl, s.beneficiary, s.tree,
           c.pool - trunc(c.pool * c.client_rebate_pct / 100, 2) AS rest,
           s.share, s.upper_shares
    FROM capped c
    JOIN shares s ON s.version_id = c.version_id AND s.group_id = c.group_id AND s.partner_id = c.partner_id
    WHERE c.pool > 0
),
lines AS (
    SELECT sp.*,
           CASE WHEN sp.lvl < 0 THEN trunc(sp.pool * sp.share / 100, 2)
                WHEN sp.lvl > 0 THEN trunc(sp.rest * sp.share / 100, 2)
                ELSE sp.rest - COALESCE((SELECT sum(trunc(sp.rest * u / 100, 2)) FROM unnest(sp.upper_shares) u), 0)
           END AS amount
    FROM split sp
)
"""

DEAL_FX = fx_lateral("d.currency", "pl.currency", "d.closed_at")

INSERT_SQL = """
INSERT INTO ib_commissionline (
    kind, run_id, deal_id, client_id, partner_id, level, plan_version_id, rule_id, earned_on, period,
    base_amount, base_currency, fx_rate, fx_at, amount, currency, tree, status, available_on, created_at)
SELECT CASE WHEN lvl < 0 THEN 'rebate' ELSE 'deal' END, %(run_id)s, id, client_id, beneficiary, lvl, version_id,
       rule_id, day, NULL, base_pool, currency, fx_rate, fx_at, amount, plan_currency, tree, 'pending',
       day + hold_days, %(now)s
FROM lines WHERE amount > 0
ON CONFLICT DO NOTHING
"""

PREVIEW_SQL = """
SELECT GROUPING(beneficiary) = 1, beneficiary, sum(amount), count(DISTINCT id)
FROM lines WHERE amount > 0 GROUP BY GROUPING SETS ((beneficiary), ())
"""


def _period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def _params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "tz": timezone.get_current_timezone_name(),
        "steplen": Partner.steplen,
        "clients": None,
        "plan_id": None,
        "fresh": False,
        "run_id": None,
        "now": timezone.now(),
        "rules": None,
    }
    params.update(overrides)
    return params


def deal_lines_statement(*, preview: bool) -> str:
    """The one statement text, with the run's sources (tables) or the preview's (jsonb rules)."""
    if preview:
        body = DEAL_POOLS_SQL.format(versions=VERSIONS_PREVIEW, rules=RULES_PREVIEW, fx=DEAL_FX)
        return body + SPLIT_SQL + PREVIEW_SQL
    tables = DEAL_POOLS_SQL.format(versions=VERSIONS_FROM_TABLES, rules=RULES_FROM_TABLES, fx=DEAL_FX)
    return tables + SPLIT_SQL + INSERT_SQL


def deal_lines_write(*, run: CommissionRun, client_ids: Sequence[int]) -> int:
    """Write the deal and rebate lines of ``client_ids``'s deals closed in the run's period that
    are missing (composable: the caller holds the transaction). The number of lines written."""
    period_from, period_to = _period_bounds(run.period_start, run.period_end)
    params = _params(period_from=period_from, period_to=period_to, clients=list(client_ids), run_id=run.pk)
    with connection.cursor() as cursor:
        cursor.execute(deal_lines_statement(preview=False), params)
        return max(cursor.rowcount, 0)


# --- the preview of a plan version ---------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What a set of rules pays (deal commissions) for deals closed from ``start`` to ``end``
    (inclusive) by clients of partners following ``plan``: in the plan's currency."""

    plan: CommissionPlan
    start: date
    end: date
    currency: str
    total: Decimal
    rebates: Decimal
    deals: int
    by_partner: dict[int, Decimal] = field(default_factory=dict)  # partner id -> amount

    def partners(self) -> list[tuple[Partner, Decimal]]:
        """(partner, amount), largest first, for a page."""
        found = Partner.objects.in_bulk(list(self.by_partner))
        return sorted(
            ((found[pk], amount) for pk, amount in self.by_partner.items() if pk in found),
            key=lambda pa: (-pa[1], pa[0].name),
        )


def _rule_json(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (
        "kind",
        "symbol_group",
        "rate",
        "tier_shares",
        "client_rebate_pct",
        "cap_per_trade",
        "cap_per_day",
        "cap_per_client",
        "min_hold_seconds",
    ):
        value = rule.get(key)
        if key == "symbol_group" and value is not None and not isinstance(value, str):
            value = value.code  # a SymbolGroup
        if key == "tier_shares":
            value = [str(s) for s in (value or [])]
        elif isinstance(value, Decimal):
            value = str(value)
        if value is not None and value != "":
            out[key] = value
    return out


def _summary(cursor: Any, *, plan: CommissionPlan, start: date, end: date) -> Preview:
    """Rows (grouped, beneficiary, amount, deals) of GROUPING SETS ((beneficiary), ()) as a Preview."""
    by_partner: dict[int, Decimal] = {}
    rebates = Decimal("0.00")
    total = Decimal("0.00")
    deals = 0
    for grand, beneficiary, amount, count in cursor.fetchall():
        if grand:
            total, deals = amount or Decimal("0.00"), count
        elif beneficiary is None:
            rebates = amount
        else:
            by_partner[beneficiary] = amount
    return Preview(
        plan=plan, start=start, end=end, currency=plan.currency, total=total, rebates=rebates, deals=deals,
        by_partner=by_partner,
    )  # fmt: skip


def commission_preview(*, plan: CommissionPlan, rules: list[dict[str, Any]], start: date, end: date) -> Preview:
    """What ``rules`` (dicts with PlanRule's field names, ``symbol_group`` as its code) would have
    paid for the deals closed from ``start`` to ``end`` by clients of partners following ``plan``
    then, computed by the run's own statement; nothing is written. Caps count only the deals of
    the period (not what earlier runs earned). CPA and revenue share rules are not previewed."""
    period_from, period_to = _period_bounds(start, end)
    params = _params(
        period_from=period_from,
        period_to=period_to,
        plan_id=plan.pk,
        fresh=True,
        rules=json.dumps([_rule_json(r) for r in rules]),
    )
    with connection.cursor() as cursor:
        cursor.execute(deal_lines_statement(preview=True), params)
        return _summary(cursor, plan=plan, start=start, end=end)


def commission_paid(*, plan: CommissionPlan, start: date, end: date) -> Preview:
    """What the lines already written paid (deal commissions and rebates) for deals closed from
    ``start`` to ``end`` under versions of ``plan``: the same shape as the preview, to compare."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT GROUPING(l.partner_id) = 1, l.partner_id, sum(l.amount), count(DISTINCT l.deal_id)
            FROM ib_commissionline l JOIN ib_planversion v ON v.id = l.plan_version_id
            WHERE v.plan_id = %s AND l.kind IN (%s, %s) AND l.earned_on BETWEEN %s AND %s
            GROUP BY GROUPING SETS ((l.partner_id), ())
            """,
            [plan.pk, LineKind.DEAL, LineKind.REBATE, start, end],
        )
        return _summary(cursor, plan=plan, start=start, end=end)
