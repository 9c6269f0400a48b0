"""Writing the audit trail: recording events, and sealing them into the hash chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from audit import errors
from audit.actions import AuditAction
from audit.context import Actor, current_actor, current_request_info
from audit.errors import AuditError
from audit.models import AuditSealBatch

GENESIS_HASH = "0" * 64
# Only one sealer may extend the chain at a time (pg advisory lock key: "audit" in ASCII).
_SEAL_LOCK_KEY = 0x6175646974


def subject_ref(subject: models.Model | tuple[str, Any]) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        return subject._meta.label_lower, str(subject.pk)
    subject_type, subject_id = subject
    return str(subject_type), str(subject_id)


_INSERT_EVENT = """
WITH event AS (
    INSERT INTO audit_auditevent
        (occurred_at, actor_kind, actor_id, actor_label, action, subject_type, subject_id,
         before, after, reason, request_id, ip)
    VALUES (statement_timestamp(), %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s::inet)
    RETURNING id
)
INSERT INTO audit_auditpending (event_id) SELECT id FROM event RETURNING event_id
"""


def audit_record(
    *,
    action: AuditAction,
    subject: models.Model | tuple[str, Any],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    actor: Actor | None = None,
) -> int:
    """Record one change; returns the event id. Call it inside the transaction that makes the
    change: the event commits or rolls back with it.

    One round trip of plain SQL (the event and its pending-seal row): this runs in every audited
    transaction, so it stays cheap.
    """
    if not connection.in_atomic_block:
        raise AuditError(errors.OUTSIDE_TRANSACTION)
    if action not in _ACTIONS:
        raise AuditError(errors.UNKNOWN_ACTION.format(action=action))
    actor = actor or current_actor()
    if actor is None:
        raise AuditError(errors.MISSING_ACTOR)
    info = current_request_info()
    subject_type, subject_id = subject_ref(subject)
    params = [
        actor.kind.value,
        actor.ident,
        actor.label,
        str(action),
        subject_type,
        subject_id,
        json.dumps(before or {}, cls=DjangoJSONEncoder),
        json.dumps(after or {}, cls=DjangoJSONEncoder),
        reason,
        info.request_id,
        info.ip,
    ]
    # A server-side prepared statement on the transaction's own connection: planned once per
    # connection instead of once per event (Django's cursors bind client-side and re-plan).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        row = cursor.execute(_INSERT_EVENT, params, prepare=True).fetchone()
    assert row is not None
    event_id: int = row[0]
    return event_id


_ACTIONS = frozenset(AuditAction.values)


# What each chain link covers: the event's id and content columns, read back from the database in
# one canonical text form (jsonb's own text output is canonical: keys sorted, spacing fixed), so the
# sealer and the verifier hash exactly what is stored without parsing it.
EVENT_CONTENT_SQL = """
    e.id, e.occurred_at, e.actor_kind, e.actor_id, e.actor_label, e.action, e.subject_type, e.subject_id,
    e.before::text, e.after::text, e.reason, e.request_id, host(e.ip)
"""


def event_hash(*, seq: int, prev_hash: str, content: tuple[Any, ...]) -> str:
    """The hash of one chain link: its position, the previous link and the event's content."""
    event_id, occurred_at, *rest = content
    fields = [str(event_id), occurred_at.astimezone(UTC).isoformat(), *("" if v is None else str(v) for v in rest)]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{seq}|{prev_hash}|{canonical}".encode()).hexdigest()


def audit_seal(*, batch_size: int = 5000, max_batches: int | None = None) -> int:
    """Seal committed events into the chain, oldest id first. Returns how many.

    Runs concurrently with writers (they only insert); two sealers never interleave because each
    batch holds a transaction-level advisory lock, and a second sealer simply returns.
    """
    sealed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        count = _seal_batch(batch_size)
        if count < 0:  # another sealer holds the lock
            break
        sealed += count
        batches += 1
        if count < batch_size:
            break
    return sealed


# Take the oldest pending events (committed ones only: others are invisible) with their content.
_TAKE_PENDING_SQL = (
    "WITH taken AS (DELETE FROM audit_auditpending WHERE event_id IN "  # noqa: S608 - constant SQL
    "  (SELECT event_id FROM audit_auditpending ORDER BY event_id LIMIT %s) RETURNING event_id) "
    f"SELECT {EVENT_CONTENT_SQL} FROM audit_auditevent e JOIN taken t ON t.event_id = e.id ORDER BY e.id"
)


@transaction.atomic
def _seal_batch(batch_size: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return -1
        cursor.execute(_TAKE_PENDING_SQL, [batch_size])
        rows = cursor.fetchall()
        if not rows:
            return 0
        cursor.execute("SELECT last_seq, head_hash FROM audit_auditsealbatch ORDER BY last_seq DESC LIMIT 1")
        head = cursor.fetchone()
    seq, prev_hash = head if head else (0, GENESIS_HASH)
    first_seq = seq + 1
    now = timezone.now()
    seals: list[tuple[int, int, str, str, Any]] = []
    for row in rows:
        seq += 1
        digest = event_hash(seq=seq, prev_hash=prev_hash, content=row)
        seals.append((row[0], seq, prev_hash, digest, now))
        prev_hash = digest
    with connection.wrap_database_errors, connection.connection.cursor() as raw:
        with raw.copy("COPY audit_auditseal (event_id, seq, prev_hash, hash, sealed_at) FROM STDIN") as copy:
            for seal in seals:
                copy.write_row(seal)
    AuditSealBatch.objects.create(
        first_seq=first_seq, last_seq=seq, head_hash=prev_hash, event_count=len(seals), sealed_at=now
    )
    return len(seals)
