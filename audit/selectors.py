"""Reading the audit trail: filtered lists for the audit page and export, and chain verification."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import capfirst

from audit import errors
from audit.models import ALERT_KINDS, AuditEvent, AuditSeal, AuditSealBatch, SecurityEvent, SecurityEventKind
from audit.services import EVENT_CONTENT_SQL, GENESIS_HASH, event_hash
from ops.permissions import ALLOWED, Decision, deny  # a leaf module: no model, no import of its own


def audit_trail_can_view(actor: Any) -> Decision:
    """Read the audit trail (page and filters)."""
    return ALLOWED if actor.has_perm("ops.view_audit_trail") else deny(errors.VIEW_NOT_ALLOWED)


def audit_trail_can_export(actor: Any) -> Decision:
    """Export the filtered trail as CSV (the export itself is audited)."""
    return ALLOWED if actor.has_perm("ops.export_audit_trail") else deny(errors.EXPORT_NOT_ALLOWED)


def evidence_pack_can_export(actor: Any) -> Decision:
    """Export a client's evidence pack for a regulator (compliance and the auditor; the export is audited)."""
    return ALLOWED if actor.has_perm("ops.export_evidence_pack") else deny(errors.EVIDENCE_NOT_ALLOWED)


def security_log_can_view(actor: Any) -> Decision:
    """Read the security log (refused requests, failed sign-ins, forged webhooks, alerts)."""
    return ALLOWED if actor.has_perm("ops.view_security_log") else deny(errors.SECURITY_LOG_NOT_ALLOWED)


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
    return events.select_related("seal").order_by("-id")


@dataclass(frozen=True)
class SubjectRef:
    """What an event (a work item, a statement match) is about, as a person reads it: the kind of
    record, its name, and its page when it has one."""

    kind: str
    name: str
    url: str = ""


def subject_ref(obj: models.Model) -> SubjectRef:
    url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""
    return SubjectRef(kind=str(capfirst(obj._meta.verbose_name)), name=str(obj), url=url)


def subject_refs(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], SubjectRef]:
    """("payments.deposit", "6") -> the deposit's name and page: one query per kind of record. A
    record that is gone, or a subject that is no row (an export, the demo data), keeps its id."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for subject_type, subject_id in keys:
        wanted[subject_type].add(str(subject_id))
    refs: dict[tuple[str, str], SubjectRef] = {}
    for subject_type, ids in wanted.items():
        try:
            model: Any = apps.get_model(subject_type)
        except (LookupError, ValueError):
            model = None
        found: dict[Any, models.Model] = {}
        pks: dict[str, Any] = {}
        if model is not None:
            for subject_id in ids:
                try:
                    pks[subject_id] = model._meta.pk.to_python(subject_id)
                except ValidationError:
                    continue
            found = model._default_manager.in_bulk(list(pks.values()))
        kind = str(capfirst(model._meta.verbose_name)) if model is not None else subject_type
        for subject_id in ids:
            obj = found.get(pks.get(subject_id))
            if obj is not None:
                refs[(subject_type, subject_id)] = subject_ref(obj)
            else:
                name = f"#{subject_id}" if subject_id.isdigit() else subject_id
                refs[(subject_type, subject_id)] = SubjectRef(kind=kind, name=name)
    return refs


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


_CHAIN_SQL = (
    f"SELECT s.seq, s.prev_hash, s.hash, {EVENT_CONTENT_SQL} "  # noqa: S608 - constant SQL
    "FROM audit_auditseal s JOIN audit_auditevent e ON e.id = s.event_id ORDER BY s.seq"
)


def audit_chain_verify() -> ChainReport:
    """Recompute every link in chain order; stop at the first event that does not match. Then
    check that the chain reaches the last seal checkpoint and that every event is either sealed
    or waiting in the sealing queue."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    verified = 0
    last_id: int | None = None
    # A server-side cursor: the chain may hold millions of links.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(_CHAIN_SQL)
        while rows := cursor.fetchmany(5000):
            for seq, link, digest, *content in rows:
                event_id = content[0]
                if seq != expected_seq:
                    problem = f"chain position {seq}, expected {expected_seq} (events missing)"
                    return _report(verified, ChainBreak(event_id, seq, problem))
                if link != prev_hash:
                    return _report(verified, ChainBreak(event_id, seq, "link to the previous event does not match"))
                if event_hash(seq=seq, prev_hash=prev_hash, content=tuple(content)) != digest:
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
    # An unsealed event of a transaction below the last complete batch's horizon should have been
    # sealed by it: something removed its seal (or the event skipped the sealer).
    orphan = _unsealed().filter(txid__lt=_seal_floor()).order_by("id").values_list("id", flat=True).first()
    if orphan is not None:
        return _report(verified, ChainBreak(orphan, None, "event is neither sealed nor waiting to be sealed"))
    return _report(verified, None)


def _unsealed() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(seal__isnull=True)


def _seal_floor() -> int:
    """The last seal checkpoint's horizon: every event of an older transaction is sealed."""
    horizon = AuditSealBatch.objects.order_by("-last_seq").values_list("horizon", flat=True).first()
    return horizon or 0


def _waiting() -> QuerySet[AuditEvent]:
    """Committed events the sealer has still to reach: the few above the floor, each checked for
    a seal through the seal table's primary key. (A join with the seal table, which is what
    ``seal__isnull`` plans to, hashes all of it: a cost growing with the chain, every minute.)"""
    seal = Subquery(AuditSeal.objects.filter(event_id=OuterRef("pk")).order_by().values("pk")[:1])
    return AuditEvent.objects.alias(seal_ref=seal).filter(txid__gte=_seal_floor(), seal_ref__isnull=True)


def _report(verified: int, first_break: ChainBreak | None) -> ChainReport:
    return ChainReport(verified=verified, unsealed=_waiting().count(), first_break=first_break)


@dataclass(frozen=True)
class SealLag:
    """The oldest committed event still waiting to be sealed; whether the sealer could seal it now
    (its transaction is below the horizon) or is held back; and the oldest transaction holding a
    transaction id in the cluster (a session or a prepared transaction), which is what holds the
    horizon back."""

    event: AuditEvent
    sealable: bool
    blocker: dict[str, object] | None
    blocker_since: datetime | None


# The oldest transaction with an id, cluster-wide: sessions and prepared (two-phase) transactions.
_BLOCKER_SQL = """
SELECT kind, ident, state, since, detail FROM (
    SELECT 'session' AS kind, pid::text AS ident, state, xact_start AS since,
           left(coalesce(application_name, '') || ': ' || coalesce(query, ''), 200) AS detail,
           age(backend_xid) AS xid_age
      FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
    UNION ALL
    SELECT 'prepared', gid, 'prepared', prepared, 'owner ' || owner::text || ', database ' || database::text,
           age(transaction)
      FROM pg_prepared_xacts
) AS t ORDER BY xid_age DESC LIMIT 1
"""


def audit_seal_lag() -> SealLag | None:
    """None when every committed event is sealed."""
    # The oldest transaction's first event: an index range scan on txid from the floor.
    event = _waiting().order_by("txid", "id").first()
    if event is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        horizon = cursor.fetchone()[0]
        cursor.execute(_BLOCKER_SQL)
        row = cursor.fetchone()
    blocker, since = None, None
    if row is not None:
        kind, ident, state, since, detail = row
        blocker = {
            "kind": kind,
            "pid" if kind == "session" else "gid": int(ident) if kind == "session" else ident,
            "state": state,
            "since": since.isoformat() if since else None,
            "detail": detail,
        }
    return SealLag(event=event, sealable=event.txid < horizon, blocker=blocker, blocker_since=since)


# --- the security log ---------------------------------------------------------------------------


def security_event_list(
    *,
    kind: str = "",
    user: str = "",
    ip: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[SecurityEvent]:
    """The security log, newest first; ``user`` is a staff member's or a tried username."""
    events = SecurityEvent.objects.all()
    if kind:
        events = events.filter(kind=kind)
    if user:
        events = events.filter(username__iexact=user)
    if ip:
        events = events.filter(ip=ip)
    if date_from:
        events = events.filter(occurred_at__gte=_start_of(date_from))
    if date_to:
        events = events.filter(occurred_at__lt=_start_of(date_to + timedelta(days=1)))
    return events.select_related("actor").order_by("-id")


# What counts as a refusal for the repeated-refusals alert: everything but the alerts themselves.
REFUSAL_KINDS = [k for k in SecurityEventKind if k not in ALERT_KINDS]


@dataclass(frozen=True)
class Caller:
    """Who the security log saw: a signed-in staff member (``actor_id``), else an address."""

    actor_id: int | None
    username: str
    ip: str | None
    count: int
    accounts: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.username if self.actor_id is not None else (self.ip or "every address")


def security_refusal_callers(*, since: datetime, at_least: int) -> list[Caller]:
    """Callers refused at least ``at_least`` times since ``since``: signed-in staff by user, the
    others by IP address."""
    recent = SecurityEvent.objects.filter(occurred_at__gte=since, kind__in=REFUSAL_KINDS)
    by_user = (
        recent.filter(actor__isnull=False)
        .values("actor_id")
        .annotate(n=models.Count("id"), name=models.Max("username"))
        .filter(n__gte=at_least)
        .order_by("actor_id")
    )
    by_ip = (
        recent.filter(actor__isnull=True, ip__isnull=False)
        .values("ip")
        .annotate(n=models.Count("id"))
        .filter(n__gte=at_least)
        .order_by("ip")
    )
    return [Caller(r["actor_id"], r["name"], None, r["n"]) for r in by_user] + [
        Caller(None, "", r["ip"], r["n"]) for r in by_ip
    ]


def security_spraying_sources(*, since: datetime, per_ip: int, overall: int) -> list[Caller]:
    """Failed sign-ins spread over many accounts since ``since``: each address that failed on at
    least ``per_ip`` distinct usernames, and (``ip`` None) all addresses together when at least
    ``overall`` distinct usernames failed."""
    failed = SecurityEvent.objects.filter(occurred_at__gte=since, kind=SecurityEventKind.LOGIN_FAILED)
    accounts = ArrayAgg(Lower("username"), distinct=True)
    sources = [
        Caller(None, "", r["ip"], len(r["accounts"]), tuple(sorted(r["accounts"])))
        for r in failed.filter(ip__isnull=False).values("ip").annotate(accounts=accounts).order_by("ip")
        if len(r["accounts"]) >= per_ip
    ]
    everywhere = failed.aggregate(accounts=accounts)["accounts"] or []
    if len(everywhere) >= overall:
        sources.append(Caller(None, "", None, len(everywhere), tuple(sorted(everywhere))))
    return sources


def security_alerts_raised(*, since: datetime) -> set[tuple[str, int | None, str | None]]:
    """The alerts raised since ``since``, as (kind, actor id, IP): a rule raises one per caller per
    window (one query for all callers)."""
    alerts = SecurityEvent.objects.filter(kind__in=ALERT_KINDS, occurred_at__gte=since)
    return {
        (kind, actor_id, None if actor_id is not None else ip)  # a user is one caller wherever from
        for kind, actor_id, ip in alerts.values_list("kind", "actor_id", "ip")
    }
