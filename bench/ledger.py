"""What the ledger sustains, measured against the database's own yardstick, and what a balance read
costs when an account has a long history.

1. Ledger throughput, two ways, each by N worker processes (``multiprocessing`` 'spawn', each with its
   own ``django.setup()`` and database connection) for T seconds, as ``Actor.system("bench")``:
   (a) one callback at a time, as ``WEBHOOK_APPLY=inline`` applies them: ``deposit_initiate`` (its
   own transaction), then in one ``transaction.atomic()`` the deposit locked and ``deposit_receive``
   (a journal entry and its postings, both balances, the deposit's status and history row, the audit
   events, the client's notification record). Each worker has its own approved client.
   (b) the inbox, as ``WEBHOOK_APPLY=queued`` (the default) applies them - judged: first (untimed)
   deposits are initiated over INBOX_CLIENTS clients and each one's verified ``payment.succeeded``
   callback is stored in the inbox, bulk-inserted with their history rows; then the workers drain it
   through ``inbound_events_drain`` (the service the worker task calls), DRAIN_BATCH callbacks per
   transaction: each deposit gets the same journal entry, postings, balance changes, status and
   history row, audit events and notification record as in (a), and each callback its status and
   history row. A deposit counts when its batch commits inside the window (after a warm-up). The
   inbox must not run dry before the window ends (the run fails if it does).
   All deposits go through the one SimPay clearing account, whose balance is spread over bucket rows
   (``payments.models.BalanceBucket``); a batch also locks the wallets it credits until it commits,
   and with INBOX_CLIENTS wallets concurrent batches share most of them. While (b) runs, the
   database's sessions are sampled: the share of the drains' time spent waiting for a row lock, and
   for the WAL (commits), is printed with the figure. Notifications are recorded and queued to the
   broker the bench provides (the embedded Redis); no Celery worker sends them.
2. pgbench's built-in TPC-B-like workload (``pgbench -i -s N``, then ``-c N -j N -T T -n``) on the
   same Postgres, in the same database (its own ``pgbench_*`` tables), same client count and
   duration: what the database does when there is no Python and no business logic.
3. The ratio of (b) to pgbench (that of (a) is printed too). Goal: ledger tps / pgbench tps >= 0.5.
4. Balance reads. One wallet gets 1,000,000 postings (balanced entries against a bench-only clearing
   account, bulk-loaded with SQL; with triggers skipped via ``session_replication_role = replica``
   when the connection is a superuser, the embedded Postgres's ``postgres`` is) and its maintained
   balance row is set from them; another wallet has 10 postings made through the service. Then
   ``balance_of()`` on each, interleaved, READS times. Goal: p95 < 2 ms on both, i.e. the read does
   not depend on the history. ``ledger_verify()`` is then timed once over the whole ledger and must
   report no break (it proves the bulk load consistent).

Before timing, one process credits the small wallet's 10 deposits under ``CaptureQueriesContext``:
the queries (audit INSERTs and the clearing bucket's UPDATE among them), audit events, database and
CPU time per deposit are printed as the profile of one deposit.

Goal: both of the above (ratio >= 0.5 and balance-read p95 < 2 ms). A goal missed is printed with
how far off it is.

    python -m bench ledger [--quick]
    python -m bench.ledger [--workers N] [--seconds S] [--postings P] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from accounts.models import Client
    from ops.models import User
    from payments.models import LedgerAccount

TITLE = (
    "ledger: card deposits credited per second through the service layer vs pgbench TPC-B; balance reads at 1M postings"
)

WORKERS, QUICK_WORKERS = 8, 2  # worker processes = pgbench clients
SECONDS, QUICK_SECONDS = 20.0, 2.0
WARMUP, QUICK_WARMUP = 2.0, 0.5  # ledger only: pgbench excludes its connection time itself
POSTINGS = 1_000_000  # on the one big wallet: the figure the goal is about
QUICK_POSTINGS = 20_000  # a smoke test, not the figure
SMALL_POSTINGS = 10  # on the small wallet: deposits made through the service (the profiled ones)
READS, QUICK_READS = 2_000, 100
READ_WARMUP = 200
BULK_CHUNK = 200_000  # journal entries per INSERT
GOAL_RATIO = 0.5
GOAL_P95_MS = 2.0
AMOUNT, CURRENCY = "10.00", "EUR"

DRAIN_BATCH = 200  # callbacks a drain worker applies per transaction
INBOX_CLIENTS, QUICK_INBOX_CLIENTS = 64, 8  # the inbox's deposits are spread over this many clients (wallets)
INBOX_RATE = 3_000  # callbacks preloaded per second of warm-up + window (the inbox must not run dry)
PRELOAD_CHUNK = 5_000

STARTUP_TIMEOUT = 180.0
GRACE = 60.0
ACTOR_JOB = "bench"

Message = tuple[str, int, Any]  # (kind, worker index, payload)


# --- setup: staff and approved clients, as tests/factories.approved_client makes them ---------------


def _staff(role: str) -> User:
    from django.contrib.auth.models import Group

    from ops.models import User

    user, _ = User.objects.get_or_create(username=f"bench-{role}", defaults={"email": f"bench-{role}@example.test"})
    user.groups.set(Group.objects.filter(name=role))
    return User.objects.get(pk=user.pk)  # a fresh instance: no stale permission cache


def _approved_client(n: int, support: User, compliance: User) -> Client:
    """Registered, KYC documents accepted and a low risk assessment recorded, submitted and approved
    by a compliance officer. Its trading account is not provisioned (no platform call)."""
    import datetime

    from accounts.models import AccountType
    from accounts.services.clients import client_register, client_transition
    from kyc.models import Document, DocumentStatus, RiskAssessment
    from kyc.requirements import REQUIRED

    data: dict[str, Any] = {
        "country": "GB",
        "email": f"bench-client{n}@example.test",
        "phone": "+447911123456",
        "account_type": AccountType.objects.get(code="standard"),
        "base_currency": CURRENCY,
        "first_name": "Ada",
        "last_name": f"Benchmark{n}",
        "date_of_birth": datetime.date(1985, 12, 10),
        "nationality": "GB",
    }
    client = client_register(kind="individual", data=data, actor=support)
    for kind in REQUIRED[client.kind]:
        Document.objects.create(
            client=client, kind=kind, file=f"{client.pk}/{kind}", original_name=f"{kind}.pdf",
            content_type="application/pdf", size=1, sha256="0" * 64, status=DocumentStatus.ACCEPTED,
            uploaded_by="bench",
        )  # fmt: skip
    RiskAssessment.objects.create(client=client, score=0, level="low", edd_required=False, assessed_by="bench")
    client_transition(client_id=client.pk, name="submit_for_review", actor=None)
    client_transition(client_id=client.pk, name="approve", actor=compliance, reason="KYC complete")
    client.refresh_from_db()
    return client


def _notifications_mode() -> str:
    """Notifications are queued with ``.delay`` after commit. With a broker (``make bench`` starts an
    embedded Redis) that is what production does; without one ``.delay`` would block retrying, so
    the task is not queued at all (in each worker process only)."""
    from django.conf import settings

    if getattr(settings, "CELERY_BROKER_URL", "") or getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return "queued"
    from ops import tasks

    tasks.interaction_send_task.delay = lambda *args, **kwargs: None  # type: ignore[assignment]
    return "dropped"


# --- one deposit: what the PSP callback does -----------------------------------------------------


def _deposit(client: Client) -> Any:
    """Initiate a card deposit (its own transaction) and receive it (lock, credit): the callback's path."""
    from django.db import transaction

    from payments.models import Deposit
    from payments.services.deposits import deposit_initiate, deposit_receive
    from payments.services.ledger import psp_clearing_account

    deposit = deposit_initiate(client=client, channel="card", amount=AMOUNT, currency=CURRENCY)
    with transaction.atomic():
        # of=("self",): trading_account is nullable (an outer join), which FOR UPDATE cannot lock;
        # the PSP callback (payments.services.webhooks._apply) locks the same way.
        locked = (
            Deposit.objects.select_for_update(of=("self",))
            .select_related("client", "trading_account")
            .get(pk=deposit.pk)
        )
        deposit_receive(
            deposit=locked,
            source=psp_clearing_account(CURRENCY),
            external_id=f"pay_{locked.pk}",
            payer_name=client.display_name,
            payer_account="card_4242",
            amount=locked.amount,
        )
    return locked


# --- the PSP's callbacks, stored and waiting in the inbox -----------------------------------------


def _preload_inbox(clients: list[Client], n: int) -> float:
    """``n`` card deposits initiated (spread over ``clients``) and, for each, the PSP's verified
    ``payment.succeeded`` callback stored in the inbox, as ``inbound_event_store`` stores it: what
    the webhook endpoint leaves for the drain when callbacks arrive faster than they are applied.
    Bulk-inserted with their history rows (the deposits are not what is measured). Seconds taken."""
    from django.db import connection, transaction

    from audit.history import bulk_create_audited
    from payments.models import Deposit, InboundEvent
    from payments.services.ledger import request_hash
    from sim import simpay

    started = time.monotonic()
    run_tag = f"{os.getpid()}-{int(time.time())}"
    for first in range(0, n, PRELOAD_CHUNK):
        chunk = range(first, min(n, first + PRELOAD_CHUNK))
        with transaction.atomic():
            deposits = [
                Deposit(
                    reference=f"BI{i:08d}",
                    client=clients[i % len(clients)],
                    channel="card",
                    amount=AMOUNT,
                    currency=CURRENCY,
                    request_hash=request_hash({"bench": "inbox", "n": i}),
                )
                for i in chunk
            ]
            bulk_create_audited(deposits, Deposit)
            events = []
            for deposit in deposits:
                obj = {
                    "id": f"pay_bench_{deposit.reference}", "order_reference": deposit.reference, "amount": AMOUNT,
                    "currency": CURRENCY, "cardholder": deposit.client.display_name, "card_last4": "4242",
                    "card_fingerprint": f"card_4242_{deposit.client_id}",
                }  # fmt: skip
                evt = simpay.event("payment.succeeded", obj, event_id=f"evt_bench_{run_tag}_{deposit.reference}")
                events.append(
                    InboundEvent(
                        provider=simpay.PROVIDER,
                        event_id=evt["id"],
                        event_type=evt["type"],
                        object_id=obj["id"],
                        payload=evt,
                    )
                )
            bulk_create_audited(events, InboundEvent)
    with connection.cursor() as cursor:  # as autovacuum would, before anyone reads
        cursor.execute("VACUUM ANALYZE payments_deposit, payments_inboundevent")
    return time.monotonic() - started


# --- the worker processes ------------------------------------------------------------------------


def _worker_main(
    index: int,
    mode: str,  # "callback": one deposit at a time; "inbox": drain stored callbacks, DRAIN_BATCH at a time
    client_id: int,
    go: multiprocessing.synchronize.Event,
    start_at: Any,  # multiprocessing.Value('d'): wall-clock start of the warm-up
    window: tuple[float, float],  # (warm-up, seconds)
    results: multiprocessing.queues.Queue,  # of Message
    abort: multiprocessing.synchronize.Event,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    django_ready = False
    try:
        from bench import setup_django

        setup_django()
        django_ready = True
        from django.db import connection

        from accounts.models import Client
        from audit.context import Actor, acting_as
        from payments.models import DepositStatus
        from payments.services.webhooks import inbound_events_drain

        notifications = _notifications_mode()
        client = Client.objects.get(pk=client_id)
        connection.ensure_connection()
        results.put(("ready", index, notifications))
        while not go.wait(1.0):
            if abort.is_set():
                return
        warmup, seconds = window
        delay = start_at.value - time.time()
        if delay > 0:
            abort.wait(delay)
        begin = time.monotonic()
        measure_from, end = begin + warmup, begin + warmup + seconds
        counted = committed = 0
        busy = 0.0
        with acting_as(Actor.system(ACTOR_JOB)):
            while not abort.is_set():
                started = time.monotonic()
                if started >= end:
                    break
                if mode == "inbox":
                    n = inbound_events_drain(batch=DRAIN_BATCH, max_batches=1)
                    if n == 0:
                        raise RuntimeError("the inbox ran dry before the window ended: preload more callbacks")
                else:
                    deposit = _deposit(client)
                    if deposit.status != DepositStatus.CREDITED:
                        raise RuntimeError(f"deposit {deposit.reference} is {deposit.status}, not credited")
                    n = 1
                committed += n
                finished = time.monotonic()
                if measure_from <= finished < end:
                    counted += n
                    busy += finished - started
        results.put(("done", index, {"counted": counted, "committed": committed, "busy": busy}))
    except BaseException:
        results.put(("error", index, traceback.format_exc()))
    finally:
        if django_ready:
            from django.db import connections

            connections.close_all()


class Workers:
    def __init__(self, mode: str, client_ids: list[int], warmup: float, seconds: float) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.results: multiprocessing.queues.Queue = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.abort = self.ctx.Event()
        self.start_at = self.ctx.Value("d", 0.0)
        self.processes = [
            self.ctx.Process(
                target=_worker_main,
                args=(i, mode, cid, self.go, self.start_at, (warmup, seconds), self.results, self.abort),
                name=f"bench-ledger-{i}",
                daemon=True,
            )
            for i, cid in enumerate(client_ids)
        ]

    def collect(self, kind: str, deadline: float) -> dict[int, Any]:
        got: dict[int, Any] = {}
        while len(got) < len(self.processes):
            try:
                message_kind, index, payload = self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for i, p in enumerate(self.processes) if i not in got and not p.is_alive()]
                if dead:
                    names = ", ".join(f"{p.name} (exit code {p.exitcode})" for p in dead)
                    raise RuntimeError(f"worker process(es) died without reporting: {names}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out waiting for {kind!r} from the workers") from None
                continue
            if message_kind == "error":
                raise RuntimeError(f"worker {index} failed:\n{payload}")
            if message_kind != kind:
                raise RuntimeError(f"unexpected message {message_kind!r} from worker {index} (wanted {kind!r})")
            got[index] = payload
        return got

    def stop(self) -> None:
        self.abort.set()
        deadline = time.monotonic() + 10
        for p in self.processes:
            if p.pid is not None:
                p.join(max(0.1, deadline - time.monotonic()))
        for p in self.processes:
            if p.is_alive():
                print(f"  ! {p.name} did not stop; terminating it", flush=True)
                p.terminate()
                p.join(5)
        self.results.close()
        self.results.join_thread()


@dataclass
class LedgerResult:
    counted: int
    committed: int
    busy: float
    seconds: float
    notifications: str

    @property
    def tps(self) -> float:
        return self.counted / self.seconds


def _ledger_throughput(mode: str, client_ids: list[int], warmup: float, seconds: float) -> LedgerResult:
    workers = Workers(mode, client_ids, warmup, seconds)
    try:
        started = time.monotonic()
        for p in workers.processes:
            p.start()
        ready = workers.collect("ready", time.monotonic() + STARTUP_TIMEOUT)
        print(f"workers ready in {time.monotonic() - started:.1f} s", flush=True)
        workers.start_at.value = time.time() + 0.5
        workers.go.set()
        done = workers.collect("done", time.monotonic() + 0.5 + warmup + seconds + GRACE)
    finally:
        workers.stop()
    modes = set(ready.values())
    return LedgerResult(
        counted=sum(d["counted"] for d in done.values()),
        committed=sum(d["committed"] for d in done.values()),
        busy=sum(d["busy"] for d in done.values()),
        seconds=seconds,
        notifications=modes.pop() if len(modes) == 1 else "mixed",
    )


# --- what the drains wait for ----------------------------------------------------------------------


class WaitSampler:
    """Samples ``pg_stat_activity`` every 20 ms on its own connection while the workers run: of the
    client sessions that are busy, how many wait for a row lock (a wallet or a bucket another
    transaction holds) and how many for the WAL (commits). Shares of all busy samples."""

    SQL = (
        "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE state = 'active'"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()"
    )

    def __init__(self) -> None:
        import threading

        self.counts: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            while not self.stop.wait(0.02):
                for kind, event in conn.execute(self.SQL).fetchall():
                    self.counts["busy"] += 1
                    if kind == "Lock":
                        self.counts["lock"] += 1
                    elif (kind == "IO" and str(event).startswith("Wal")) or (kind == "LWLock" and event == "WALWrite"):
                        self.counts["wal"] += 1

    def __enter__(self) -> WaitSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def share(self, what: str) -> float:
        return self.counts[what] / self.counts["busy"] if self.counts["busy"] else float("nan")


# --- pgbench -------------------------------------------------------------------------------------


def _pgbench_binary() -> str | None:
    if os.environ.get("PGBIN"):
        candidate = Path(os.environ["PGBIN"]) / "pgbench"
        if candidate.exists():
            return str(candidate)
    return shutil.which("pgbench")


def _pg_target() -> tuple[str, str, str]:
    url = urlparse(os.environ["DATABASE_URL"])
    host = unquote(url.hostname or url.netloc.split("@")[-1])
    return host, unquote(url.username or "postgres"), url.path.lstrip("/")


@dataclass
class PgbenchResult:
    tps: float
    latency_ms: float
    transactions: int
    init_seconds: float


def _pgbench(pgbench: str, clients: int, seconds: float) -> PgbenchResult:
    host, user, dbname = _pg_target()
    base = [pgbench, "-h", host, "-U", user]
    started = time.monotonic()
    subprocess.run(
        [*base, "-i", "-q", "-s", str(clients), dbname], capture_output=True, text=True, check=True
    )  # fmt: skip
    init_seconds = time.monotonic() - started
    _checkpoint()
    out = subprocess.run(
        [*base, "-c", str(clients), "-j", str(clients), "-T", str(max(1, round(seconds))), "-n", dbname],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(r"tps = ([0-9.]+)", out)
    if tps is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    processed = re.search(r"number of transactions actually processed: ([0-9]+)", out)
    return PgbenchResult(
        tps=float(tps.group(1)),
        latency_ms=float(latency.group(1)) if latency else float("nan"),
        transactions=int(processed.group(1)) if processed else 0,
        init_seconds=init_seconds,
    )


def _checkpoint() -> None:
    """So that a checkpoint is less likely to land in a measured window (skipped where not allowed)."""
    from django.db import DatabaseError, connection

    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


# --- one deposit's profile -----------------------------------------------------------------------


def _statement_kind(sql: str) -> str:
    words = sql.lstrip().split(None, 1)
    return words[0].upper() if words else "?"


@dataclass
class Profile:
    deposits: int
    queries: int
    kinds: Counter[str]
    tables: Counter[str]
    db_seconds: float
    wall_seconds: float
    audit_events: int
    cpu_seconds: float  # this process's CPU time for the n deposits


def _profile_deposits(client: Client, n: int) -> Profile:
    """n deposits, one after another, in this process: queries, database time, CPU time, audit events."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.context import Actor, acting_as
    from audit.models import AuditEvent

    events_before = AuditEvent.objects.count()
    done = 0
    with acting_as(Actor.system(ACTOR_JOB)), CaptureQueriesContext(connection) as captured:
        started, cpu_started = time.monotonic(), time.process_time()
        for _ in range(n):
            _deposit(client)
            done += 1
        wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
    kinds: Counter[str] = Counter()
    tables: Counter[str] = Counter()
    db = 0.0
    for q in captured.captured_queries:
        sql = q["sql"]
        kinds[_statement_kind(sql)] += 1
        db += float(q["time"])
        match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', sql)
        if match:
            tables[match.group(1)] += 1
    return Profile(
        deposits=done,
        queries=len(captured.captured_queries),
        kinds=kinds,
        tables=tables,
        db_seconds=db,
        wall_seconds=wall,
        audit_events=AuditEvent.objects.count() - events_before,
        cpu_seconds=cpu,
    )


# --- the bulk-loaded wallet and the balance reads ------------------------------------------------


def _is_superuser() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


BULK_SQL = """
WITH entry AS (
    INSERT INTO payments_journalentry (idempotency_key, request_hash, kind, memo, source, actor_label, created_at)
    SELECT 'bench-bulk:' || %s || ':' || g, %s, 'deposit', 'bench bulk card deposit ' || g, 'bench.bulk:' || g,
           'system:bench', now()
    FROM generate_series(%s, %s) AS g
    RETURNING id
)
INSERT INTO payments_posting (entry_id, account_id, currency, amount)
SELECT entry.id, line.account_id, %s, line.sign * ((entry.id %% 1000) + 1)
FROM entry CROSS JOIN (VALUES (%s, -1), (%s, 1)) AS line(account_id, sign)
ORDER BY entry.id, line.sign
"""

BALANCES_FROM_POSTINGS_SQL = """
UPDATE payments_balance b SET ledger = b.sign * s.total, postings_count = s.n, updated_at = now()
FROM (SELECT account_id, SUM(amount) AS total, COUNT(*) AS n FROM payments_posting
      WHERE account_id IN (%s, %s) GROUP BY account_id) s
WHERE b.account_id = s.account_id
"""


def _bulk_load(wallet: LedgerAccount, counter: LedgerAccount, postings: int) -> tuple[float, bool]:
    """``postings`` card deposits into ``wallet`` from ``counter`` (a bench-only clearing account):
    one balanced entry of two postings each. Both accounts are new, so their balance rows are set
    to the sum and count of their postings. Returns (seconds, triggers skipped)."""
    from django.db import connection, transaction

    from payments.services.ledger import request_hash

    skip_triggers = _is_superuser()
    fingerprint = request_hash({"bench": "bulk"})
    started = time.monotonic()
    for first in range(1, postings + 1, BULK_CHUNK):
        last = min(postings, first + BULK_CHUNK - 1)
        with transaction.atomic(), connection.cursor() as cursor:
            if skip_triggers:  # the append-only, currency and balanced-entry triggers (checked by ledger_verify)
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(BULK_SQL, [wallet.pk, fingerprint, first, last, wallet.currency, wallet.pk, counter.pk])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(BALANCES_FROM_POSTINGS_SQL, [wallet.pk, counter.pk])
    with connection.cursor() as cursor:  # as autovacuum would, before anyone reads
        cursor.execute("VACUUM ANALYZE payments_journalentry, payments_posting, payments_balance")
    return time.monotonic() - started, skip_triggers


def _percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _time_reads(accounts: dict[str, LedgerAccount], reads: int) -> dict[str, list[float]]:
    """balance_of() on each account, interleaved (drift hits them alike); milliseconds, sorted."""
    from payments.services.ledger import balance_of

    for _ in range(READ_WARMUP):
        for account in accounts.values():
            balance_of(account)
    times: dict[str, list[float]] = {name: [] for name in accounts}
    for _ in range(reads):
        for name, account in accounts.items():
            started = time.perf_counter()
            balance_of(account)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: sorted(values) for name, values in times.items()}


# --- the run -------------------------------------------------------------------------------------


def run(
    *,
    quick: bool = False,
    workers: int | None = None,
    seconds: float | None = None,
    postings: int | None = None,
    inbox_rate: int = INBOX_RATE,
) -> bool:
    from django.db import connection
    from django.db.models import Sum

    from audit.context import Actor, acting_as
    from ops.roles import Role
    from payments.models import AccountKind, Deposit, DepositStatus
    from payments.services.ledger import balance_of, house_account, ledger_verify, psp_clearing_account, wallet_for

    workers = workers or (QUICK_WORKERS if quick else WORKERS)
    seconds = seconds or (QUICK_SECONDS if quick else SECONDS)
    warmup = QUICK_WARMUP if quick else WARMUP
    postings = postings or (QUICK_POSTINGS if quick else POSTINGS)
    reads = QUICK_READS if quick else READS
    inbox_count = QUICK_INBOX_CLIENTS if quick else INBOX_CLIENTS

    print(f"database: {connection.settings_dict['NAME']} (settings {os.environ.get('DJANGO_SETTINGS_MODULE', '?')})")
    print(f"machine:  {os.cpu_count()} CPUs; {workers} ledger workers / pgbench clients", flush=True)

    # setup (untimed): approved clients, their wallets, the shared clearing account
    started = time.monotonic()
    with acting_as(Actor.system(ACTOR_JOB)):
        support, compliance = _staff(Role.SUPPORT), _staff(Role.COMPLIANCE)
        clearing = psp_clearing_account(CURRENCY)  # first: the lowest account id, locked first
        clients = [_approved_client(n, support, compliance) for n in range(max(workers, inbox_count) + 2)]
        for client in clients:
            wallet_for(client=client, currency=CURRENCY)
    worker_clients, big_client, small_client = clients[:workers], clients[-2], clients[-1]
    inbox_clients = clients[:-2]
    print(f"setup: {len(clients)} approved clients with wallets in {time.monotonic() - started:.1f} s", flush=True)

    # the profile of one deposit (these are the small wallet's postings)
    profile = _profile_deposits(small_client, SMALL_POSTINGS)
    per = profile.deposits
    print(
        f"one deposit (initiate + receive, one process, {per} in a row): {profile.queries / per:g} queries "
        f"through Django ({', '.join(f'{k} {v / per:g}' for k, v in profile.kinds.most_common())}) "
        f"(of which {profile.audit_events / per:g} audit INSERTs); "
        f"{profile.wall_seconds / per * 1000:.1f} ms, of which {profile.db_seconds / per * 1000:.1f} ms "
        f"in the queries; {profile.cpu_seconds / per * 1000:.1f} ms of this process's CPU"
    )
    print(f"  tables touched per deposit: {', '.join(f'{t} {n / per:g}' for t, n in profile.tables.most_common())}")

    # 1. ledger throughput: (a) one callback at a time, (b) the inbox drained in batches
    _checkpoint()
    connection.close()  # the parent holds no connection while the workers run
    print(
        f"--- ledger (a), one callback at a time: {workers} workers each initiating and crediting card deposits, "
        f"{warmup:g} s warm-up + {seconds:g} s",
        flush=True,
    )
    single = _ledger_throughput("callback", [c.pk for c in worker_clients], warmup, seconds)
    notes = {
        "queued": "notifications recorded and queued to the broker (embedded Redis), not sent: no Celery worker",
        "dropped": "notifications recorded, not sent (no broker: interaction_send_task.delay stubbed in the workers)",
    }
    print(f"  {notes.get(single.notifications, single.notifications)}")
    credited = Deposit.objects.filter(client__in=worker_clients, status=DepositStatus.CREDITED).count()
    latency = single.busy / single.counted * 1000 if single.counted else float("nan")
    print(
        f"ledger (a): {single.counted} deposits credited in {seconds:g} s = {single.tps:.1f} tps, "
        f"mean latency {latency:.1f} ms (initiate + receive); {single.committed} in all, {credited} credited in the db",
        flush=True,
    )
    if credited != single.committed:
        raise RuntimeError(f"workers reported {single.committed} credited deposits, the database has {credited}")

    waiting = int(inbox_rate * (warmup + seconds))
    print(f"--- ledger (b), the inbox: preloading {waiting:,} stored payment.succeeded callbacks ...", flush=True)
    with acting_as(Actor.system(ACTOR_JOB)):
        took = _preload_inbox(inbox_clients, waiting)
    print(
        f"  {waiting:,} deposits initiated and their callbacks stored in {took:.1f} s (over {len(inbox_clients)} clients)"
    )
    _checkpoint()
    connection.close()
    print(
        f"--- ledger (b): {workers} workers draining the inbox, {DRAIN_BATCH} callbacks per transaction, "
        f"{warmup:g} s warm-up + {seconds:g} s",
        flush=True,
    )
    with WaitSampler() as waits:
        ledger = _ledger_throughput("inbox", [c.pk for c in worker_clients], warmup, seconds)
    drained = Deposit.objects.filter(reference__startswith="BI", status=DepositStatus.CREDITED).count()
    latency = ledger.busy / ledger.counted * DRAIN_BATCH * 1000 if ledger.counted else float("nan")
    print(
        f"ledger (b): {ledger.counted} deposits credited in {seconds:g} s = {ledger.tps:.1f} tps, mean "
        f"{latency:.0f} ms per batch of {DRAIN_BATCH}; {ledger.committed} in all, {drained} credited in the db",
        flush=True,
    )
    if drained != ledger.committed:
        raise RuntimeError(f"workers reported {ledger.committed} drained deposits, the database has {drained}")
    print(
        f"  the drains' statements seen running during (b) ({waits.counts['busy']} samples): "
        f"{waits.share('lock'):.0%} waiting for a row lock (wallets that concurrent batches share; clearing "
        f"buckets), {waits.share('wal'):.0%} for the WAL (commits), the rest working"
    )

    # 2. pgbench
    pgbench = _pgbench_binary()
    pg: PgbenchResult | None = None
    if pgbench is None:
        print("pgbench: skipped, no pgbench binary (PGBIN unset and none on PATH): the ratio cannot be judged")
    else:
        print(
            f"--- pgbench TPC-B-like: scale {workers}, {workers} clients, {workers} threads, {seconds:g} s", flush=True
        )
        pg = _pgbench(pgbench, workers, seconds)
        print(
            f"pgbench: {pg.transactions} transactions = {pg.tps:.1f} tps (without initial connection time), "
            f"latency average {pg.latency_ms:.2f} ms; init took {pg.init_seconds:.1f} s",
            flush=True,
        )

    # 4. balance reads at 1M postings
    with acting_as(Actor.system(ACTOR_JOB)):
        big = wallet_for(client=big_client, currency=CURRENCY)
        small = wallet_for(client=small_client, currency=CURRENCY)
        counter = house_account(AccountKind.PSP_CLEARING, CURRENCY, ref="bench-bulk")
    print(f"--- balance reads: bulk-loading {postings:,} postings into one wallet ...", flush=True)
    took, skipped = _bulk_load(big, counter, postings)
    how = "triggers skipped (session_replication_role = replica)" if skipped else "with triggers (not a superuser)"
    print(f"  loaded {postings:,} balanced entries ({2 * postings:,} postings) in {took:.1f} s, {how}")
    counts = {"big": balance_of(big).postings_count, "small": balance_of(small).postings_count}
    _checkpoint()
    times = _time_reads({"big": big, "small": small}, reads)
    p95s = []
    for name, account in (("big", big), ("small", small)):
        values = times[name]
        p50, p95, p99 = (_percentile(values, p) for p in (50, 95, 99))
        p95s.append(p95)
        print(
            f"balance_of {account.code} ({counts[name]:,} postings): {len(values)} reads, "
            f"p50 {p50:.3f} ms, p95 {p95:.3f} ms, p99 {p99:.3f} ms, max {values[-1]:.3f} ms"
        )
    verify_started = time.monotonic()
    report = ledger_verify()
    verify_took = time.monotonic() - verify_started
    status = "OK" if report.ok else f"{len(report.breaks)} BREAK(S): " + "; ".join(report.breaks[:5])
    print(
        f"ledger_verify: {report.entries:,} entries, {report.postings:,} postings, {report.accounts} accounts "
        f"in {verify_took:.1f} s: {status}"
    )
    clearing_balance = balance_of(clearing).ledger
    deposited = Deposit.objects.filter(status=DepositStatus.CREDITED).aggregate(s=Sum("amount"))["s"]
    print(f"clearing account {clearing.code}: {clearing_balance} = credited deposits {deposited}", end="")
    print(" (match)" if clearing_balance == deposited else " (MISMATCH)")

    # 3. and the goals
    ratio = ledger.tps / pg.tps if pg and pg.tps else float("nan")
    single_ratio = single.tps / pg.tps if pg and pg.tps else float("nan")
    ratio_met = pg is not None and ratio >= GOAL_RATIO
    read_met = max(p95s) < GOAL_P95_MS
    print()
    print(
        f"ledger tps (a):    {single.tps:.1f}  ({workers} workers, one callback per transaction)  ratio {single_ratio:.3f}"
    )
    print(
        f"ledger tps (b):    {ledger.tps:.1f}  ({workers} workers draining the inbox, deposits credited through the service layer)"
    )
    print(f"pgbench tps:       {pg.tps:.1f}  (TPC-B-like, {workers} clients)" if pg else "pgbench tps:       -")
    print(f"ratio (b, judged): {ratio:.3f}")
    if ratio_met:
        print(f"goal: ledger tps >= {GOAL_RATIO} x pgbench tps: MET")
    else:
        short = f"by {GOAL_RATIO - ratio:.3f} ({GOAL_RATIO * pg.tps - ledger.tps:.0f} tps)" if pg else "(no pgbench)"
        print(
            f"goal: ledger tps >= {GOAL_RATIO} x pgbench tps: NOT MET, {short}. Why, from this run: each batch "
            f"holds the wallets it credits until it commits, and {len(inbox_clients)} wallets are shared by every "
            f"batch (of the drains' statements seen running, {waits.share('lock'):.0%} were waiting for a row "
            f"lock, {waits.share('wal'):.0%} for the WAL); the rest is Python per deposit (see the profile above)"
        )
    print(
        f"goal: balance read p95 < {GOAL_P95_MS:g} ms at {counts['big']:,} postings "
        f"({p95s[0]:.3f} ms; {p95s[1]:.3f} ms at {counts['small']} postings): "
        + ("MET" if read_met else f"NOT MET, by {max(p95s) - GOAL_P95_MS:.3f} ms"),
        flush=True,
    )
    if not report.ok or clearing_balance != deposited:
        raise RuntimeError("the ledger is inconsistent after the benchmark (see above)")
    return ratio_met and read_met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=TITLE)
    parser.add_argument(
        "--workers", type=int, help=f"processes and pgbench clients (default {WORKERS}, quick {QUICK_WORKERS})"
    )
    parser.add_argument("--seconds", type=float, help=f"measured (default {SECONDS:g}, quick {QUICK_SECONDS:g})")
    parser.add_argument("--postings", type=int, help=f"on the big wallet (default {POSTINGS:,})")
    parser.add_argument("--inbox-rate", type=int, default=INBOX_RATE, help="callbacks preloaded per second run")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from bench import setup_django

    setup_django()
    print(TITLE, flush=True)
    run(
        quick=args.quick, workers=args.workers, seconds=args.seconds, postings=args.postings,
        inbox_rate=args.inbox_rate,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
