"""A commission run over 1,000,000 deals through a 4-level partner hierarchy, against the same
calculation written as one plain SQL ``INSERT ... SELECT`` on the same Postgres.

Data (generated with ``generate_series`` in a few statements, not timed): a hierarchy of
4 masters x 5 x 5 x 8 = 800 introducing partners at depth 4 (924 partners), CLIENTS clients spread
over them (copies of one client approved through the services), each attributed to one partner,
one plan (per lot on FX majors, 8.00 EUR, tier shares 40/30/20/10 over the four levels), DEALS
deals in USD closed over one month, and hourly USD/EUR rates (so every deal is converted at the
rate in force at its close).

1. The reference: one ``INSERT INTO ib_commissionline ... SELECT`` joining the deals to the
   attribution, the plan, the version, the rule, the FX rate and the ancestors, splitting each pool
   (level 0 takes the remainder, by a window sum): what a person writes for this plan by hand. It has
   no caps, rebates or rerun check because the benchmark's plan has none.
2. The engine: ``commission_run_start`` + ``commission_run_execute`` (what the Celery task runs)
   into the emptied table: the chunks (``COMMISSION_RUN_CHUNK_CLIENTS`` clients, each its own
   transaction, with the caps' window sums, the rerun check and CPA), then the statements.
   Both must write the same lines (count and sums per level are compared).

Goals: the engine's run <= 60 s, and its throughput >= 0.5 x the reference's (lines per second of
the chunks against the reference statement; the whole run's ratio is printed too).

    python -m bench commissions [--quick]
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

TITLE = "commissions: a run over 1,000,000 deals through 4 levels vs one plain SQL INSERT ... SELECT"

DEALS, QUICK_DEALS = 1_000_000, 5_000
CLIENTS, QUICK_CLIENTS = 20_000, 250
SHAPE = (4, 5, 5, 8)  # children per level: masters, then under each
SHARES = ["40", "30", "20", "10"]
RATE = "8"
PERIOD = (date(2026, 10, 1), date(2026, 10, 31))
GOAL_SECONDS = 60.0
GOAL_RATIO = 0.5
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _step(n: int) -> str:
    out = ""
    for _ in range(4):
        n, r = divmod(n, 36)
        out = ALPHABET[r] + out
    return out


def _partners(cursor: Any) -> None:
    rows: list[tuple[str, int, int, str, str]] = []

    def add(prefix: str, depth: int) -> None:
        count = SHAPE[depth - 1]
        for k in range(1, count + 1):
            path = prefix + _step(k)
            children = SHAPE[depth] if depth < len(SHAPE) else 0
            rows.append((path, depth, children, f"Bench partner {path}", f"BP{path}"))
            if depth < len(SHAPE):
                add(path, depth + 1)

    add("", 1)
    cursor.executemany(
        "INSERT INTO ib_partner (path, depth, numchild, name, code, email, status, created_at)"
        " VALUES (%s, %s, %s, %s, %s, '', 'active', now())",
        rows,
    )


def generate(*, deals: int, clients: int) -> dict[str, Any]:
    """The hierarchy, clients, attributions, plan, FX rates and deals; returns what the runs need."""
    from django.db import connection, transaction

    from accounts.models import Client
    from audit.context import Actor, acting_as
    from bench.ledger import _approved_client, _staff
    from ib.models import CommissionPlan, Partner, PlanRule, PlanVersion, SymbolGroup

    started = time.monotonic()
    with acting_as(Actor.system("bench")):  # through the services, each its own transaction
        template = _approved_client(0, _staff("support"), _staff("compliance"))
    with acting_as(Actor.system("bench")), transaction.atomic():
        account = template.trading_accounts.order_by("id").first()
        assert account is not None
        group, _ = SymbolGroup.objects.get_or_create(code="fx", defaults={"name": "FX majors"})
        from ib.models import Symbol

        for name in ("EURUSD", "GBPUSD", "USDJPY"):
            Symbol.objects.get_or_create(name=name, defaults={"group": group})
        plan = CommissionPlan.objects.create(code=f"BENCH{int(time.time())}", name="Bench plan", currency="EUR")
        version = PlanVersion.objects.create(plan=plan, number=1, valid_from=date(2025, 1, 1))
        PlanRule.objects.create(version=version, kind="per_lot", symbol_group=group, rate=RATE, tier_shares=SHARES)
        with connection.cursor() as cursor:
            if not Partner.objects.filter(code__startswith="BP").exists():
                _partners(cursor)
            columns = [f.column for f in Client._meta.concrete_fields if f.column != "id"]
            special = {
                "reference": "'BC' || lpad(i::text, 9, '0')",
                "email": "'bench-commissions-' || i || '@example.test'",
                "last_name": "'Commissions' || i",
            }
            select = ", ".join(special.get(c, f"t.{c}") for c in columns)
            cursor.execute(
                f"INSERT INTO accounts_client ({', '.join(columns)}) SELECT {select}"
                " FROM accounts_client t CROSS JOIN generate_series(1, %s) i WHERE t.id = %s",
                [clients, template.pk],
            )
            cursor.execute(
                "INSERT INTO ib_partnerplan (partner_id, plan_id, valid_from, created_at)"
                " SELECT id, %s, '2025-01-01', now() FROM ib_partner WHERE depth = 4 AND code LIKE 'BP%%'",
                [plan.pk],
            )
            cursor.execute(
                """
                WITH leaves AS (SELECT array_agg(id ORDER BY path) AS ids FROM ib_partner
                                WHERE depth = 4 AND code LIKE 'BP%%'),
                     cs AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM accounts_client
                            WHERE reference LIKE 'BC%%')
                INSERT INTO ib_attribution (client_id, partner_id, campaign, source, valid_from, reason, created_at)
                SELECT cs.id, leaves.ids[1 + cs.n %% cardinality(leaves.ids)], '', 'referral', '2025-01-01', '', now()
                FROM cs, leaves
                """,
                {},
            )
            cursor.execute(
                "INSERT INTO payments_fxrate (base, quote, rate, as_of, source)"
                " SELECT 'USD', 'EUR', 0.9 + (h %% 17) / 1000.0, timestamptz '2026-09-30 00:00+00' + h * interval '1 hour',"
                " 'bench' FROM generate_series(0, 24 * 33) h ON CONFLICT DO NOTHING",
                {},
            )
            cursor.execute(
                "INSERT INTO ib_dealbatch (source, filename, raw, sha256, rows_total, rows_new, rows_duplicate,"
                " rows_rejected, rejections, received_by, received_at)"
                " VALUES ('csv', 'bench', '', repeat('0', 64), 0, 0, 0, 0, '[]', 'bench', now()) RETURNING id"
            )
            batch_id = cursor.fetchone()[0]
            cursor.execute(
                """
                WITH cs AS (SELECT array_agg(id ORDER BY id) AS ids FROM accounts_client WHERE reference LIKE 'BC%%')
                INSERT INTO ib_deal (deal_id, login, trading_account_id, client_id, symbol, side, lots, opened_at,
                                     closed_at, spread, commission, swap, profit, currency, batch_id, fingerprint,
                                     received_at)
                SELECT 'BD' || i, '1', %(account)s, cs.ids[1 + i %% cardinality(cs.ids)],
                       (ARRAY['EURUSD', 'GBPUSD', 'USDJPY'])[1 + i %% 3], CASE WHEN i %% 2 = 0 THEN 'buy' ELSE 'sell' END,
                       (1 + (i::bigint * 7919) %% 500) / 100.0, x.closed - interval '30 minutes', x.closed,
                       3.00, 0, 0, 0, 'USD', %(batch)s, md5(i::text), now()
                FROM generate_series(1, %(deals)s) i, cs,
                     LATERAL (SELECT timestamptz '2026-10-01 00:00+00'
                                     + (i::float8 / %(deals)s * 30.99 * 86400) * interval '1 second' AS closed) x
                """,
                {"account": account.pk, "batch": batch_id, "deals": deals},
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ib_deal, ib_attribution, accounts_client, ib_partner, payments_fxrate")
    return {"plan": plan, "version": version, "seconds": time.monotonic() - started}


REFERENCE_SQL = """
INSERT INTO ib_commissionline (kind, deal_id, client_id, partner_id, level, plan_version_id, rule_id, earned_on,
                               base_amount, base_currency, fx_rate, fx_at, amount, currency, tree, status,
                               available_on, created_at)
WITH anc AS (
    SELECT p.id AS partner_id, p.depth - a.depth AS lvl, a.id AS beneficiary,
           array_agg(a.id) OVER (PARTITION BY p.id ORDER BY a.depth DESC
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS tree
    FROM ib_partner p
    JOIN generate_series(1, 64) k ON k <= p.depth
    JOIN ib_partner a ON a.path = substr(p.path, 1, 4 * k)
),
pools AS (
    SELECT d.id, d.client_id, d.currency, a.partner_id, v.id AS version_id, r.id AS rule_id, r.tier_shares,
           pl.currency AS plan_currency, pl.hold_days, (d.closed_at AT TIME ZONE 'UTC')::date AS day, fx.rate AS fx_rate,
           fx.as_of AS fx_at, round(r.rate * d.lots, 2) AS base_pool, round(round(r.rate * d.lots, 2) * fx.rate, 2) AS pool
    FROM ib_deal d
    JOIN ib_attribution a ON a.client_id = d.client_id AND a.valid_from <= d.closed_at
                         AND (a.valid_to IS NULL OR a.valid_to > d.closed_at)
    JOIN ib_partnerplan pp ON pp.partner_id = a.partner_id AND pp.valid_from <= d.closed_at::date
                          AND (pp.valid_to IS NULL OR pp.valid_to > d.closed_at::date)
    JOIN ib_commissionplan pl ON pl.id = pp.plan_id
    JOIN ib_planversion v ON v.plan_id = pl.id AND v.valid_from <= d.closed_at::date
                         AND (v.valid_to IS NULL OR v.valid_to > d.closed_at::date)
    JOIN ib_symbol s ON s.name = d.symbol
    JOIN ib_planrule r ON r.version_id = v.id AND r.symbol_group_id = s.group_id AND r.kind = 'per_lot'
    CROSS JOIN LATERAL (SELECT f.rate, f.as_of FROM payments_fxrate f
                        WHERE f.base = d.currency AND f.quote = pl.currency AND f.as_of <= d.closed_at
                        ORDER BY f.as_of DESC LIMIT 1) fx
    WHERE d.closed_at >= %(period_from)s AND d.closed_at < %(period_to)s
),
parts AS (
    SELECT p.*, anc.lvl, anc.beneficiary, anc.tree,
           CASE WHEN anc.lvl = 0 THEN 0 ELSE trunc(p.pool * p.tier_shares[anc.lvl + 1] / 100, 2) END AS part
    FROM pools p JOIN anc ON anc.partner_id = p.partner_id AND anc.lvl < cardinality(p.tier_shares)
)
SELECT 'deal', id, client_id, beneficiary, lvl, version_id, rule_id, day, base_pool, currency, fx_rate, fx_at,
       amount, plan_currency, tree, 'pending', day + hold_days, now()
FROM (SELECT parts.*, CASE WHEN lvl = 0 THEN pool - sum(part) OVER (PARTITION BY id) ELSE part END AS amount
      FROM parts) x
WHERE amount > 0
"""


def _lines_figures(cursor: Any) -> list[tuple[int, int, Any]]:
    cursor.execute("SELECT level, count(*), sum(amount) FROM ib_commissionline GROUP BY level ORDER BY level")
    return list(cursor.fetchall())


def run(*, quick: bool = False) -> bool:
    from django.conf import settings
    from django.db import connection, transaction

    from audit.context import Actor, acting_as
    from ib.models import CommissionRun, Statement
    from ib.services.commissions import _period_bounds
    from ib.services.runs import commission_run_execute, commission_run_start, statements_issue

    n_deals, n_clients = (QUICK_DEALS, QUICK_CLIENTS) if quick else (DEALS, CLIENTS)
    data = generate(deals=n_deals, clients=n_clients)
    print(
        f"generated {n_deals:,} deals of {n_clients:,} clients under {SHAPE[0] * SHAPE[1] * SHAPE[2] * SHAPE[3]:,}"
        f" introducing partners at depth 4 in {data['seconds']:.1f} s",
        flush=True,
    )
    period_from, period_to = _period_bounds(*PERIOD)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE ib_commissionline, ib_statement CASCADE")
        started = time.monotonic()
        cursor.execute(REFERENCE_SQL, {"period_from": period_from, "period_to": period_to})
        reference_seconds = time.monotonic() - started
        reference = _lines_figures(cursor)
        reference_lines = sum(count for _, count, _ in reference)
        cursor.execute("TRUNCATE ib_commissionline, ib_statement CASCADE")
        cursor.execute("VACUUM ANALYZE ib_commissionline")
    print(
        f"reference (one INSERT ... SELECT): {reference_lines:,} lines in {reference_seconds:.1f} s"
        f" ({reference_lines / reference_seconds:,.0f} lines/s)",
        flush=True,
    )

    with acting_as(Actor.system("bench")):
        run = commission_run_start(period_start=PERIOD[0], period_end=PERIOD[1], actor=None)
        started = time.monotonic()
        commission_run_execute(run_id=run.pk)
        run_seconds = time.monotonic() - started
    run = CommissionRun.objects.get(pk=run.pk)
    assert run.started_at is not None and run.finished_at is not None
    with connection.cursor() as cursor:
        engine = _lines_figures(cursor)
    # what the statements took: issued again (the same hashes, so nothing new is stored)
    with acting_as(Actor.system("bench")), transaction.atomic():
        started = time.monotonic()
        again = statements_issue(period_start=PERIOD[0], period_end=PERIOD[1])
        statements_seconds = time.monotonic() - started
    assert again == []
    chunks_seconds = max(0.001, run_seconds - statements_seconds)
    engine_lines = sum(count for _, count, _ in engine)
    statements = Statement.objects.filter(period_start=PERIOD[0], period_end=PERIOD[1]).count()
    same = engine == reference
    print(
        f"engine (commission run, {settings.COMMISSION_RUN_CHUNK_CLIENTS} clients per chunk,"
        f" {run.progress_total} steps): {engine_lines:,} lines in {run_seconds:.1f} s"
        f" ({engine_lines / run_seconds:,.0f} lines/s): the chunks about {chunks_seconds:.1f} s,"
        f" the statements ({statements} partners) about {statements_seconds:.1f} s",
        flush=True,
    )
    print(f"same lines as the reference (count and sum per level): {'yes' if same else 'NO'}")
    if not same:
        print(f"  reference {reference}\n  engine    {engine}")
    ratio = reference_seconds / run_seconds
    chunks_ratio = reference_seconds / chunks_seconds if chunks_seconds > 0 else ratio
    print(
        f"throughput ratio engine / reference: {ratio:.2f}x for the whole run,"
        f" {chunks_ratio:.2f}x for the calculation alone (goal >= {GOAL_RATIO}x)"
    )
    print(f"run wall time: {run_seconds:.1f} s (goal <= {GOAL_SECONDS:.0f} s for {DEALS:,} deals)")
    if quick:
        return same and ratio >= GOAL_RATIO
    met = same and run_seconds <= GOAL_SECONDS and ratio >= GOAL_RATIO
    if not met:
        print(
            f"goal missed by: time {max(0.0, run_seconds - GOAL_SECONDS):.1f} s,"
            f" ratio {max(0.0, GOAL_RATIO - ratio):.2f}x"
        )
    return met


if __name__ == "__main__":
    import sys

    from bench import setup_django

    setup_django()
    sys.exit(0 if run(quick="--quick" in sys.argv) else 1)
