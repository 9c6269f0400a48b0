"""What one audit event costs the database alone, without Python: pgbench (the embedded Postgres's
own) runs the same service-style write as audit_throughput — lock the row, update it, append its
history row — with and without the audit trail's INSERT, 8 clients, on the same Postgres in the
same run. As ``audit_record`` does, the INSERT is one more ordinary statement of the transaction
(its own round trip).

It is the floor for audit_throughput's overhead: Python can add to the audit trail's cost, never
take away from it. audit_throughput measures it again in its own run and judges its goal against it
(at most 5 points above); run alone, this prints the pair and judges nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

TITLE = "audit_sql_floor: the audit INSERT's cost at the database alone (pgbench, no Python)"
CLIENTS = 8
SECONDS, QUICK_SECONDS = 10, 1

WRITE = """\\set aid random(1, 10000)
BEGIN;
SELECT balance FROM bench_floor_account WHERE id = :aid FOR UPDATE;
UPDATE bench_floor_account SET balance = balance + 1 WHERE id = :aid;
INSERT INTO bench_floor_history (account_id, balance, changed_at, actor) VALUES (:aid, 1, now(), 'system-bench');
{audit}END;
"""
AUDIT = (
    "INSERT INTO audit_auditevent (occurred_at, actor_kind, actor_id, actor_label, action, "
    "subject_type, subject_id, before, after, reason, request_id, ip) VALUES (statement_timestamp(), 'system', "
    "'bench', 'system-bench', 'bench.write', 'bench.account', CAST(:aid AS text), '{\"balance\": \"1.00\"}'::jsonb, "
    "'{\"balance\": \"2.00\"}'::jsonb, 'benchmark write', '', NULL);\n"
)


def _pgbench(script: str, seconds: int, host: str, dbname: str) -> float:
    pgbench = Path(os.environ["PGBIN"]) / "pgbench"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [str(pgbench), "-h", host, "-U", "postgres", "-n", "-M", "simple", "-c", str(CLIENTS), "-j", "2",
             "-T", str(seconds), "-f", fh.name, dbname],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(fh.name)
    match = re.search(r"tps = ([0-9.]+)", out)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    return float(match.group(1))


@dataclass
class Floor:
    tps_off: list[float]
    tps_on: list[float]
    seconds: int

    @property
    def ratio(self) -> float:
        return (sum(self.tps_on) / len(self.tps_on)) / (sum(self.tps_off) / len(self.tps_off))

    @property
    def overhead(self) -> float:
        return 1 - self.ratio


def measure(*, quick: bool = False) -> Floor | None:
    """The pgbench pair (off, on, off, on), or None without pgbench (PGBIN unset)."""
    from django.db import connection

    if "PGBIN" not in os.environ:
        return None
    url = urlparse(os.environ["DATABASE_URL"])
    host, dbname = unquote(url.hostname or url.netloc.split("@")[-1]), url.path.lstrip("/")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor_account, bench_floor_history")
        cursor.execute("CREATE TABLE bench_floor_account (id bigint PRIMARY KEY, balance numeric NOT NULL)")
        cursor.execute(
            "CREATE TABLE bench_floor_history (id bigserial PRIMARY KEY, account_id bigint NOT NULL,"
            " balance numeric NOT NULL, changed_at timestamptz NOT NULL, actor text NOT NULL)"
        )
        cursor.execute("INSERT INTO bench_floor_account SELECT g, 1000 FROM generate_series(1, 10000) g")
        cursor.execute("VACUUM ANALYZE bench_floor_account")
    connection.close()
    seconds = QUICK_SECONDS if quick else SECONDS
    floor = Floor([], [], seconds)
    for _ in range(2):  # off, on, off, on
        floor.tps_off.append(_pgbench(WRITE.format(audit=""), seconds, host, dbname))
        floor.tps_on.append(_pgbench(WRITE.format(audit=AUDIT), seconds, host, dbname))
    return floor


def print_floor(floor: Floor) -> None:
    off, on = floor.tps_off, floor.tps_on
    print(f"clients:           {CLIENTS} (pgbench), {floor.seconds} s per phase, phases off, on, off, on")
    print(f"tps off:           {sum(off) / len(off):.1f}   ({', '.join(f'{t:.0f}' for t in off)})")
    print(f"tps on:            {sum(on) / len(on):.1f}   ({', '.join(f'{t:.0f}' for t in on)})")
    print(f"ratio on/off:      {floor.ratio:.3f}  (the database's own share of audit_throughput's overhead)")
    print(f"overhead:          {floor.overhead * 100:.1f}%")


def run(*, quick: bool = False) -> bool | None:
    floor = measure(quick=quick)
    if floor is None:
        print("skipped: PGBIN is not set (run through `make bench`, which uses the embedded Postgres's pgbench)")
        return None
    print_floor(floor)
    return None
