"""Risk: a monitoring rule replayed over 30 days of 1,000,000 transactions (the backtest a checker
sees beside a proposed rule version), and the exposure and P&L dashboard recomputed after each
batch of deals arriving at 1,000 deals per second.

Data (generated with ``generate_series``, not timed): CLIENTS copies of one approved client;
700,000 card deposits and 300,000 withdrawals (with their holds) spread over the last 30 days;
200,000 deals; INJECTED further clients who each deposit 5,000 and ask for 4,900 back an hour later
without trading (the pattern the rule must find); an open position per client on both books.

0. Also generated: a daily FX rate against USD, and SIGN_INS client-area sign-ins over the same days,
   for step 3: a device, an IP address and a country per client, except that every 50 clients form a
   household (the 2nd shares the 1st's IP address and device, the 3rd its address only, the 4th its
   device only: one hit of each linked rule per household), one client in 100 travels (its
   sign-ins placed in five countries in turn), and a client in 50 signs in from a new device an
   hour before a withdrawal, every other one of those from abroad.
1. The rule (deposit then withdrawal: at least 80% within 24 h, at most 0.10 lots traded in
   between) over the 30 days: one set-based statement (``risk.rules.hits``); every injected client
   must be among its hits. Then the whole backtest the checker's page computes
   (``rule_backtest``: the proposed and the current version, and their precision). Goal: the
   rule's replay <= 30 s.
2. Deals arriving in batches of 1,000 a second (inserted and committed as the trade feed does),
   and after each batch the dashboard's figures (exposure per symbol and book, the heatmap, the
   per-currency legs, realised P&L) recomputed; a batch's deal-to-dashboard time runs from its
   arrival to figures that include it (checked: the deal count grows by the batch). Goal: p95 <= 1 s.
3. The kinds that convert amounts or read sign-ins, each replayed over the 30 days (figures, no goal
   of their own): structuring in USD (every deposit converted at the rate of its moment), accounts
   linked by IP address and by device (each must find every household), a new device followed by a
   withdrawal, sign-ins from many countries, and a withdrawal after a sign-in from abroad.

    python -m bench risk_backtest [--quick]
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

TITLE = "risk: one rule replayed over 30 days of 1,000,000 transactions; dashboard after each batch of deals"

DEPOSITS, QUICK_DEPOSITS = 700_000, 14_000
WITHDRAWALS, QUICK_WITHDRAWALS = 300_000, 6_000
DEALS, QUICK_DEALS = 200_000, 4_000
CLIENTS, QUICK_CLIENTS = 20_000, 400
SIGN_INS, QUICK_SIGN_INS = 300_000, 6_000
INJECTED = 20
STREAM_SECONDS, QUICK_STREAM_SECONDS = 30, 4
BATCH = 1_000
GOAL_REPLAY_SECONDS = 30.0
GOAL_P95_SECONDS = 1.0
PARAMS = {"min_pct": 80, "within_hours": 24, "max_lots": "0.10"}


def generate(*, deposits: int, withdrawals: int, deals: int, clients: int, sign_ins: int) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Client
    from audit.context import Actor, acting_as
    from bench.ledger import _approved_client, _staff
    from payments.services.ledger import wallet_for

    started = time.monotonic()
    with acting_as(Actor.system("bench")):
        template = _approved_client(990_001, _staff("support"), _staff("compliance"))
    with acting_as(Actor.system("bench")), transaction.atomic():
        wallet = wallet_for(client=template, currency=template.base_currency)
    account = template.trading_accounts.order_by("id").first()
    assert account is not None
    now = timezone.now()
    start = now - timedelta(days=30) + timedelta(minutes=5)
    with connection.cursor() as cursor:
        columns = [f.column for f in Client._meta.concrete_fields if f.column != "id"]
        for prefix, count in (("BR", clients), ("BRX", INJECTED)):
            special = {
                "reference": f"'{prefix}' || lpad(i::text, 9, '0')",
                "email": f"'bench-risk-{prefix}' || i || '@example.test'",
                "last_name": f"'Risk{prefix}' || i",
            }
            select = ", ".join(special.get(c, f"t.{c}") for c in columns)
            cursor.execute(
                f"INSERT INTO accounts_client ({', '.join(columns)}) SELECT {select}"
                " FROM accounts_client t CROSS JOIN generate_series(1, %s) i WHERE t.id = %s",
                [count, template.pk],
            )
        params: dict[str, Any] = {"start": start, "span": (now - start).total_seconds(), "wallet": wallet.pk,
                  "currency": template.base_currency, "deposits": deposits, "withdrawals": withdrawals,
                  "deals": deals, "account": account.pk, "sign_ins": sign_ins,
                  "home": str(template.country) if str(template.country) != "NG" else "GB"}  # fmt: skip
        cursor.execute(
            """
            WITH cs AS (SELECT array_agg(id ORDER BY id) AS ids FROM accounts_client WHERE reference LIKE 'BR0%%')
            INSERT INTO payments_deposit (reference, client_id, channel, amount, currency, status, payer_name,
                payer_account, review_reason, failure_code, failure_message, refund_reference, request_hash,
                provider, psp_intent_id, checkout_url, created_at, completed_at)
            SELECT 'BRD' || i, cs.ids[1 + (i::bigint * 7919) %% cardinality(cs.ids)], 'card',
                   100 + (i::bigint * 31) %% 4900, %(currency)s, 'credited', 'Bench payer',
                   'card_' || ((i::bigint * 7919) %% cardinality(cs.ids)), '', '', '', '', '', 'bench', '', '', x.at, x.at
            FROM generate_series(1, %(deposits)s) i, cs,
                 LATERAL (SELECT %(start)s + (i::float8 / %(deposits)s * %(span)s) * interval '1 second' AS at) x
            """,
            params,
        )
        cursor.execute(
            """
            WITH cs AS (SELECT array_agg(id ORDER BY id) AS ids FROM accounts_client WHERE reference LIKE 'BR0%%'),
            h AS (INSERT INTO payments_hold (account_id, amount, status, reason, created_at, closed_at)
                  SELECT %(wallet)s, 1, 'released', 'bench', now(), now() FROM generate_series(1, %(withdrawals)s)
                  RETURNING id),
            hn AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM h)
            INSERT INTO payments_withdrawal (reference, client_id, source_id, amount, currency, method, destination,
                destination_name, status, checks, flags, approval, hold_id, payout_key, voucher, reason_code,
                failure_code, request_hash, created_at)
            SELECT 'BRW' || hn.i, cs.ids[1 + (hn.i * 104729) %% cardinality(cs.ids)], %(wallet)s,
                   50 + (hn.i * 17) %% 2000, %(currency)s, 'card', 'card_bench', 'Bench payee', 'paid', '[]', '[]',
                   'auto', hn.id, gen_random_uuid(), '', '', '', '', x.at
            FROM hn, cs,
                 LATERAL (SELECT %(start)s + (hn.i::float8 / %(withdrawals)s * %(span)s) * interval '1 second' AS at) x
            """,
            params,
        )
        cursor.execute(
            "INSERT INTO ib_dealbatch (source, filename, raw, sha256, rows_total, rows_new, rows_duplicate,"
            " rows_rejected, rejections, received_by, received_at)"
            " VALUES ('csv', 'bench-risk', '', repeat('0', 64), 0, 0, 0, 0, '[]', 'bench', now()) RETURNING id"
        )
        params["batch"] = cursor.fetchone()[0]
        cursor.execute(
            """
            WITH cs AS (SELECT array_agg(id ORDER BY id) AS ids FROM accounts_client WHERE reference LIKE 'BR0%%')
            INSERT INTO ib_deal (deal_id, login, trading_account_id, client_id, symbol, side, lots, opened_at,
                                 closed_at, spread, commission, swap, profit, currency, batch_id, fingerprint, received_at)
            SELECT 'BRT' || i, '1', %(account)s, cs.ids[1 + (i::bigint * 6151) %% cardinality(cs.ids)],
                   (ARRAY['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD'])[1 + i %% 4], 'buy',
                   (1 + (i::bigint * 7919) %% 500) / 100.0, x.at - interval '20 minutes', x.at,
                   3.00, 1.00, 0, ((i::bigint * 37) %% 401) - 200, %(currency)s, %(batch)s, md5(i::text), now()
            FROM generate_series(1, %(deals)s) i, cs,
                 LATERAL (SELECT %(start)s + (i::float8 / %(deals)s * %(span)s) * interval '1 second' AS at) x
            """,
            params,
        )
        # the injected pattern: 5,000 in, 4,900 out an hour later, no trading
        cursor.execute(
            """
            WITH xs AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM accounts_client WHERE reference LIKE 'BRX%%'),
            d AS (INSERT INTO payments_deposit (reference, client_id, channel, amount, currency, status, payer_name,
                      payer_account, review_reason, failure_code, failure_message, refund_reference, request_hash,
                      provider, psp_intent_id, checkout_url, created_at, completed_at)
                  SELECT 'BRXD' || n, id, 'card', 5000, %(currency)s, 'credited', 'Bench payer', 'card_x' || n, '', '',
                         '', '', '', 'bench', '', '', %(start)s + n * interval '1 day', %(start)s + n * interval '1 day'
                  FROM xs RETURNING id),
            h AS (INSERT INTO payments_hold (account_id, amount, status, reason, created_at, closed_at)
                  SELECT %(wallet)s, 1, 'released', 'bench', now(), now() FROM xs RETURNING id),
            hn AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM h)
            INSERT INTO payments_withdrawal (reference, client_id, source_id, amount, currency, method, destination,
                destination_name, status, checks, flags, approval, hold_id, payout_key, voucher, reason_code,
                failure_code, request_hash, created_at)
            SELECT 'BRXW' || xs.n, xs.id, %(wallet)s, 4900, %(currency)s, 'card', 'card_x', 'Bench payee',
                   'under_review', '[]', '[]', 'finance', hn.id, gen_random_uuid(), '', '', '', '',
                   %(start)s + xs.n * interval '1 day' + interval '1 hour'
            FROM xs JOIN hn ON hn.n = xs.n
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO risk_position (trading_account_id, symbol, volume, margin, refreshed_at)
            SELECT %(account)s, s, v, 0, now() FROM (VALUES ('EURUSD', 12.5), ('GBPUSD', -4.0), ('XAUUSD', 3.0)) t(s, v)
            ON CONFLICT DO NOTHING
            """,
            params,
        )
        # FX: one rate a day of the deposits' currency against USD (none needed when it is USD)
        cursor.execute(
            """
            INSERT INTO payments_fxrate (base, quote, rate, as_of, source)
            SELECT %(currency)s, 'USD', 1.05 + (d %% 7) / 100.0, %(start)s - interval '1 day' + d * interval '1 day',
                   'bench'
            FROM generate_series(0, 31) d WHERE %(currency)s <> 'USD'
            ON CONFLICT DO NOTHING
            """,
            params,
        )
        # sign-ins: each client from its own IP address and device, placed in the country it lives in.
        # Every 50 clients form a household: the 2nd signs in from the 1st's IP address and device,
        # the 3rd from its IP address only (another device), the 4th on its device only (another
        # address), so each household is one hit of the IP rule and one of the device rule. One
        # client in 100 travels: its sign-ins are placed in five countries in turn (its n-th visit in the
        # n-th: a client is picked by every i = i0 + n x clients, so i alone would repeat). About one
        # sign-in in 23 fails (by its number i: 23 shares no factor with 20,000 or 400 clients, so no
        # client fails every time, as every 20th did when the failures were i % 20 and 20 divided it).
        cursor.execute(
            """
            WITH cs AS (SELECT array_agg(id ORDER BY id) AS ids FROM accounts_client WHERE reference LIKE 'BR0%%')
            INSERT INTO accounts_clientsignin (client_id, at, outcome, failure_reason, ip_address, country,
                                               user_agent, device_id, device_source, received_at, reported_by)
            SELECT cs.ids[1 + kk.m], x.at, CASE WHEN i %% 23 = 0 THEN 'failed' ELSE 'succeeded' END,
                   CASE WHEN i %% 23 = 0 THEN 'wrong_password' ELSE '' END,
                   ('10.' || (kk.ip / 65536) || '.' || (kk.ip / 256 %% 256) || '.' || (kk.ip %% 256))::inet,
                   CASE WHEN kk.m %% 100 = 7 THEN (ARRAY['DE', 'FR', 'NG', 'VN', 'BR'])[1 + i / cardinality(cs.ids) %% 5]
                        ELSE %(home)s END,
                   'bench browser', 'bench-fp-' || kk.device, 'fingerprint', x.at, 'bench'
            FROM generate_series(1, %(sign_ins)s) i, cs,
                 LATERAL (SELECT i::bigint * 7919 %% cardinality(cs.ids) AS m) mm,
                 LATERAL (SELECT mm.m,
                                 CASE WHEN mm.m %% 50 IN (1, 2) THEN mm.m - mm.m %% 50 ELSE mm.m END AS ip,
                                 CASE WHEN mm.m %% 50 IN (1, 3) THEN mm.m - mm.m %% 50 ELSE mm.m END AS device) kk,
                 LATERAL (SELECT %(start)s + (i::float8 / %(sign_ins)s * %(span)s) * interval '1 second' AS at) x
            """,
            params,
        )
        # a client in 50 signs in from a new device an hour before a withdrawal; every other one of
        # those from abroad
        cursor.execute(
            """
            INSERT INTO accounts_clientsignin (client_id, at, outcome, failure_reason, ip_address, country,
                                               user_agent, device_id, device_source, received_at, reported_by)
            SELECT w.client_id, w.created_at - interval '1 hour', 'succeeded', '',
                   ('172.' || (16 + w.id / 65536 %% 16) || '.' || (w.id / 256 %% 256) || '.' || (w.id %% 256))::inet,
                   CASE WHEN w.id %% %(abroad)s = 0 THEN 'NG' ELSE %(home)s END, 'bench browser',
                   'bench-new-' || w.id, 'fingerprint', now(), 'bench'
            FROM payments_withdrawal w WHERE w.reference LIKE 'BRW%%' AND w.id %% %(every)s = 0
            """,
            {"every": 50, "abroad": 100, "home": params["home"]},
        )
        cursor.execute("SELECT array_agg(id) FROM payments_withdrawal WHERE reference LIKE 'BRXW%%'")
        injected = {f"withdrawal:{pk}" for pk in cursor.fetchone()[0]}
        cursor.execute(
            "VACUUM ANALYZE payments_deposit, payments_withdrawal, ib_deal, accounts_client, accounts_clientsignin,"
            " payments_fxrate"
        )
    return {"template": template, "account": account, "batch": params["batch"], "injected": injected,
            "seconds": time.monotonic() - started}  # fmt: skip


def _replay(data: dict[str, Any]) -> tuple[float, bool]:
    from django.utils import timezone

    from audit.context import Actor, acting_as
    from risk.models import RiskRule, RiskRuleVersion
    from risk.rules import hits, params_clean
    from risk.selectors import rule_backtest

    params = params_clean("deposit_then_withdrawal", PARAMS)
    end = timezone.now()
    started = time.monotonic()
    found = hits("deposit_then_withdrawal", params, start=end - timedelta(days=30), end=end)
    replay_seconds = time.monotonic() - started
    keys = {h.key for h in found}
    all_found = data["injected"] <= keys
    print(
        f"rule replay over 30 days: {len(found):,} hits in {replay_seconds:.1f} s;"
        f" the {len(data['injected'])} injected patterns {'all found' if all_found else 'NOT all found'}",
        flush=True,
    )
    with acting_as(Actor.system("bench")):
        rule, _ = RiskRule.objects.get_or_create(
            code="BENCH-DTW", defaults={"name": "Bench quick exit", "kind": "deposit_then_withdrawal"}
        )
        if not rule.versions.exists():
            RiskRuleVersion.objects.create(rule=rule, number=1, params=params, valid_from=end - timedelta(days=60))
    started = time.monotonic()
    backtest = rule_backtest(rule, params_clean("deposit_then_withdrawal", {**PARAMS, "min_pct": 90}))
    print(
        f"the checker's backtest (proposed 90% beside the version in force 80%, with precision):"
        f" {backtest.proposed_count:,} vs {backtest.current_count:,} alerts in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return replay_seconds, all_found


OTHER_KINDS = (
    ("structuring", {"direction": "deposit", "threshold": "5000", "band_pct": 10, "min_count": 3, "window_days": 7,
                     "currency": "USD"}),
    ("linked_ip", {"min_clients": 2, "window_days": 30}),
    ("linked_device", {"min_clients": 2, "window_days": 30}),
    ("new_device_withdrawal", {"within_hours": 24, "history_days": 90, "min_amount": "100", "currency": "USD"}),
    ("sign_in_many_countries", {"min_countries": 3, "window_hours": 168}),
    ("sign_in_country_withdrawal", {"within_hours": 24, "min_amount": "100", "currency": "USD"}),
)  # fmt: skip
HOUSEHOLD = 50


def _other_kinds(clients: int) -> bool:
    """Each kind's replay over the 30 days; True when the linked rules found every household (a
    group of three clients on one IP address, and one on one device, per ``HOUSEHOLD`` clients)."""
    from django.utils import timezone

    from risk.rules import hits, params_clean

    households = sum(1 for m in range(0, clients, HOUSEHOLD) if m + 3 < clients)
    end = timezone.now()
    linked_ok = True
    for kind, raw in OTHER_KINDS:
        started = time.monotonic()
        found = hits(kind, params_clean(kind, raw), start=end - timedelta(days=30), end=end)
        seconds = time.monotonic() - started
        note = ""
        if kind in ("linked_ip", "linked_device"):
            sizes = sorted({len(h.evidence) for h in found})
            ok = len(found) == households and sizes == [3]
            linked_ok = linked_ok and ok
            note = f" ({households:,} households of 3 clients expected: {'all found' if ok else 'NOT as expected'})"
        print(f"{kind} replayed over 30 days: {len(found):,} hits in {seconds:.1f} s{note}", flush=True)
    return linked_ok


def _stream(data: dict[str, Any], seconds: int) -> tuple[float, float]:
    from django.db import connection, transaction

    from risk.selectors import dashboard

    latencies, lags = [], []
    first = 10_000_000
    before = sum(t["deals"] for t in dashboard()["pnl"]["totals"])
    started = time.monotonic()
    for n in range(seconds):
        due = started + n
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        arrived = time.monotonic()
        lags.append(max(0.0, arrived - due))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO ib_deal (deal_id, login, trading_account_id, client_id, symbol, side, lots, opened_at,
                                     closed_at, spread, commission, swap, profit, currency, batch_id, fingerprint,
                                     received_at)
                SELECT 'BRS' || i, '1', %(account)s, %(client)s, (ARRAY['EURUSD', 'GBPUSD', 'XAUUSD'])[1 + i %% 3],
                       'sell', 0.10, now() - interval '1 minute', now(), 1.00, 0.50, 0, (i %% 21) - 10,
                       %(currency)s, %(batch)s, md5('s' || i), now()
                FROM generate_series(%(lo)s, %(hi)s) i
                """,
                {"account": data["account"].pk, "client": data["template"].pk, "batch": data["batch"],
                 "currency": data["template"].base_currency, "lo": first + n * BATCH,
                 "hi": first + (n + 1) * BATCH - 1},
            )  # fmt: skip
        figures = dashboard()
        latencies.append(time.monotonic() - arrived)
        seen = sum(t["deals"] for t in figures["pnl"]["totals"])
        assert seen == before + (n + 1) * BATCH, (seen, before, n)
    # a batch arrives every second; a batch that could not start on time means the pace was not kept
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[-1] if len(latencies) >= 2 else latencies[0]
    print(
        f"{seconds} batches of {BATCH:,} deals, one a second: deal-to-dashboard median"
        f" {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms;"
        f" latest start behind its second {max(lags) * 1000:.0f} ms",
        flush=True,
    )
    return p95, max(lags)


def run(*, quick: bool = False) -> bool:
    sizes = (
        (QUICK_DEPOSITS, QUICK_WITHDRAWALS, QUICK_DEALS, QUICK_CLIENTS, QUICK_STREAM_SECONDS, QUICK_SIGN_INS)
        if quick
        else (DEPOSITS, WITHDRAWALS, DEALS, CLIENTS, STREAM_SECONDS, SIGN_INS)
    )
    deposits, withdrawals, deals, clients, seconds, sign_ins = sizes
    data = generate(deposits=deposits, withdrawals=withdrawals, deals=deals, clients=clients, sign_ins=sign_ins)
    print(
        f"generated {deposits + withdrawals + 2 * INJECTED:,} transactions ({deposits:,} deposits,"
        f" {withdrawals:,} withdrawals), {deals:,} deals and {sign_ins:,} sign-ins of {clients:,} clients over 30 days"
        f" in {data['seconds']:.1f} s",
        flush=True,
    )
    replay_seconds, all_found = _replay(data)
    linked_ok = _other_kinds(clients)
    p95, lag = _stream(data, seconds)
    kept_pace = lag < 0.5
    met = replay_seconds <= GOAL_REPLAY_SECONDS and p95 <= GOAL_P95_SECONDS and all_found and kept_pace and linked_ok
    print(
        f"goals: replay <= {GOAL_REPLAY_SECONDS:.0f} s ({replay_seconds:.1f} s), deal-to-dashboard p95 <="
        f" {GOAL_P95_SECONDS:.0f} s ({p95:.2f} s) at 1,000 deals/s (pace kept: {kept_pace}), injected patterns"
        f" found ({all_found}), every household linked ({linked_ok}): {'MET' if met else 'NOT MET'}",
        flush=True,
    )
    return met
