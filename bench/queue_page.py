"""How fast the queue page answers with 100,000 open work items.

Seeds 100,000 open work items over the work queues (a realistic mix of risk levels, amounts at
stake, due times in the past and the future, a fifth of them owned) and ANALYZEs the tables it
filled, as autovacuum would (not the 14-row ops_queue, which autovacuum never reaches). Each item
has a subject of its own within its queue (one open item per subject and queue, as the database
requires), drawn from a pool of subjects shared by the queues; subjects that already have an open
item in a queue (left by another benchmark run before this one) are not drawn for that queue.
Then it requests the queue page (``ops.views.queue_view``) in-process with Django's test ``Client``
as a signed-in compliance officer (and, for one request kind, an administrator, who sees every
queue), the way operators use it: the default sort by urgency, one queue, the owner filter (mine,
unassigned), overdue, a priority band, a deep page, the other sorts, and "Next item" (the POST that
claims the most urgent unassigned item of their queues through ``work_item_claim_next``).
Request kinds are interleaved round-robin after a warm-up so that drift hits them all alike. The
time is the whole request through the middleware, the view and the template; the database share of
it is measured with ``connection.execute_wrapper``. The plan of the slowest query of a request kind
that misses the goal is printed (EXPLAIN ANALYZE).

The test ``Client`` keeps the database connection open between requests (it disconnects Django's
``close_old_connections`` while it handles one), so these figures leave out the connection set-up
a production server with ``CONN_MAX_AGE=0`` pays on every request.

Then the number of queries for page sizes 25, 50 and 100 (``CaptureQueriesContext``): it must not
grow with the page (no query per row).

Goal: every request kind answers within 150 ms at the 95th percentile at 100,000 open items, and
the query count does not depend on the page size. ``--quick`` seeds 10,000 items and makes fewer
requests: a smoke test of the whole run, not the figure.

    python -m bench queue_page [--quick]
    python -m bench.queue_page [--requests N] [--quick]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.personas import sign_in

if TYPE_CHECKING:
    from django.test import Client

    from ops.models import Queue, User

TITLE = "queue_page: server time of the work-queue page with 100,000 open work items"

ITEMS, QUICK_ITEMS = 100_000, 10_000
REQUESTS, QUICK_REQUESTS = 242, 22  # measured requests in all, spread evenly over the request kinds
WARMUP, QUICK_WARMUP = 3, 1  # unmeasured requests per kind first
PAGE_SIZES = (25, 50, 100)
GOAL_P95_MS = 150.0
BATCH = 5_000
SEED = 20_240_601

# Share of the open items per queue (codes of ops/queues.py); a queue missing here gets 2.
QUEUE_WEIGHTS = {
    "kyc_review": 22,
    "screening_hit": 15,
    "withdrawal_approval": 14,
    "kyc_exception": 8,
    "reconciliation_break": 6,
    "risk_alert": 6,
    "edd": 5,
    "withdrawal_exception": 5,
    "platform_sync_mismatch": 5,
    "ib_dispute": 3,
    "compliance_escalation": 3,
    "finance_escalation": 3,
    "ops_escalation": 3,
    "access_review": 2,
}
RISK_MIX = (("low", 50), ("medium", 30), ("high", 15), ("critical", 5))
OWNED_SHARE = 0.20  # of the items; the rest wait unassigned
WAITING_SHARE = 0.15  # of the owned items: on hold, SLA clock paused
WORKERS_PER_ROLE = {"compliance": 12, "finance": 10, "risk": 6, "support": 4}
VIEWER, ADMIN = "bench-viewer", "bench-admin"  # the compliance officer and the administrator who request the page
SUBJECT_PREFIX = "bench-subject-"
BENCH_MARK = "queue_page"  # details->>'bench' of the seeded items, so a re-run can remove them


@dataclass(frozen=True)
class Kind:
    name: str
    url: str
    user: str = VIEWER
    post: bool = False  # a form submitted (the "Next item" button), answered with a redirect


KINDS = [
    Kind("all queues, urgency", "/queues/"),
    Kind("one queue", "/queues/kyc_review/"),
    Kind("mine", "/queues/?owner=me"),
    Kind("unassigned", "/queues/?owner=unassigned"),
    Kind("overdue", "/queues/?overdue=on"),
    Kind("priority P1", "/queues/?priority=P1"),
    Kind("deep page 50", "/queues/?page=50"),
    Kind("newest first", "/queues/?sort=newest"),
    Kind("due soonest", "/queues/?sort=due"),
    Kind("admin, all queues", "/queues/", ADMIN),
    Kind("next item (claim)", "/queues/next/", post=True),
]


# --- seeding ------------------------------------------------------------------------------------


@dataclass
class SeedStats:
    items: int = 0
    foreign_open: int = 0  # open items in the database that this benchmark did not seed
    by_queue: dict[str, int] = field(default_factory=dict)
    owned: int = 0
    waiting: int = 0
    overdue: int = 0
    subjects: int = 0
    seconds: float = 0.0
    analyze_seconds: float = 0.0
    queue_analyzed: bool = False


def _check_database() -> str:
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    if "bench" not in name:
        raise RuntimeError(
            f"refusing to seed work items into database {name!r}: run the benchmarks with `make bench`,"
            " which gives them their own throwaway database (backoffice_bench)"
        )
    return name


def _staff(username: str, role: str) -> User:
    from django.contrib.auth.models import Group

    from ops.models import User

    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username=username, email=f"{username}@bench.invalid", password=None)
    user.groups.add(Group.objects.get(name=role))
    return user


def _subjects(count: int) -> list[str]:
    """``count`` subject users' pks (as ``WorkItem.subject_id`` holds them), created if missing."""
    from ops.models import User

    names = [f"{SUBJECT_PREFIX}{i:06d}" for i in range(count)]
    existing = set(User.objects.filter(username__startswith=SUBJECT_PREFIX).values_list("username", flat=True))
    # Benchmark data in the benchmark's own database: bulk_create, so no history rows for these.
    User.objects.bulk_create(
        [User(username=n, password="!", email="", is_active=False) for n in names if n not in existing],  # noqa: S106
        batch_size=BATCH,
    )
    pks = dict(User.objects.filter(username__startswith=SUBJECT_PREFIX).values_list("username", "pk"))
    return [str(pks[n]) for n in names]


def _queue_counts(queues: list[Queue], total: int) -> dict[str, int]:
    """Split ``total`` by QUEUE_WEIGHTS (largest remainder, so the counts add up exactly)."""
    weights = {q.code: QUEUE_WEIGHTS.get(q.code, 2) for q in queues}
    whole = sum(weights.values())
    shares = {code: total * w / whole for code, w in weights.items()}
    counts = {code: int(share) for code, share in shares.items()}
    for code in sorted(shares, key=lambda c: shares[c] - counts[c], reverse=True)[: total - sum(counts.values())]:
        counts[code] += 1
    return counts


def _amount(rng: random.Random, queue: str) -> Decimal:
    money = queue.startswith(("withdrawal", "reconciliation", "ib_", "finance", "platform"))
    if rng.random() < (0.05 if money else 0.6):
        return Decimal("0.00")
    return Decimal(10 ** rng.uniform(1.0, 6.5 if money else 5.0)).quantize(Decimal("0.01"))


def _age(rng: random.Random, sla: timedelta) -> timedelta:
    """How long ago the item was opened: most within their SLA, a quarter past it, a tail of old backlog."""
    r = rng.random()
    if r < 0.72:
        return sla * rng.uniform(0.0, 1.0)
    if r < 0.96:
        return sla * rng.uniform(1.0, 3.0)
    return sla * rng.uniform(3.0, 30.0)


def _taken_subjects(subject_type_id: int) -> dict[int, set[str]]:
    """Per queue id, the subjects (of ``subject_type_id``) that already have an open item there and
    that this benchmark did not seed: the unique index allows no second one."""
    from ops.models import WorkItem, WorkItemStatus

    taken: dict[int, set[str]] = defaultdict(set)
    # details @> {...}, not details->'bench' = ...: that is NULL for items without the key, and
    # NOT NULL would leave them out.
    rows = (
        WorkItem.objects.filter(subject_type_id=subject_type_id)
        .exclude(status=WorkItemStatus.RESOLVED)
        .exclude(details__contains={"bench": BENCH_MARK})
        .values_list("queue_id", "subject_id")
    )
    for queue_id, subject_id in rows.iterator(chunk_size=BATCH):
        taken[queue_id].add(subject_id)
    return taken


def seed(*, total: int = ITEMS, rng: random.Random | None = None) -> SeedStats:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone

    from audit.context import Actor, acting_as
    from ops.models import Queue, RiskLevel, User, WorkItem, WorkItemStatus
    from ops.priority import urgency_at

    rng = rng or random.Random(SEED)
    started = time.monotonic()
    stats = SeedStats()
    queues = list(Queue.objects.order_by("code"))
    if not queues:
        raise RuntimeError("no work queues: the ops data migration has not run")
    counts = _queue_counts(queues, total)
    subject_type = ContentType.objects.get_for_model(User)
    taken = _taken_subjects(subject_type.pk)
    stats.foreign_open = (
        WorkItem.objects.exclude(status=WorkItemStatus.RESOLVED)
        .exclude(details__contains={"bench": BENCH_MARK})
        .count()
    )
    with acting_as(Actor.system("bench")):
        workers: dict[str, list[User]] = {
            role: [_staff(f"bench-{role}-{i:02d}", role) for i in range(n)] for role, n in WORKERS_PER_ROLE.items()
        }
        workers["compliance"].append(_staff(VIEWER, "compliance"))  # so that owner=me finds some
        _staff(ADMIN, "admin")
        # Enough subjects for the largest queue even if every subject taken there is one of ours.
        subjects = _subjects(max(counts[q.code] + len(taken[q.pk]) for q in queues))
    stats.subjects = len(subjects)
    now = timezone.now()
    risks = [RiskLevel(r) for r, _ in RISK_MIX]
    risk_weights = [w for _, w in RISK_MIX]

    items: list[WorkItem] = []
    for queue in queues:
        count = counts[queue.code]
        stats.by_queue[queue.code] = count
        sla = timedelta(minutes=queue.sla_minutes)
        owners = [u for role in queue.roles for u in workers.get(role, [])]
        escalation = queue.code.endswith("_escalation")
        # One open item per (queue, subject): distinct subjects within a queue, none already taken there.
        free = [s for s in subjects if s not in taken[queue.pk]] if taken[queue.pk] else subjects
        for subject_id in rng.sample(free, count):
            risk = rng.choices(risks, risk_weights)[0]
            amount = _amount(rng, queue.code)
            created_at = now - _age(rng, sla)
            due_at: datetime | None = created_at + sla
            owner = rng.choice(owners) if owners and rng.random() < OWNED_SHARE else None
            paused: timedelta | None = None
            status = WorkItemStatus.OPEN
            if owner is not None:
                status = WorkItemStatus.IN_PROGRESS
                if rng.random() < WAITING_SHARE:  # on hold: the clock keeps what was left
                    status = WorkItemStatus.WAITING_ON_CLIENT
                    paused = max(timedelta(0), sla - (now - created_at) * rng.uniform(0.1, 0.9))
                    due_at = None
            overdue = due_at is not None and due_at < now
            level = 1 if escalation else 0
            if overdue and rng.random() < 0.3:
                level += 1
            items.append(
                WorkItem(
                    queue=queue,
                    subject_type=subject_type,
                    subject_id=subject_id,
                    title=f"{queue.name}: client {subject_id} ({risk.label.lower()} risk)",
                    details={"bench": BENCH_MARK},
                    risk_level=risk,
                    amount_at_stake=amount,
                    status=status,  # the FSM field is protected: set only here, in the constructor
                    owner=owner,
                    due_at=due_at,
                    sla_paused_remaining=paused,
                    urgency_at=urgency_at(due_at=due_at, risk_level=risk, amount=amount),
                    escalation_level=level,
                    escalated_at=created_at + sla / 2 if level else None,
                    created_at=created_at,
                )
            )
            stats.owned += owner is not None
            stats.waiting += status == WorkItemStatus.WAITING_ON_CLIENT
            stats.overdue += overdue
    rng.shuffle(items)  # ids in no particular order of queue or time, as years of traffic leave them

    # Benchmark data in the benchmark's own throwaway database: bulk inserts, without the audit
    # event and history row that ops.services.work_items.work_item_open writes for each item.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM ops_workitem WHERE details->>'bench' = %s", [BENCH_MARK])
        WorkItem.objects.bulk_create(items, batch_size=BATCH)
    stats.items = len(items)
    stats.seconds = time.monotonic() - started
    analyze_started = time.monotonic()
    with connection.cursor() as cursor:
        # What autovacuum does soon after such inserts: statistics for the tables just filled. The
        # small tables (ops_queue: 14 rows and some 25 changes since the migrations, under
        # autovacuum's threshold of 50) stay without statistics, as they do in production.
        cursor.execute("VACUUM ANALYZE ops_workitem")
        cursor.execute("ANALYZE ops_user")
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'ops_queue'::regclass")
        row = cursor.fetchone()
        stats.queue_analyzed = row is not None and row[0] >= 0
    stats.analyze_seconds = time.monotonic() - analyze_started
    return stats


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Sample:
    total: float  # seconds
    db: float
    cpu: float  # this process's CPU time (Django's share; the database's is in its own processes)
    queries: list[tuple[str, list[Any], float]]


class QueryTimer:
    """A ``connection.execute_wrapper`` that times every query of the current request."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, list[Any], float]] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((sql, list(params or []), time.perf_counter() - started))


def _label(sql: str) -> str:
    """A short name for a query of the page."""
    s = sql.lstrip()
    verb = s.split(None, 1)[0].upper() if s else ""
    if verb in {"INSERT", "UPDATE", "DELETE"}:
        table = re.search(r'"(\w+)"', s)
        return f"{verb.lower()} {table.group(1) if table else '?'}"
    if '"ops_workitem"' in s:
        if s.startswith("SELECT COUNT(*)"):
            return "count of matching items"
        if "FOR UPDATE" in s:
            return "next unassigned item (locked)"
        return "page of items"
    if '"django_session"' in s:
        return "session " + s.split(None, 1)[0].lower()
    if '"auth_permission"' in s or '"auth_group"' in s:
        return "groups/permissions"
    if '"ops_queue"' in s:
        return "queues"
    if '"ops_user"' in s:
        return "user"
    return re.sub(r"\s+", " ", s)[:60]


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def _clients() -> dict[str, Client]:
    from django.test import Client

    from ops.models import User

    clients = {}
    for username in {k.user for k in KINDS}:
        # ALLOWED_HOSTS has no "testserver" (setup_test_environment is not called: it would swap in
        # the instrumented template renderer), so the client asks for localhost.
        client = Client(SERVER_NAME="localhost")
        sign_in(client, User.objects.get(username=username))
        clients[username] = client
    return clients


def _request(client: Client, kind: Kind) -> Sample:
    """One request of ``kind``; a page must answer 200, "Next item" must redirect to the item it claimed."""
    from django.db import connection

    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.post(kind.url) if kind.post else client.get(kind.url)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if kind.post:
        location = response.headers.get("Location", "")
        if response.status_code != 302 or not location.startswith("/items/"):
            raise AssertionError(f"POST {kind.url} answered {response.status_code} {location!r}, not a claimed item")
    elif response.status_code != 200:
        raise AssertionError(f"GET {kind.url} answered {response.status_code}, not 200")
    return Sample(total=took, db=sum(q[2] for q in timer.queries), cpu=cpu, queries=timer.queries)


def measure(clients: dict[str, Client], *, requests: int, warmup: int) -> dict[str, list[Sample]]:
    for kind in KINDS:
        for _ in range(warmup):
            _request(clients[kind.user], kind)
    rounds = max(1, math.ceil(requests / len(KINDS)))
    samples: dict[str, list[Sample]] = defaultdict(list)
    for _ in range(rounds):  # round-robin: drift in the machine or the database hits every kind alike
        for kind in KINDS:
            samples[kind.name].append(_request(clients[kind.user], kind))
    return samples


# --- query count ----------------------------------------------------------------------------------


def _normalised(sql: str) -> str:
    return re.sub(r"\b\d+\b", "N", sql)


def query_counts(client: Client) -> tuple[dict[int, int], bool]:
    """Queries of the default page at each page size; the same number each time, or print the difference."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    captured: dict[int, list[str]] = {}
    for size in PAGE_SIZES:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/queues/?per_page={size}")
        if response.status_code != 200:
            raise AssertionError(f"GET /queues/?per_page={size} answered {response.status_code}, not 200")
        rows = response.content.decode().count('<a href="/items/')
        if rows != size:  # else equal counts would prove nothing
            raise AssertionError(f"GET /queues/?per_page={size} shows {rows} items, not {size}")
        captured[size] = [q["sql"] for q in ctx.captured_queries]
    counts = {size: len(sqls) for size, sqls in captured.items()}
    equal = len(set(counts.values())) == 1
    if not equal:
        _print_difference(captured)
    return counts, equal


def _print_difference(captured: dict[int, list[str]]) -> None:
    """The queries whose number differs from the smallest page's (literals such as LIMIT ignored)."""
    base_size = min(captured)
    base = Counter(_normalised(s) for s in captured[base_size])
    for size, sqls in sorted(captured.items()):
        other = Counter(_normalised(s) for s in sqls)
        for sql in (other - base) + (base - other):
            more = other[sql] - base[sql]
            print(f"  ! per_page={size} runs this query {more:+d} times vs per_page={base_size}: {sql[:300]}")


def _explain(sql: str, params: list[Any]) -> list[str]:
    from django.db import connection

    if not sql.lstrip().upper().startswith("SELECT"):  # EXPLAIN ANALYZE would run the write again
        return ["(not a SELECT: not explained)"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


# --- the run ---------------------------------------------------------------------------------------


def _settings_module() -> str:
    import os

    return os.environ.get("DJANGO_SETTINGS_MODULE", "?")


def _load() -> tuple[float, int]:
    """The 1-minute load average and the number of CPUs: wall-clock figures mean little on a busy machine."""
    import os

    return os.getloadavg()[0], os.cpu_count() or 1


def run(*, quick: bool = False, requests: int | None = None) -> bool:
    from django.db import connection

    from ops.models import OPEN_STATUSES, WorkItem

    database = _check_database()
    items = QUICK_ITEMS if quick else ITEMS
    requests = requests if requests is not None else (QUICK_REQUESTS if quick else REQUESTS)
    warmup = QUICK_WARMUP if quick else WARMUP
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"database: {database} (Postgres {cursor.fetchone()[0]}, settings {_settings_module()})")
    load_before, cpus = _load()
    print(f"machine: {cpus} CPUs, load average {load_before:.1f}")

    print(f"seeding {items} open work items ...", flush=True)
    stats = seed(total=items)
    print(
        f"seeded {stats.items} items in {stats.seconds:.1f} s (+ VACUUM ANALYZE {stats.analyze_seconds:.1f} s):"
        f" {stats.owned} owned ({stats.waiting} waiting on the client), {stats.items - stats.owned} unassigned,"
        f" {stats.overdue} overdue; {stats.subjects} subjects, {len(stats.by_queue)} queues"
    )
    print(
        "  VACUUM ANALYZE ops_workitem, ANALYZE ops_user; ops_queue "
        + ("has statistics" if stats.queue_analyzed else "left without statistics, as autovacuum leaves it")
    )
    print("  per queue: " + ", ".join(f"{code} {n}" for code, n in sorted(stats.by_queue.items(), key=lambda x: -x[1])))
    open_total = WorkItem.objects.filter(status__in=OPEN_STATUSES).count()
    print(
        f"  open work items in the database: {open_total}"
        + (f" ({stats.foreign_open} of them left by an earlier benchmark)" if stats.foreign_open else "")
    )

    clients = _clients()
    started = time.monotonic()
    samples = measure(clients, requests=requests, warmup=warmup)
    took = time.monotonic() - started
    measured = sum(len(s) for s in samples.values())
    print(
        f"\n{measured} measured requests ({measured // len(KINDS)} per kind, after {warmup} warm-up each,"
        f" interleaved) in {took:.1f} s; times in ms, whole request in-process (test Client); 'db' is the"
        " time in the page's queries, 'cpu' this process's CPU time (Django's own work)"
    )
    header = (
        f"{'request':<20} {'url':<28} {'median':>7} {'p95':>7} {'max':>7} {'db med':>7} {'cpu med':>7} {'queries':>7}"
        "  slowest query (median ms)"
    )
    print(header)
    print("-" * len(header))
    slow: list[tuple[str, Sample]] = []
    all_totals: list[float] = []
    for kind in KINDS:
        got = samples[kind.name]
        totals = [_ms(s.total) for s in got]
        all_totals += totals
        per_query: dict[str, list[float]] = defaultdict(list)
        for s in got:
            for sql, _, took in s.queries:
                per_query[_label(sql)].append(_ms(took))
        top = max(per_query, key=lambda k: statistics.median(per_query[k]))
        p95 = _p95(totals)
        url = f"{kind.url} (POST)" if kind.post else kind.url
        print(
            f"{kind.name:<20} {url:<28} {statistics.median(totals):7.1f} {p95:7.1f} {max(totals):7.1f}"
            f" {statistics.median(_ms(s.db) for s in got):7.1f} {statistics.median(_ms(s.cpu) for s in got):7.1f}"
            f" {len(got[-1].queries):7d}"
            f"  {top} ({statistics.median(per_query[top]):.1f})"
        )
        if p95 > GOAL_P95_MS:
            slow.append((kind.name, got[-1]))
    overall_p95 = _p95(all_totals)
    print(f"{'overall':<20} {'':<28} {statistics.median(all_totals):7.1f} {overall_p95:7.1f} {max(all_totals):7.1f}")

    # Where the time goes in the slowest kinds: the plan of their slowest query.
    for name, sample in slow[:2]:
        sql, params, _ = max(sample.queries, key=lambda q: q[2])
        print(f"\nEXPLAIN ANALYZE of the slowest query of '{name}' ({_label(sql)}):")
        tail = sql[sql.find(" FROM ") :]
        print("  SELECT ..." + tail[:700] + (" ..." if len(tail) > 700 else ""))
        for line in _explain(sql, params):
            print("    " + line)

    viewer = clients[VIEWER]
    counts, equal = query_counts(viewer)
    print(
        "\nqueries per page (compliance officer, /queues/): "
        + ", ".join(f"per_page={size}: {n}" for size, n in counts.items())
        + (" (equal)" if equal else " (NOT EQUAL: the page runs queries per row)")
        + "; these include the BEGIN and COMMIT around the session save, which the table above leaves out"
    )

    load_after, _ = _load()
    if max(load_before, load_after) > cpus:
        print(
            f"the machine was busy (load average {load_before:.1f} before, {load_after:.1f} after, on {cpus} CPUs):"
            " the times include waiting for a CPU; the figure to quote comes from a quiet machine"
        )
    worst = max(KINDS, key=lambda k: _p95([_ms(s.total) for s in samples[k.name]]))
    worst_p95 = _p95([_ms(s.total) for s in samples[worst.name]])
    met = worst_p95 <= GOAL_P95_MS and overall_p95 <= GOAL_P95_MS and equal
    print(
        f"goal: p95 <= {GOAL_P95_MS:.0f} ms at {ITEMS:,} open items for every request kind (at {open_total:,}:"
        f" worst '{worst.name}' {worst_p95:.1f} ms; overall {overall_p95:.1f} ms) and a query count independent"
        f" of the page size: {'MET' if met else 'NOT MET'}"
        + (f" (quick run: {items:,} items, a smoke test, not the figure)" if quick else ""),
        flush=True,
    )
    return met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_page", description=TITLE)
    parser.add_argument(
        "--requests", type=int, help=f"measured requests in all (default {REQUESTS}, quick {QUICK_REQUESTS})"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from bench import setup_django

    setup_django()
    print(TITLE, flush=True)
    run(quick=args.quick, requests=args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
