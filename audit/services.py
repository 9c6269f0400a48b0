"""Writing the audit trail: recording events, and sealing them into the hash chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from audit import errors
from audit.actions import AuditAction
from audit.context import Actor, current_actor, current_request_info
from audit.errors import AuditError
from audit.models import CONTENT_COLUMNS, AuditEvent, AuditSealBatch

GENESIS_HASH = "0" * 64
# Only one sealer may extend the chain at a time (pg advisory lock key: "audit" in ASCII).
_SEAL_LOCK_KEY = 0x6175646974


def subject_ref(subject: models.Model | tuple[str, Any]) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        return subject._meta.label_lower, str(subject.pk)
    subject_type, subject_id = subject
    return str(subject_type), str(subject_id)


def audit_record(
    *,
    action: AuditAction,
    subject: models.Model | tuple[str, Any],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    actor: Actor | None = None,
) -> AuditEvent:
    """Record one change. Call it inside the transaction that makes the change."""
    if not connection.in_atomic_block:
        raise AuditError(errors.OUTSIDE_TRANSACTION)
    if action not in AuditAction.values:
        raise AuditError(errors.UNKNOWN_ACTION.format(action=action))
    actor = actor or current_actor()
    if actor is None:
        raise AuditError(errors.MISSING_ACTOR)
    info = current_request_info()
    subject_type, subject_id = subject_ref(subject)
    return AuditEvent.objects.create(
        actor_kind=actor.kind.value,
        actor_id=actor.ident,
        actor_label=actor.label,
        action=str(action),
        subject_type=subject_type,
        subject_id=subject_id,
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
        reason=reason,
        request_id=info.request_id,
        ip=info.ip,
    )


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # Decimals, dates and UUIDs become strings now, so what is hashed later is what was stored.
    result: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return result


def event_hash(*, seq: int, prev_hash: str, content: dict[str, Any]) -> str:
    """The hash of one chain link: its position, the previous link and its canonical content."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{seq}|{prev_hash}|{canonical}".encode()).hexdigest()


def event_content(row: dict[str, Any]) -> dict[str, Any]:
    content = {column: row[column] for column in ("id", *CONTENT_COLUMNS)}
    content["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat()
    return content


HASHED_FIELDS = ("id", *CONTENT_COLUMNS)


def audit_seal(*, batch_size: int = 5000, max_batches: int | None = None) -> int:
    """Seal committed, unsealed events into the chain, oldest id first. Returns how many.

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


@transaction.atomic
def _seal_batch(batch_size: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return -1
    head = AuditSealBatch.objects.order_by("-last_seq").first()
    seq = head.last_seq if head else 0
    prev_hash = head.head_hash if head else GENESIS_HASH
    rows = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id").values(*HASHED_FIELDS)[:batch_size])
    if not rows:
        return 0
    first_seq = seq + 1
    updates: list[tuple[int, int, str, str]] = []
    for row in rows:
        seq += 1
        digest = event_hash(seq=seq, prev_hash=prev_hash, content=event_content(row))
        updates.append((row["id"], seq, prev_hash, digest))
        prev_hash = digest
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s, sealed_at = %s "
            "WHERE id = %s AND hash IS NULL",
            [(s, p, h, now, event_id) for event_id, s, p, h in updates],
        )
    AuditSealBatch.objects.create(
        first_seq=first_seq, last_seq=seq, head_hash=prev_hash, event_count=len(rows), sealed_at=now
    )
    return len(rows)
