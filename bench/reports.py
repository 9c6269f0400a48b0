"""The reports at scale: every report family built on a database holding 1,000,000 postings,
100,000 clients, 1,000,000 deals and 1,000,000 audit events (``--scale`` shrinks every size; the
quick run uses 1 %), then a 1,000,000-row CSV export.

1. Load, with SQL (``generate_series``; triggers skipped as the ledger bench does when the
   connection is a superuser): the clients (spread over 180 days, half of them with an approval in
   the audit trail), their wallets and trading accounts, card deposits (a journal entry of two
   postings each: the wallet credited, a clearing account debited) and their deposit rows, deals
   over the trading accounts, and the rest of the audit events spread over staff actions.
2. Each family's report (``reporting.reports.report_build``, default filters: the last 90 days)
   built REPEATS times: its p95 beside the p95 of the bare SQL aggregate it stands on (its main
   figure's GROUP BY, no Python). Goal: p95 <= 1 s and <= 3x the bare aggregate.
3. The permissions report's dataset widened to every audit event exported as CSV by a child
   process (``reporting.exports.csv_stream``, written to /dev/null): seconds and the child's peak
   memory (ru_maxrss). Goal: AUDIT rows in <= 60 s, peak <= 300 MB.

    python -m bench reports [--quick]
    python -m bench.reports [--scale 0.1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from typing import Any

TITLE = (
    "reports: each report's p95 beside its bare SQL aggregate at 1M postings/deals/audit events; a 1M-row CSV export"
)

CLIENTS, POSTINGS, DEALS, AUDIT = 100_000, 1_000_000, 1_000_000, 1_000_000
QUICK_SCALE = 0.01
REPEATS, QUICK_REPEATS = 5, 2
GOAL_P95, GOAL_RATIO, GOAL_EXPORT_S, GOAL_EXPORT_MB = 1.0, 3.0, 60.0, 300.0
CHUNK = 50_000

BARE: dict[str, str] = {
    "accounts": """SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM audit_auditevent e
        WHERE e.subject_type = 'accounts.client' AND e.subject_id = c.id::text AND e.action = 'client.approved'))
        FROM accounts_client c WHERE c.created_at >= now() - interval '90 days'""",
    "payments": """SELECT p.currency, sum(p.amount) FROM payments_posting p
        JOIN payments_journalentry e ON e.id = p.entry_id JOIN payments_ledgeraccount a ON a.id = p.account_id
        WHERE a.kind IN ('client_wallet', 'trading') AND e.kind IN ('deposit', 'deposit_release', 'withdrawal')
        AND e.created_at >= now() - interval '90 days' GROUP BY p.currency""",
    "compliance": """SELECT rejection_reason, count(*) FROM kyc_document
        WHERE uploaded_at >= now() - interval '90 days' GROUP BY rejection_reason""",
    "permissions": """SELECT actor_label, action, count(*) FROM audit_auditevent
        WHERE occurred_at >= now() - interval '90 days' AND (action LIKE 'staff.%%' OR action LIKE 'queue.%%')
        GROUP BY actor_label, action""",
    "partners": """SELECT date_trunc('month', earned_on), level, currency, sum(amount) FROM ib_commissionline
        WHERE earned_on >= current_date - 90 GROUP BY 1, 2, 3""",
    "operations": """SELECT q.name, count(*) FROM ops_workitem w JOIN ops_queue q ON q.id = w.queue_id
        WHERE w.status <> 'resolved' GROUP BY q.name""",
    "balances": """SELECT a.kind, p.currency, sum(p.amount) FROM payments_posting p
        JOIN payments_ledgeraccount a ON a.id = p.account_id JOIN payments_journalentry e ON e.id = p.entry_id
        WHERE e.created_at < now() GROUP BY a.kind, p.currency""",
}

CLIENTS_SQL = """
INSERT INTO accounts_client (reference, kind, status, first_name, last_name, date_of_birth, nationality,
    legal_name, registration_number, country, address_line, city, postcode, email, phone, segment, tags,
    account_manager_id, risk_level, source_of_funds, account_type_id, base_currency, created_at, status_changed_at)
SELECT 'B' || lpad(g::text, 9, '0'), 'individual', CASE WHEN g %% 2 = 0 THEN 'approved' ELSE 'registered' END,
    'Bench', 'Client ' || g, date '1980-01-01' + (g %% 9000), 'GB', '', '',
    (ARRAY['GB','DE','FR','ES','SG','AE','US','AU'])[1 + g %% 8], '', '', '', 'bench' || g || '@bench.invalid',
    '+44' || lpad(g::text, 10, '0'), 'retail', '{}', %(manager)s,
    (ARRAY['low','low','medium','high'])[1 + g %% 4], 'salary', %(type)s, 'EUR',
    now() - ((g %% 180) || ' days')::interval, now()
FROM generate_series(%(first)s, %(last)s) AS g
"""
ACCOUNTS_SQL = [
    """INSERT INTO accounts_tradingaccount (client_id, account_type_id, currency, leverage, platform_group, status,
         login, provision_key, provision_error, created_at, book)
       SELECT id, account_type_id, 'EUR', 100, 'bench', 'active', 'B' || id, gen_random_uuid(), '', created_at, 'b'
       FROM accounts_client WHERE reference LIKE 'B0%%'""",
    """INSERT INTO payments_ledgeraccount (code, kind, currency, name, client_id, external_ref, created_at)
       SELECT 'bench:wallet:' || id, 'client_wallet', 'EUR', 'bench wallet', id, '', now()
       FROM accounts_client WHERE reference LIKE 'B0%%'""",
    """INSERT INTO payments_balance (account_id, currency, ledger, held, non_negative, sign, postings_count, updated_at)
       SELECT id, 'EUR', 0, 0, false, -1, 0, now() FROM payments_ledgeraccount WHERE code LIKE 'bench:wallet:%%'""",
    """INSERT INTO ib_dealbatch (source, filename, raw, sha256, rows_total, rows_new, rows_duplicate, rows_rejected,
         rejections, received_by, received_at)
       VALUES ('file', 'bench.csv', '', repeat('0', 64), 0, 0, 0, 0, '[]', 'bench', now())""",
]
ENTRIES_SQL = """
WITH entry AS (
    INSERT INTO payments_journalentry (idempotency_key, request_hash, kind, memo, source, actor_label, created_at)
    SELECT 'bench-report:' || g, '', 'deposit', 'bench deposit', 'bench', 'system:bench',
           now() - ((g %% 180) || ' days')::interval - ((g %% 86400) || ' seconds')::interval
    FROM generate_series(%(first)s, %(last)s) AS g RETURNING id, created_at)
INSERT INTO payments_posting (entry_id, account_id, currency, amount)
SELECT entry.id, CASE WHEN line.sign < 0 THEN %(wallet)s + entry.id %% %(clients)s ELSE %(clearing)s END, 'EUR',
       line.sign * (100 + entry.id %% 900)
FROM entry CROSS JOIN (VALUES (-1), (1)) AS line(sign)
"""
DEPOSITS_SQL = """
INSERT INTO payments_deposit (reference, client_id, channel, amount, currency, status, payer_name, payer_account,
    review_reason, failure_code, failure_message, refund_reference, request_hash, provider, psp_intent_id,
    checkout_url, created_at, completed_at)
SELECT 'BD' || g, %(client)s + g %% %(clients)s, 'card', 100 + g %% 900, 'EUR',
       CASE WHEN g %% 10 = 0 THEN 'failed' ELSE 'credited' END, '', '', '',
       CASE WHEN g %% 10 = 0 THEN 'card_declined' ELSE '' END, '', '', '', 'simpay', '', '',
       now() - ((g %% 180) || ' days')::interval, now() - ((g %% 180) || ' days')::interval
FROM generate_series(%(first)s, %(last)s) AS g
"""
DEALS_SQL = """
INSERT INTO ib_deal (deal_id, login, trading_account_id, client_id, symbol, side, lots, opened_at, closed_at, spread,
    commission, swap, profit, currency, batch_id, fingerprint, received_at)
SELECT 'BDEAL' || g, 'B' || t.client_id, t.id, t.client_id, 'EURUSD', 'buy', 1,
       now() - ((g %% 180) || ' days')::interval - interval '1 hour', now() - ((g %% 180) || ' days')::interval,
       0, 0, 0, 0, 'EUR', %(batch)s, '', now()
FROM generate_series(%(first)s, %(last)s) AS g
JOIN accounts_tradingaccount t ON t.id = %(account)s + g %% %(clients)s
"""
AUDIT_SQL = """
INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, subject_type, subject_id, before,
    after, reason, request_id)
SELECT now() - ((g %% 180) || ' days')::interval, 'staff', '1', (ARRAY['admin','admin2','finance','compliance'])[1 + g %% 4],
       CASE WHEN g %% 2 = 0 THEN 'client.approved' WHEN g %% 7 = 0 THEN 'staff.role_granted'
            WHEN g %% 5 = 0 THEN 'client.updated' ELSE 'work_item.claimed' END,
       CASE WHEN g %% 2 = 0 THEN 'accounts.client' ELSE 'ops.workitem' END,
       (%(client)s + (g / 2) %% %(clients)s)::text, '{"field": "before"}', '{"field": "after"}', 'bench', ''
FROM generate_series(%(first)s, %(last)s) AS g
"""


def _superuser() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def _chunks(sql: str, total: int, params: dict[str, Any]) -> None:
    from django.db import connection, transaction

    skip = _superuser()
    for first in range(1, total + 1, CHUNK):
        with transaction.atomic(), connection.cursor() as cursor:
            if skip:  # append-only and balanced-entry triggers (the loaded entries balance by construction)
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql, {**params, "first": first, "last": min(total, first + CHUNK - 1)})


def _one(sql: str) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, [])
        return cursor.fetchone()[0]


def load(*, scale: float) -> dict[str, int]:
    """Load the bench data once per database (a second run finds it and loads nothing)."""
    from django.db import connection, transaction

    from accounts.models import AccountType, Client
    from ops.models import User
    from payments.services.ledger import psp_clearing_account

    sizes = {
        "clients": max(100, int(CLIENTS * scale)),
        "postings": max(200, int(POSTINGS * scale)),
        "deals": max(100, int(DEALS * scale)),
        "audit": max(100, int(AUDIT * scale)),
    }
    if Client.objects.filter(reference__startswith="B0").exists():
        return sizes
    started = time.monotonic()
    manager = User.objects.filter(is_active=True).order_by("id").first() or User.objects.create(
        username="bench-manager"
    )
    account_type = AccountType.objects.get(code="standard")
    with transaction.atomic():
        clearing = psp_clearing_account("EUR", "simpay")
    _chunks(CLIENTS_SQL, sizes["clients"], {"manager": manager.pk, "type": account_type.pk})
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in ACCOUNTS_SQL:
            cursor.execute(sql, [])  # with parameters, so that %% is a literal %
    first_client = _one("SELECT min(id) FROM accounts_client WHERE reference LIKE 'B0%%'")
    first_wallet = _one("SELECT min(id) FROM payments_ledgeraccount WHERE code LIKE 'bench:wallet:%%'")
    first_account = _one("SELECT min(id) FROM accounts_tradingaccount WHERE platform_group = 'bench'")
    batch = _one("SELECT max(id) FROM ib_dealbatch WHERE received_by = 'bench'")
    n = sizes["clients"]
    _chunks(ENTRIES_SQL, sizes["postings"] // 2, {"wallet": first_wallet, "clients": n, "clearing": clearing.pk})
    _chunks(DEPOSITS_SQL, sizes["postings"] // 2, {"client": first_client, "clients": n})
    _chunks(DEALS_SQL, sizes["deals"], {"batch": batch, "account": first_account, "clients": n})
    _chunks(AUDIT_SQL, sizes["audit"], {"client": first_client, "clients": n})
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE payments_balance b SET ledger = -s.total, postings_count = s.n FROM
               (SELECT account_id, sum(amount) AS total, count(*) AS n FROM payments_posting GROUP BY account_id) s
               WHERE b.account_id = s.account_id AND b.account_id >= %s""",
            [first_wallet],
        )
        cursor.execute(
            "VACUUM ANALYZE accounts_client, payments_posting, payments_journalentry, payments_deposit, ib_deal,"
            " audit_auditevent, payments_ledgeraccount, accounts_tradingaccount"
        )
    print(f"  loaded {sizes} in {time.monotonic() - started:.1f} s", flush=True)
    return sizes


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def measure(*, repeats: int) -> dict[str, tuple[float, float]]:
    """family -> (report p95, bare aggregate p95), seconds."""
    from django.db import connection

    from reporting.families import FAMILIES
    from reporting.filters import ReportFilter, filters_from
    from reporting.reports import report_build
    from reporting.routers import reporting_reads

    out = {}
    for family in FAMILIES:
        report_times, bare_times = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            with reporting_reads():
                bar = ReportFilter({})
                bar.is_valid()
                report = report_build(family, filters_from(bar))
                if report.dataset is not None:  # the page's first rows and count, as the page reads them
                    report.dataset.head()
                    report.dataset.count()
            report_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(BARE[family], [])
                cursor.fetchall()
            bare_times.append(time.perf_counter() - started)
        out[family] = (_p95(report_times), _p95(bare_times))
    return out


def export_child() -> None:
    """In a child process: every audit event through the permissions dataset's shape, as CSV."""
    from bench import setup_django

    setup_django()
    from audit.models import AuditEvent
    from reporting.exports import csv_stream
    from reporting.reports import Dataset

    dataset = Dataset(
        "audit events", ["When", "Staff member", "Operation", "Subject", "Before", "After", "Reason"],
        [(AuditEvent.objects.order_by("id"), lambda e: [e.occurred_at.isoformat(), e.actor_label, e.action,
          f"{e.subject_type}:{e.subject_id}", e.before, e.after, e.reason])],
    )  # fmt: skip
    rows = -1
    started = time.monotonic()  # the stream itself, not the child's start and django.setup()
    with open(os.devnull, "w") as sink:
        for line in csv_stream(dataset):
            sink.write(line)
            rows += 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rows} {time.monotonic() - started:.3f} {peak_mb:.1f}")


def export() -> tuple[int, float, float]:
    """(rows, seconds streaming them, the child's peak memory in MB)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--export-child"], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[-3]), float(out[-2]), float(out[-1])


def run(*, quick: bool, scale: float | None = None, repeats: int | None = None) -> bool:
    from audit.context import Actor, acting_as

    scale = scale if scale is not None else (QUICK_SCALE if quick else 1.0)
    repeats = repeats or (QUICK_REPEATS if quick else REPEATS)
    with acting_as(Actor.system("bench")):
        load(scale=scale)
    results = measure(repeats=repeats)
    met = True
    print(
        f"  {'report':<12} {'p95':>9} {'bare SQL p95':>13} {'ratio':>7}  goal (<= {GOAL_P95:.0f} s, <= {GOAL_RATIO:.0f}x)"
    )
    for family, (report, bare) in results.items():
        ratio = report / bare if bare else float("inf")
        ok = report <= GOAL_P95 and ratio <= GOAL_RATIO
        met &= ok
        print(
            f"  {family:<12} {report * 1000:>7.1f}ms {bare * 1000:>11.1f}ms {ratio:>6.1f}x  {'met' if ok else 'NOT MET'}"
        )
    rows, seconds, peak = export()
    ok = seconds <= GOAL_EXPORT_S * rows / AUDIT and peak <= GOAL_EXPORT_MB  # the goal's rate, at the run's size
    met &= ok
    print(
        f"  CSV export: {rows:,} rows in {seconds:.1f} s (goal {GOAL_EXPORT_S:.0f} s per 1,000,000 rows), "
        f"peak memory {peak:.0f} MB (goal <= {GOAL_EXPORT_MB:.0f} MB): {'met' if ok else 'NOT MET'}"
    )
    return met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports")
    parser.add_argument("--scale", type=float, default=None, help="fraction of the issue's sizes (default 1.0)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--export-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.export_child:
        export_child()
        return 0
    from bench import setup_django

    setup_django()
    return 0 if run(quick=args.quick, scale=args.scale, repeats=args.repeats) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
