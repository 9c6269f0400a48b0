"""What the audit trail costs in write throughput.

N writer processes (``multiprocessing`` 'spawn', each with its own ``django.setup()`` and database
connection) commit transactions as fast as they can. Each transaction updates one random row of a
bench-only table ``bench_account``; in the "on" mode it also records one audit event with
``audit_record`` in the same ``transaction.atomic()``, and a sealer process calls ``audit_seal()``
every 0.5 s, as Celery beat would in production, so sealing is part of the cost. Modes alternate
off, on, off, on (each after a short warm-up) so that drift in the machine or the database cancels
out. Committed transactions are counted in a fixed window per phase. At the end everything is sealed
and the whole chain is verified.

Three kinds of write are measured: "orm" (a work item locked and saved through the ORM with its
django-simple-history row: how every service here writes, the lightest of them), "domain" (the same
three statements in plain SQL, with no Python between them: no service writes like that, and the
audit's share is largest) and "update" (one UPDATE, the worst case).

Goal, judged on "orm", the application's own write: the audit trail's overhead (1 - tps on / tps off)
is at most 5 percentage points above the database's own floor for one more row in the same
transaction, measured in the same run by pgbench with no Python (``bench.audit_sql_floor``: the
"domain" write's three statements, with and without the audit INSERT). The other two kinds are
printed for comparison.

    python -m bench audit_throughput [--quick]
    python -m bench.audit_throughput [--writers N] [--seconds S] [--warmup S] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import multiprocessing.synchronize
import queue
import random
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TITLE = "audit_throughput: committed write transactions per second without and with the audit trail"

ACCOUNTS = 10_000
WRITERS = 8
SECONDS, WARMUP = 7.0, 1.5
QUICK_SECONDS, QUICK_WARMUP = 1.5, 0.5
SEAL_INTERVAL = 0.5
# Off and on alternate five times: on this shared 2-core machine one pair's ratio swings by 0.2 and
# more (autovacuum, the sealer and the host landing in one phase or the other); the pooled ratio
# over more pairs is what holds still.
MODES = ("off", "on") * 5
QUICK_MODES = ("off", "on")  # a smoke test: one pair, the judged write only
GOAL_ABOVE_FLOOR = 0.05  # the audit trail's overhead may exceed the database's own floor by this much
WRITE_KINDS = {
    "orm": "a write as the services make it: the ORM locks a work item, saves it, django-simple-history adds"
    " its history row - the goal is judged here",
    "domain": "the same three statements in plain SQL (lock the row, update it, append its history row),"
    " no Python between them - shown for comparison",
    "update": "a single UPDATE, the cheapest write there is - the worst case, shown for comparison",
}
JUDGED_KIND = "orm"

START_MARGIN = 0.5  # seconds between sending a phase to the processes and its start
STARTUP_TIMEOUT = 120.0  # for spawning the processes and django.setup()
PHASE_GRACE = 60.0  # how long after a phase should have ended before a silent process is an error
SHUTDOWN_TIMEOUT = 10.0

Message = tuple[str, str, int, Any]  # (kind, role, index, payload)
MessageQueue = multiprocessing.queues.Queue  # of Message

# Set by the parent to cut a phase short when it stops early (Ctrl-C, a failed process).
_abort: multiprocessing.synchronize.Event | None = None


# --- the bench table ------------------------------------------------------------------------------


def reset_table() -> None:
    """(Re)create ``bench_account`` with ACCOUNTS rows. It exists only in the benchmark database."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_account, bench_account_history")
        cursor.execute("CREATE TABLE bench_account (id bigint PRIMARY KEY, balance numeric NOT NULL)")
        cursor.execute(
            "CREATE TABLE bench_account_history (id bigserial PRIMARY KEY, account_id bigint NOT NULL,"
            " balance numeric NOT NULL, changed_at timestamptz NOT NULL, actor text NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO bench_account (id, balance) SELECT g, 1000.00 FROM generate_series(1, %s) AS g", [ACCOUNTS]
        )
        cursor.execute("VACUUM ANALYZE bench_account")
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        # Flush now so that a checkpoint is less likely to land in a measured phase (needs superuser
        # or pg_checkpoint, which the embedded Postgres has; elsewhere it is skipped).
        cursor.execute("CHECKPOINT")


# --- the writer and sealer processes --------------------------------------------------------------


def _process_main(
    role: str, index: int, commands: MessageQueue, results: MessageQueue, abort: multiprocessing.synchronize.Event
) -> None:
    """Entry point of a spawned process: set up Django, then run the phases the parent sends."""
    global _abort
    _abort = abort
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    django_ready = False
    try:
        from bench import setup_django

        setup_django()
        django_ready = True
        from django.db import connection

        connection.ensure_connection()
        results.put(("ready", role, index, None))
        rng = random.Random(index)
        while True:
            try:
                command = commands.get(timeout=1.0)
            except queue.Empty:
                parent = multiprocessing.parent_process()
                if parent is None or not parent.is_alive():
                    return  # orphaned: the parent is gone
                continue
            if command[0] == "stop" or abort.is_set():
                return
            _, audited, start_at, warmup, seconds, kind = command
            if role == "writer":
                payload: dict[str, Any] = _write_phase(rng, audited, start_at, warmup, seconds, kind)
            else:
                payload = _seal_phase(start_at, warmup + seconds)
            results.put(("done", role, index, payload))
    except BaseException:
        results.put(("error", role, index, traceback.format_exc()))
    finally:
        if django_ready:
            from django.db import connections

            connections.close_all()


def _wait_until(start_at: float) -> tuple[float, float]:
    """Sleep until the wall-clock time ``start_at``; return (monotonic start, seconds late)."""
    delay = start_at - time.time()
    if delay > 0 and _abort is not None:
        _abort.wait(delay)
    return time.monotonic(), max(0.0, -delay)


def reset_work_items() -> None:
    """ACCOUNTS work items (in the first queue) for the "orm" writes; an earlier run's are removed
    with plain SQL (the bench database only)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from ops.models import Queue, User, WorkItem

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ops_workitem WHERE title LIKE 'bench item %%'")
    queue = Queue.objects.order_by("id").first()
    if queue is None:
        raise RuntimeError("no work queue in the database: run the migrations first")
    user_type = ContentType.objects.get_for_model(User)
    WorkItem.objects.bulk_create(
        [
            WorkItem(queue=queue, subject_type=user_type, subject_id=str(n), title=f"bench item {n}")
            for n in range(1, ACCOUNTS + 1)
        ],
        batch_size=2000,
    )


_first_item: int | None = None


def _write_orm(account: int, amount: Decimal) -> tuple[Any, str, str]:
    """Lock work item number ``account`` and change its note through the ORM (its history row
    follows from django-simple-history's post_save). Returns (item, note before, note after)."""
    global _first_item
    from ops.models import WorkItem

    if _first_item is None:
        _first_item = WorkItem.objects.filter(title="bench item 1").values_list("id", flat=True).get()
    item = WorkItem.objects.select_for_update().get(pk=_first_item + account - 1)
    before, item.resolution_note = item.resolution_note, f"bench note {amount}"
    item.save(update_fields=["resolution_note", "updated_at"])
    return item, before, item.resolution_note


def _write(cursor: Any, kind: str, account: int, amount: Decimal) -> Decimal:
    """One business write in plain SQL. 'domain' is the three statements a service's write makes:
    lock the row, change it, append its history row. 'update' is the cheapest write there is (one
    UPDATE): the worst case for the audit trail's relative cost."""
    if kind == "update":
        cursor.execute(
            "UPDATE bench_account SET balance = balance + %s WHERE id = %s RETURNING balance", [amount, account]
        )
        row = cursor.fetchone()
        if row is None:
            raise RuntimeError(f"bench_account {account} is missing")
        return Decimal(row[0])
    cursor.execute("SELECT balance FROM bench_account WHERE id = %s FOR UPDATE", [account])
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"bench_account {account} is missing")
    balance = Decimal(row[0]) + amount
    cursor.execute("UPDATE bench_account SET balance = %s WHERE id = %s", [balance, account])
    cursor.execute(
        "INSERT INTO bench_account_history (account_id, balance, changed_at, actor) VALUES (%s, %s, now(), %s)",
        [account, balance, "system:bench"],
    )
    return balance


def _write_phase(
    rng: random.Random, audited: bool, start_at: float, warmup: float, seconds: float, kind: str
) -> dict[str, Any]:
    from django.db import connection, transaction

    from audit.actions import AuditAction
    from audit.context import Actor, acting_as
    from audit.services import audit_record

    begin, late = _wait_until(start_at)
    measure_from = begin + warmup
    end = measure_from + seconds
    counted = committed = 0
    busy = 0.0  # time spent in counted transactions, for the mean latency
    next_abort_check = begin
    with acting_as(Actor.system("bench")):
        while True:
            started = time.monotonic()
            if started >= end:
                break
            if started >= next_abort_check:  # a few times a second: the event takes a shared lock
                next_abort_check = started + 0.1
                if _abort is not None and _abort.is_set():
                    break
            account = rng.randint(1, ACCOUNTS)
            amount = Decimal(rng.randint(-10_000, 10_000)).scaleb(-2)
            with transaction.atomic():
                if kind == "orm":
                    item, note_before, note_after = _write_orm(account, amount)
                    subject: Any = item
                    change: tuple[dict[str, Any], dict[str, Any]] = (
                        {"resolution_note": note_before},
                        {"resolution_note": note_after},
                    )
                else:
                    with connection.cursor() as cursor:
                        balance = _write(cursor, kind, account, amount)
                    subject = ("bench.account", account)
                    change = ({"balance": balance - amount}, {"balance": balance})
                if audited:
                    audit_record(
                        action=AuditAction.BENCHMARK_WRITE,
                        subject=subject,
                        before=change[0],
                        after=change[1],
                        reason="benchmark write",
                    )
            committed += 1
            finished = time.monotonic()
            if measure_from <= finished < end:
                counted += 1
                busy += finished - started
    return {"counted": counted, "committed": committed, "busy": busy, "late": late}


def _seal_phase(start_at: float, seconds: float) -> dict[str, Any]:
    from audit.services import audit_seal

    begin, late = _wait_until(start_at)
    end = begin + seconds
    calls = sealed = 0
    busy = longest = 0.0
    next_call = begin
    while True:
        now = time.monotonic()
        if now >= end or (_abort is not None and _abort.is_set()):
            break
        if now < next_call:
            time.sleep(min(next_call, end) - now)
            continue
        sealed += audit_seal()
        took = time.monotonic() - now
        calls += 1
        busy += took
        longest = max(longest, took)
        # every SEAL_INTERVAL; a seal that took longer is followed at once, without catching up
        next_call = max(next_call + SEAL_INTERVAL, time.monotonic())
    return {"calls": calls, "sealed": sealed, "busy": busy, "longest": longest, "late": late}


# --- the parent -----------------------------------------------------------------------------------


@dataclass
class Child:
    role: str
    index: int
    process: multiprocessing.process.BaseProcess
    commands: MessageQueue

    @property
    def key(self) -> tuple[str, int]:
        return self.role, self.index


@dataclass
class Phase:
    mode: str
    counted: int
    seconds: float
    committed: int
    busy: float
    backlog: int = 0  # events still unsealed when the phase ended
    sealer: dict[str, Any] = field(default_factory=dict)

    @property
    def tps(self) -> float:
        return self.counted / self.seconds


class Pool:
    """The writer and sealer processes, and the one results queue they all report to."""

    def __init__(self, writers: int) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.results: MessageQueue = self.ctx.Queue()
        self.abort = self.ctx.Event()
        self.children: list[Child] = []
        for role, index in [("writer", i) for i in range(writers)] + [("sealer", 0)]:
            commands: MessageQueue = self.ctx.Queue()
            process = self.ctx.Process(
                target=_process_main,
                args=(role, index, commands, self.results, self.abort),
                name=f"bench-{role}-{index}",
                daemon=True,
            )
            self.children.append(Child(role, index, process, commands))

    def start(self) -> None:
        for child in self.children:
            child.process.start()
        self.collect({child.key for child in self.children}, "ready", time.monotonic() + STARTUP_TIMEOUT)

    def send(self, roles: set[str], command: tuple[Any, ...]) -> set[tuple[str, int]]:
        keys = set()
        for child in self.children:
            if child.role in roles:
                child.commands.put(command)
                keys.add(child.key)
        return keys

    def collect(self, expected: set[tuple[str, int]], kind: str, deadline: float) -> dict[tuple[str, int], Any]:
        got: dict[tuple[str, int], Any] = {}
        while set(got) != expected:
            try:
                message_kind, role, index, payload = self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [c for c in self.children if c.key in expected - set(got) and not c.process.is_alive()]
                if dead:
                    names = ", ".join(f"{c.process.name} (exit code {c.process.exitcode})" for c in dead)
                    raise RuntimeError(f"benchmark process(es) died without reporting: {names}") from None
                if time.monotonic() > deadline:
                    missing = ", ".join(f"{r}-{i}" for r, i in sorted(expected - set(got)))
                    raise RuntimeError(f"timed out waiting for {kind!r} from {missing}") from None
                continue
            if message_kind == "error":
                raise RuntimeError(f"benchmark process {role}-{index} failed:\n{payload}")
            if message_kind != kind:
                raise RuntimeError(f"unexpected message {message_kind!r} from {role}-{index} (wanted {kind!r})")
            got[(role, index)] = payload
        return got

    def stop(self) -> None:
        self.abort.set()
        for child in self.children:
            if child.process.is_alive():
                try:
                    child.commands.put(("stop",))
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        for child in self.children:
            if child.process.pid is not None:
                child.process.join(max(0.1, deadline - time.monotonic()))
        for child in self.children:
            if child.process.is_alive():
                print(f"  ! {child.process.name} did not stop; terminating it", flush=True)
                child.process.terminate()
                child.process.join(5)
            if child.process.is_alive():
                child.process.kill()
                child.process.join(5)
        for child in self.children:
            child.commands.cancel_join_thread()  # an unread "stop" must not block our exit
            child.commands.close()
        self.results.close()
        self.results.join_thread()


def _unsealed() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.filter(seal__isnull=True).count()


def run(
    *, quick: bool = False, writers: int = WRITERS, seconds: float | None = None, warmup: float | None = None
) -> bool:
    """The database's floor (pgbench), then every kind of write; the goal is judged on the
    application's own one (JUDGED_KIND) against the floor of this same run."""
    from bench import audit_sql_floor

    print("--- the floor: one more INSERT in the same transaction, at the database alone (pgbench, no Python)")
    floor = audit_sql_floor.measure(quick=quick)
    if floor is None:
        print("skipped: PGBIN is not set (run through `make bench`): the goal cannot be judged without it")
    else:
        audit_sql_floor.print_floor(floor)
    print()
    overheads = {}
    for kind in [JUDGED_KIND] if quick else WRITE_KINDS:
        overheads[kind] = run_kind(quick=quick, writers=writers, seconds=seconds, warmup=warmup, kind=kind)
        print()
    floor_text = f"{floor.overhead * 100:.1f}%" if floor else "unknown"
    print(f"audit_sql_floor (pgbench, the database alone): overhead {floor_text}")
    for kind, overhead in overheads.items():
        above = f" = floor {(overhead - floor.overhead) * 100:+.1f} points" if floor else ""
        note = "judged" if kind == JUDGED_KIND else "for comparison"
        print(f"audit_throughput [{kind}]: overhead {overhead * 100:.1f}%{above} ({note})")
    if floor is None:
        return False
    excess = overheads[JUDGED_KIND] - floor.overhead
    met = excess <= GOAL_ABOVE_FLOOR
    print(
        f"goal: the audit trail's overhead on the {JUDGED_KIND!r} write at most {GOAL_ABOVE_FLOOR * 100:.0f} points "
        f"above the floor: {'MET' if met else f'NOT MET, by {(excess - GOAL_ABOVE_FLOOR) * 100:.1f} points'}",
        flush=True,
    )
    return met


def run_kind(
    *,
    quick: bool = False,
    writers: int = WRITERS,
    seconds: float | None = None,
    warmup: float | None = None,
    kind: str = JUDGED_KIND,
) -> float:
    """One kind of write, off and on alternately; returns the audit trail's overhead (1 - on/off)."""
    from django.db import connection
    from django.db.models import Max

    from audit.actions import AuditAction
    from audit.models import AuditEvent
    from audit.selectors import audit_chain_verify
    from audit.services import audit_seal

    seconds = seconds if seconds is not None else (QUICK_SECONDS if quick else SECONDS)
    warmup = warmup if warmup is not None else (QUICK_WARMUP if quick else WARMUP)
    if writers < 1 or seconds <= 0 or warmup < 0:
        raise ValueError("need at least one writer, a positive duration and a non-negative warm-up")

    print(f"--- write: {WRITE_KINDS[kind]}")
    print(f"database: {connection.settings_dict['NAME']} (settings {_settings_module()})")
    reset_table()
    if kind == "orm":
        reset_work_items()
    leftover = audit_seal()  # events an earlier, interrupted run left unsealed: not this run's cost
    if leftover:
        print(f"sealed {leftover} events left unsealed by an earlier run")
    first_id = AuditEvent.objects.aggregate(m=Max("id"))["m"] or 0
    connection.close()  # the parent holds no connection while the writers run

    print(f"starting {writers} writer processes and 1 sealer process (spawn) ...", flush=True)
    pool = Pool(writers)
    phases: list[Phase] = []
    try:
        started = time.monotonic()
        pool.start()
        print(f"processes ready in {time.monotonic() - started:.1f} s", flush=True)
        for number, mode in enumerate(QUICK_MODES if quick else MODES, 1):
            audited = mode == "on"
            start_at = time.time() + START_MARGIN
            command = ("phase", audited, start_at, warmup, seconds, kind)
            expected = pool.send({"writer", "sealer"} if audited else {"writer"}, command)
            deadline = time.monotonic() + START_MARGIN + warmup + seconds + PHASE_GRACE
            got = pool.collect(expected, "done", deadline)
            writes = [p for (role, _), p in got.items() if role == "writer"]
            phase = Phase(
                mode=mode,
                counted=sum(p["counted"] for p in writes),
                seconds=seconds,
                committed=sum(p["committed"] for p in writes),
                busy=sum(p["busy"] for p in writes),
                sealer=got.get(("sealer", 0), {}),
            )
            late = max(p["late"] for p in got.values())
            if audited:
                phase.backlog = _unsealed()
                audit_seal()  # untimed: each "on" phase starts with an empty backlog
            connection.close()
            phases.append(phase)
            _print_phase(number, phase, late)
    finally:
        pool.stop()

    audited_commits = sum(p.committed for p in phases if p.mode == "on")
    audit_seal()
    written = AuditEvent.objects.filter(id__gt=first_id, action=AuditAction.BENCHMARK_WRITE).count()
    verify_started = time.monotonic()
    report = audit_chain_verify()
    verify_took = time.monotonic() - verify_started
    return _print_summary(writers, seconds, warmup, phases, audited_commits, written, report, verify_took, kind)


def _settings_module() -> str:
    import os

    return os.environ.get("DJANGO_SETTINGS_MODULE", "?")


def _print_phase(number: int, phase: Phase, late: float) -> None:
    latency = phase.busy / phase.counted * 1000 if phase.counted else float("nan")
    line = (
        f"phase {number} audit {phase.mode:<3}: {phase.counted:>7} commits in {phase.seconds:.1f} s = "
        f"{phase.tps:8.1f} tps, mean latency {latency:6.2f} ms"
    )
    if phase.sealer:
        s = phase.sealer
        mean = s["busy"] / s["calls"] * 1000 if s["calls"] else 0.0
        line += (
            f"; sealer: {s['calls']} seals, {s['sealed']} events, mean {mean:.1f} ms, longest {s['longest'] * 1000:.1f} ms,"
            f" unsealed at end {phase.backlog}"
        )
    print(line, flush=True)
    if late > 0.1:
        print(f"  ! a process started {late:.2f} s late; this phase's figure is low", flush=True)


def _print_summary(
    writers: int,
    seconds: float,
    warmup: float,
    phases: list[Phase],
    audited_commits: int,
    written: int,
    report: Any,
    verify_took: float,
    kind: str,
) -> float:
    def mean_tps(mode: str) -> float:
        chosen = [p for p in phases if p.mode == mode]
        return sum(p.counted for p in chosen) / sum(p.seconds for p in chosen)

    tps_off, tps_on = mean_tps("off"), mean_tps("on")
    ratio = tps_on / tps_off if tps_off else 0.0
    overhead = 1.0 - ratio
    print()
    print(f"writers:           {writers} processes (+1 sealer calling audit_seal() every {SEAL_INTERVAL} s when on)")
    print(
        f"duration:          {seconds:.1f} s per phase after {warmup:.1f} s warm-up; phases {', '.join(p.mode for p in phases)}"
    )
    print(f"tps off:           {tps_off:.1f}")
    print(f"tps on:            {tps_on:.1f}")
    print(f"ratio on/off:      {ratio:.3f}")
    pairs = [on.tps / off.tps for off, on in zip(phases[::2], phases[1::2], strict=True) if off.tps]
    print(f"  per off/on pair: {', '.join(f'{r:.3f}' for r in pairs)} (the spread is the machine's noise)")
    print(f"overhead [{kind}]: {overhead * 100:.1f}%")
    print(f"audit events:      {written} written for {audited_commits} committed audited transactions", end="")
    print(" (match)" if written == audited_commits else " (MISMATCH)")
    status = "ok" if report.ok else f"BROKEN at event {report.first_break.event_id}: {report.first_break.problem}"
    print(f"chain verified:    {report.verified} events, {report.unsealed} unsealed, {status} ({verify_took:.1f} s)")
    if not report.ok or written != audited_commits:
        raise RuntimeError("the audit trail is inconsistent after the benchmark (see above)")
    return overhead


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_throughput", description=TITLE)
    parser.add_argument("--writers", type=int, default=WRITERS)
    parser.add_argument("--seconds", type=float, help=f"per phase (default {SECONDS:g}, quick {QUICK_SECONDS:g})")
    parser.add_argument("--warmup", type=float, help=f"per phase (default {WARMUP:g}, quick {QUICK_WARMUP:g})")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", choices=sorted(WRITE_KINDS), help="one kind of write (default: all)")
    args = parser.parse_args(argv)
    from bench import setup_django

    setup_django()
    print(TITLE, flush=True)
    if args.write:
        run_kind(quick=args.quick, writers=args.writers, seconds=args.seconds, warmup=args.warmup, kind=args.write)
    else:
        run(quick=args.quick, writers=args.writers, seconds=args.seconds, warmup=args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
