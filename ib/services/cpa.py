"""CPA: a fixed amount once per client who qualifies, split across the partner levels like a pool.

A client qualifies when it was approved (the first time its status became ``approved``), its
first credited deposit is at least ``cpa_min_deposit`` (in the plan's currency, at the FX rate of
the deposit's completion) and completed within ``cpa_days`` of approval, and it traded
``cpa_min_lots`` lots within ``cpa_days`` of approval. The partner, its plan and the plan's
version are those in force at the approval; the CPA is earned on the day the last condition was
met (the deposit, or the deal that reached the lots), and written by the run whose period holds
that day. Once per client: a client with a CPA line already earns none again.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from ib.models import CommissionRun
from ib.services.commissions import SPLIT_SQL, _params, _period_bounds, fx_lateral

CPA_POOLS_SQL = """
WITH approved AS (
    SELECT h.id AS client_id, min(h.history_date) AS approved_at
    FROM accounts_historicalclient h
    WHERE h.id = ANY(%(clients)s::bigint[]) AND h.status = 'approved'
    GROUP BY h.id
),
terms AS (
    SELECT ap.client_id, ap.approved_at, a.partner_id, pl.currency AS plan_currency, pl.hold_days,
           v.id AS version_id, 0::bigint AS group_id, r.id AS rule_id, r.rate, r.tier_shares::numeric[] AS tier_shares,
           0::numeric AS client_rebate_pct, r.cpa_min_deposit, COALESCE(r.cpa_min_lots, 0) AS cpa_min_lots,
           ap.approved_at + make_interval(days => COALESCE(r.cpa_days, 36500)) AS window_end
    FROM approved ap
    JOIN ib_attribution a ON a.client_id = ap.client_id AND a.valid_from <= ap.approved_at
                         AND (a.valid_to IS NULL OR a.valid_to > ap.approved_at)
    JOIN ib_partnerplan pp ON pp.partner_id = a.partner_id
         AND pp.valid_from <= (ap.approved_at AT TIME ZONE %(tz)s)::date
         AND (pp.valid_to IS NULL OR pp.valid_to > (ap.approved_at AT TIME ZONE %(tz)s)::date)
    JOIN ib_commissionplan pl ON pl.id = pp.plan_id
    JOIN ib_planversion v ON v.plan_id = pl.id AND v.valid_from <= (ap.approved_at AT TIME ZONE %(tz)s)::date
         AND (v.valid_to IS NULL OR v.valid_to > (ap.approved_at AT TIME ZONE %(tz)s)::date)
    JOIN ib_planrule r ON r.version_id = v.id AND r.kind = 'cpa'
    WHERE NOT EXISTS (SELECT 1 FROM ib_commissionline l WHERE l.client_id = ap.client_id AND l.kind = 'cpa')
),
first_deposit AS (
    SELECT DISTINCT ON (dp.client_id) dp.client_id, dp.id AS deposit_id, dp.amount, dp.currency, dp.completed_at
    FROM payments_deposit dp
    WHERE dp.client_id IN (SELECT client_id FROM terms) AND dp.status = 'credited' AND dp.completed_at IS NOT NULL
    ORDER BY dp.client_id, dp.completed_at, dp.id
),
lots_reached AS (
    SELECT t.client_id, min(x.closed_at) AS reached_at
    FROM terms t
    JOIN LATERAL (
        SELECT d.closed_at, sum(d.lots) OVER (ORDER BY d.closed_at, d.id) AS lots_to
        FROM ib_deal d
        WHERE d.client_id = t.client_id AND d.closed_at >= t.approved_at AND d.closed_at < t.window_end
    ) x ON x.lots_to >= t.cpa_min_lots
    GROUP BY t.client_id
),
capped AS (
    SELECT t.*, fd.deposit_id, t.rate AS pool, t.rate AS base_pool,
           (GREATEST(t.approved_at, fd.completed_at,
                     CASE WHEN t.cpa_min_lots > 0 THEN lr.reached_at ELSE t.approved_at END)
            AT TIME ZONE %(tz)s)::date AS day
    FROM terms t
    JOIN first_deposit fd ON fd.client_id = t.client_id AND fd.completed_at < t.window_end
    LEFT JOIN LATERAL {fx} fx ON fd.currency <> t.plan_currency
    LEFT JOIN lots_reached lr ON lr.client_id = t.client_id
    WHERE (t.cpa_min_lots = 0 OR lr.reached_at IS NOT NULL)
      AND (t.cpa_min_deposit IS NULL
           OR fd.amount * CASE WHEN fd.currency = t.plan_currency THEN 1 ELSE fx.rate END >= t.cpa_min_deposit)
)
"""

CPA_POOLS_SQL = CPA_POOLS_SQL.replace("{fx}", fx_lateral("fd.currency", "t.plan_currency", "fd.completed_at"))

CPA_INSERT_SQL = """
INSERT INTO ib_commissionline (
    kind, run_id, client_id, partner_id, level, plan_version_id, rule_id, earned_on, base_amount, base_currency,
    fx_rate, amount, currency, tree, status, available_on, qualifying_deposit_id, created_at)
SELECT 'cpa', %(run_id)s, client_id, beneficiary, lvl, version_id, rule_id, day, base_pool, plan_currency,
       1, amount, plan_currency, tree, 'pending', day + hold_days, deposit_id, %(now)s
FROM lines
WHERE amount > 0 AND lvl >= 0 AND day >= %(day_from)s AND day <= %(day_to)s
ON CONFLICT DO NOTHING
"""


def cpa_lines_write(*, run: CommissionRun, client_ids: Sequence[int]) -> int:
    """Write the CPA lines of the clients among ``client_ids`` who qualified in the run's period
    (composable: the caller holds the transaction). The number of lines written."""
    period_from, period_to = _period_bounds(run.period_start, run.period_end)
    params = _params(
        period_from=period_from,
        period_to=period_to,
        clients=list(client_ids),
        run_id=run.pk,
        day_from=run.period_start,
        day_to=run.period_end,
    )
    with connection.cursor() as cursor:
        cursor.execute(CPA_POOLS_SQL + SPLIT_SQL + CPA_INSERT_SQL, params)
        return max(cursor.rowcount, 0)
