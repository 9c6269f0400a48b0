"""Reading the audit trail: filtered lists for the audit page and export, and chain verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEvent, AuditSealBatch
from audit.services import GENESIS_HASH, HASHED_FIELDS, event_content, event_hash


def audit_event_list(
    *,
    actor: str = "",
    action: str = "",
    subject_type: str = "",
    subject_id: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if actor:
        events = events.filter(actor_label__iexact=actor)
    if action:
        events = events.filter(action=action)
    if subject_type:
        events = events.filter(subject_type=subject_type)
    if subject_id:
        events = events.filter(subject_id=subject_id)
    if date_from:
        events = events.filter(occurred_at__gte=_start_of(date_from))
    if date_to:
        events = events.filter(occurred_at__lt=_start_of(date_to + timedelta(days=1)))
    return events.order_by("-id")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    seq: int | None
    problem: str


@dataclass(frozen=True)
class ChainReport:
    verified: int
    unsealed: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def audit_chain_verify() -> ChainReport:
    """Recompute every link in chain order. Stops at the first event that does not match."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    verified = 0
    last_id: int | None = None
    rows = (
        AuditEvent.objects.filter(seq__isnull=False)
        .order_by("seq")
        .values(*HASHED_FIELDS, "seq", "prev_hash", "hash")
        .iterator(chunk_size=5000)
    )
    for row in rows:
        event_id, seq = row["id"], row["seq"]
        if seq != expected_seq:
            return _report(
                verified, ChainBreak(event_id, seq, f"chain position {seq}, expected {expected_seq} (events missing)")
            )
        if row["prev_hash"] != prev_hash:
            return _report(verified, ChainBreak(event_id, seq, "link to the previous event does not match"))
        digest = event_hash(seq=seq, prev_hash=prev_hash, content=event_content(row))
        if digest != row["hash"]:
            return _report(verified, ChainBreak(event_id, seq, "content does not match its hash"))
        prev_hash = digest
        expected_seq += 1
        verified += 1
        last_id = event_id
    head = AuditSealBatch.objects.order_by("-last_seq").first()
    if head is not None and (head.last_seq != verified or head.head_hash != prev_hash):
        return _report(
            verified,
            ChainBreak(
                last_id or 0,
                verified or None,
                f"chain ends at position {verified} but the last seal checkpoint is at {head.last_seq}"
                " (newest events missing or altered)",
            ),
        )
    return _report(verified, None)


def _report(verified: int, first_break: ChainBreak | None) -> ChainReport:
    unsealed = AuditEvent.objects.filter(seq__isnull=True).count()
    return ChainReport(verified=verified, unsealed=unsealed, first_break=first_break)
