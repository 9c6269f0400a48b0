"""The hash chain: sealing, verification, and what `audit_verify` says when a row was altered
behind the triggers' back (a superuser disabling them)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.actions import AuditAction
from audit.models import AuditEvent, AuditSeal, AuditSealBatch
from audit.selectors import audit_chain_verify
from audit.services import GENESIS_HASH, audit_record, audit_seal
from tests.conftest import owner_cursor

pytestmark = [pytest.mark.django_db, pytest.mark.serial]

ROOT = Path(__file__).resolve().parents[2]


def _record(n: int) -> list[int]:
    ids = []
    for i in range(n):
        with transaction.atomic():
            audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", i), after={"n": i})
        ids.append(AuditEvent.objects.latest("id").pk)
    return ids


def _behind_the_triggers(sql: str, params: list[Any] | None = None, table: str = "audit_auditevent") -> None:
    """What the owner role (or a superuser) could do, in a session of its own: switch the table's
    triggers off, change a row, switch them on. The application role may not (test_database_roles)."""
    with owner_cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params or [])
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_good_seal_links_events_in_id_order() -> None:
    ids = _record(5)
    assert audit_seal() == 5
    seals = list(AuditSeal.objects.order_by("seq"))
    assert [s.event_id for s in seals] == ids
    assert [s.seq for s in seals] == [1, 2, 3, 4, 5]
    assert seals[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(seals))
    assert AuditSealBatch.objects.get().head_hash == seals[-1].hash
    assert audit_seal() == 0  # nothing left


def test_good_verify_counts_every_sealed_event(capsys: pytest.CaptureFixture[str]) -> None:
    _record(7)
    audit_seal()
    _record(2)  # committed, not yet sealed
    report = audit_chain_verify()
    assert report.ok and report.verified == 7 and report.unsealed == 2
    call_command("audit_verify")
    assert "audit chain OK: 7 events verified, 2 committed events waiting to be sealed" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)  # the tampering session sees committed rows only
def test_bad_altered_content_is_named_by_audit_verify() -> None:
    ids = _record(6)
    audit_seal()
    _behind_the_triggers("UPDATE audit_auditevent SET reason = 'nothing to see' WHERE id = %s", [ids[3]])
    report = audit_chain_verify()
    assert report.first_break is not None
    assert report.first_break.event_id == ids[3] and report.verified == 3
    with pytest.raises(CommandError, match=rf"event id={ids[3]} \(chain position 4\): content does not match"):
        call_command("audit_verify")


@pytest.mark.django_db(transaction=True)  # the tampering session sees committed rows only
def test_bad_deleted_event_is_named_by_audit_verify() -> None:
    ids = _record(5)
    audit_seal()
    _behind_the_triggers("DELETE FROM audit_auditevent WHERE id = %s", [ids[1]])
    brk = audit_chain_verify().first_break
    assert brk is not None and brk.event_id == ids[2] and "events missing" in brk.problem


@pytest.mark.django_db(transaction=True)  # the tampering session sees committed rows only
def test_bad_removed_newest_events_are_detected_by_the_checkpoint() -> None:
    ids = _record(5)
    audit_seal()
    _behind_the_triggers("DELETE FROM audit_auditevent WHERE id >= %s", [ids[3]])
    brk = audit_chain_verify().first_break
    assert brk is not None and "last seal checkpoint is at 5" in brk.problem


@pytest.mark.django_db(transaction=True)
def test_bad_event_hidden_from_the_sealer_is_reported() -> None:
    """An event whose transaction id was moved below the sealer's horizon after a complete batch
    (so no sealer will ever take it) is named: verification does not wait for it forever."""
    _record(3)
    assert audit_seal() == 3
    _record(1)
    assert audit_seal() == 1  # a complete batch: its horizon is past every transaction so far
    late = _record(1)[0]
    _behind_the_triggers("UPDATE audit_auditevent SET txid = 1 WHERE id = %s", [late])
    audit_seal()
    brk = audit_chain_verify().first_break
    assert brk is not None and brk.event_id == late and "neither sealed nor waiting" in brk.problem


@pytest.mark.django_db(transaction=True)  # the tampering session sees committed rows only
def test_bad_rehashed_event_breaks_the_next_link() -> None:
    ids = _record(4)
    audit_seal()
    _behind_the_triggers(
        "UPDATE audit_auditseal SET hash = repeat('a', 64) WHERE event_id = %s", [ids[1]], table="audit_auditseal"
    )
    brk = audit_chain_verify().first_break
    assert brk is not None and brk.event_id == ids[1]


@pytest.mark.django_db(transaction=True)
def test_audit_verify_command_exits_non_zero_naming_the_event() -> None:
    ids = _record(3)
    audit_seal()
    _behind_the_triggers("UPDATE audit_auditevent SET actor_label = 'someone-else' WHERE id = %s", [ids[0]])
    from tests.conftest import worker_env

    result = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"], cwd=ROOT, env=worker_env(), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"event id={ids[0]}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.django_db(transaction=True)
def test_writers_are_not_serialised_by_the_chain() -> None:
    """A long transaction that will write an event blocks neither other writers nor the sealer (which
    returns at once). Events of transactions that started after it are sealed once it has ended,
    so that no event can ever land behind the chain's head; then all of them in id order (its own,
    inserted first, comes first)."""
    in_txn = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        from audit.context import Actor, acting_as

        with acting_as(Actor.system("slow")), transaction.atomic():
            with connection.cursor() as cursor:  # a writing transaction: it has an id from here on
                cursor.execute("SELECT pg_current_xact_id()")
            audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", "slow"))
            in_txn.set()
            release.wait(20)
        connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert in_txn.wait(10)
    started = time.monotonic()
    fast_ids = _record(3)  # they commit while the slow transaction is still open
    assert audit_seal() == 0  # returns at once: an older transaction is still running
    assert time.monotonic() - started < 5
    release.set()
    thread.join(20)
    assert audit_seal() == 4
    slow = AuditEvent.objects.get(subject_id="slow")
    assert slow.pk < min(fast_ids)  # an ordinary INSERT: its id is taken when it is written
    assert [s.event_id for s in AuditSeal.objects.order_by("seq")] == [slow.pk, *fast_ids]
    assert audit_chain_verify().verified == 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_keep_one_valid_chain() -> None:
    from audit.context import Actor, acting_as

    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            with acting_as(Actor.system(f"writer{w}")):
                for i in range(25):
                    with transaction.atomic():
                        audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", f"{w}-{i}"))
                    if i % 10 == 0:
                        audit_seal()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    audit_seal()
    report = audit_chain_verify()
    assert report.ok and report.verified == 150 and report.unsealed == 0


@pytest.mark.django_db(transaction=True)
def test_good_full_batches_move_the_scan_floor_to_the_oldest_event_left() -> None:
    """A backlog sealed in full batches: each batch records where the next scan starts (the oldest
    transaction with an event still unsealed), so a long backlog is not rescanned from the start."""
    ids = _record(7)
    assert audit_seal(batch_size=3) == 7
    batches = list(AuditSealBatch.objects.order_by("last_seq"))
    assert [b.event_count for b in batches] == [3, 3, 1]
    txids = dict(AuditEvent.objects.filter(pk__in=ids).values_list("id", "txid"))
    assert batches[0].horizon == txids[ids[3]] and batches[1].horizon == txids[ids[6]]
    assert batches[2].horizon > txids[ids[6]]  # the last, not full: past every transaction so far
    report = audit_chain_verify()
    assert report.ok and report.verified == 7 and report.unsealed == 0
