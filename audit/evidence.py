"""Evidence packs for a regulator: one zip about one client, made in one click.

The apps that hold the client's records add their part through a small registry (audit depends on
no app; each registers in its ``AppConfig.ready``): accounts the profile and its history, kyc the
documents with their SHA-256 hashes, payments the ledger statement and the payments, ops every
decision (approval requests and their decisions, work items and their resolutions). Audit adds the
audit events about every record the parts named, each with its chain link (position, previous hash,
hash) and the exact fields the hash covers, and ``verify.py``: a standalone script (Python's
standard library only) that recomputes every event's hash, checks consecutive links and the
manifest of file hashes, and exits 0 (all hold) or 1 (something was changed).

What the offline check proves: each event's content is what the chain sealed (the hash of its
content, position and previous link), and events next to each other in the chain link up. That the
sealed hashes are the ones in the broker's whole chain is what ``audit_verify`` checks on the
live chain; its result at export time, and the chain head, are written in the pack.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from audit.actions import AuditAction
from audit.models import AuditEvent, AuditSealBatch
from audit.services import EVENT_CONTENT_SQL, audit_record, audit_seal, event_hash

VERIFIER = Path(__file__).with_name("evidence_verifier.py")
# the names of the fields each event's hash covers, in the order the hash takes them
CONTENT_FIELDS = (
    "id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "subject_type",
    "subject_id",
    "before",
    "after",
    "reason",
    "request_id",
    "ip",
)


@dataclass
class EvidencePart:
    """What one app adds: files (name -> JSON-able data, or bytes as they are) and the records
    (``(subject_type, subject_id)`` as the audit trail names them) whose audit events belong in."""

    files: dict[str, Any] = field(default_factory=dict)
    subjects: set[tuple[str, str]] = field(default_factory=set)


# A part: fn(client, subjects so far) -> EvidencePart; later parts see what earlier ones named (the
# decisions part finds the approval requests about any of them). A part about the client is left
# out of a case pack whose case names no client (an exposure-limit alert); one about any record
# (``about_client=False``: the decisions) runs in every pack, with ``client`` None there.
EvidencePartFn = Callable[[Any, set[tuple[str, str]]], EvidencePart]
_parts: list[tuple[int, EvidencePartFn, bool]] = []


@dataclass
class EvidenceCase:
    """What a case pack is about (a chargeback, a risk alert, a SAR): its name, the audit trail's
    name of its record, the client it is about (None: no client), and its own part (its files and the
    records, beside the client's, whose audit events and decisions belong in)."""

    kind: str
    reference: str
    subject: tuple[str, str]
    client: Any
    part: EvidencePart


@dataclass(frozen=True)
class _CaseKind:
    load: Callable[[Any, int], Any]  # the scoped fetch: Http404 outside the actor's scope
    describe: Callable[[Any], EvidenceCase]


_case_kinds: dict[str, _CaseKind] = {}


def register_evidence_case(
    kind: str, *, load: Callable[[Any, int], Any], describe: Callable[[Any], EvidenceCase]
) -> None:
    """A kind of case with a pack of its own (``/audit/evidence/<kind>/<id>.zip``), registered by
    the app that owns the case in its ``AppConfig.ready``."""
    _case_kinds[kind] = _CaseKind(load=load, describe=describe)


def evidence_case_kinds() -> list[str]:
    return sorted(_case_kinds)


def evidence_case(actor: Any, kind: str, pk: int) -> EvidenceCase:
    """The case the actor may read, described for its pack (Http404 for an unknown kind or a case
    outside the actor's scope)."""
    from django.http import Http404

    registered = _case_kinds.get(kind)
    if registered is None:
        raise Http404("No such kind of case.")
    return registered.describe(registered.load(actor, pk))


# How the pack's subject is fetched for an actor (accounts registers its scoped client fetch).
_subject_loader: list[Callable[[Any, int], Any]] = []


def register_evidence_subject(fn: Callable[[Any, int], Any]) -> None:
    _subject_loader[:] = [fn]


def evidence_subject(actor: Any, pk: int) -> Any:
    """The client the actor may read (Http404 otherwise), by the registered scoped fetch."""
    return _subject_loader[0](actor, pk)


def register_evidence_part(fn: EvidencePartFn, *, order: int = 50, about_client: bool = True) -> EvidencePartFn:
    if all(existing is not fn for _, existing, _ in _parts):
        _parts.append((order, fn, about_client))
        _parts.sort(key=lambda part: part[0])
    return fn


def history_rows(queryset: Iterable[models.Model]) -> list[dict[str, Any]]:
    """simple_history rows as plain dicts (every column, the change's date, who and what kind)."""
    rows = []
    for row in queryset:
        rows.append({f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields})
    return rows


class _Encoder(DjangoJSONEncoder):
    """Dates, decimals and UUIDs as Django writes them; anything else (a country, a file field) as its text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _dump(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    return json.dumps(data, cls=_Encoder, indent=2, sort_keys=True, ensure_ascii=False).encode()


def _events(subjects: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The audit events about the subjects, in id order, with their chain links and hashed fields."""
    by_type: dict[str, set[str]] = defaultdict(set)
    for subject_type, subject_id in subjects:
        by_type[subject_type].add(subject_id)
    if not by_type:
        return []
    where = Q()
    for subject_type, subject_ids in by_type.items():
        where |= Q(subject_type=subject_type, subject_id__in=sorted(subject_ids))
    event_ids = list(AuditEvent.objects.filter(where).order_by("id").values_list("id", flat=True))
    if not event_ids:
        return []
    sql = (
        f"SELECT s.seq, s.prev_hash, s.hash, {EVENT_CONTENT_SQL} FROM audit_auditevent e "  # noqa: S608 - constant
        "LEFT JOIN audit_auditseal s ON s.event_id = e.id WHERE e.id = ANY(%s) ORDER BY e.id"
    )
    events = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_ids])
        for seq, prev_hash, digest, *content in cursor.fetchall():
            event_id, occurred_at, *rest = content
            values = [
                str(event_id),
                occurred_at.astimezone(UTC).isoformat(),
                *("" if v is None else str(v) for v in rest),
            ]
            seal = None
            if seq is not None:
                # what the verifier will recompute; a difference here is a break the live chain has too
                seal = {"seq": seq, "prev_hash": prev_hash, "hash": digest,
                        "recomputed_ok": event_hash(seq=seq, prev_hash=prev_hash, content=tuple(content)) == digest}  # fmt: skip
            events.append({"fields": dict(zip(CONTENT_FIELDS, values, strict=True)), "seal": seal})
    return events


def evidence_pack_build(*, client: Any, actor_label: str) -> tuple[str, bytes]:
    """The pack about the client as (file name, zip bytes); the export is audited."""
    return _pack_build(client=client, case=None, actor_label=actor_label)


def evidence_case_pack_build(*, case: EvidenceCase, actor_label: str) -> tuple[str, bytes]:
    """The pack about one case as (file name, zip bytes): made as a client's pack is (the same
    parts about the case's client, manifest, audit events with their chain links and verifier), with
    the case's own files and the audit events and decisions about its records; the export is audited."""
    return _pack_build(client=case.client, case=case, actor_label=actor_label)


def _pack_build(*, client: Any, case: EvidenceCase | None, actor_label: str) -> tuple[str, bytes]:
    from audit.selectors import audit_chain_verify

    audit_seal()  # committed events sealed first, so the pack can prove as many as possible
    subjects: set[tuple[str, str]] = set()
    files: dict[str, bytes] = {}
    if client is not None:
        subjects.add(("accounts.client", str(client.pk)))
    if case is not None:
        subjects |= {case.subject} | case.part.subjects
        files |= {name: _dump(data) for name, data in case.part.files.items()}
    for _, part_fn, about_client in list(_parts):
        if about_client and client is None:
            continue
        part = part_fn(client, set(subjects))
        subjects |= part.subjects
        for name, data in part.files.items():
            files[name] = _dump(data)
    events = _events(subjects)
    head = AuditSealBatch.objects.order_by("-last_seq").first()
    chain = audit_chain_verify()
    files["audit_events.json"] = _dump(
        {
            "hash": "sha256(f'{seq}|{prev_hash}|{canonical}') where canonical is the JSON array of the fields' "
            "values in the order of 'content_fields', with separators (',', ':') and ensure_ascii=False",
            "content_fields": list(CONTENT_FIELDS),
            "events": events,
            "chain_head": {"seq": head.last_seq, "hash": head.head_hash, "sealed_at": head.sealed_at} if head else None,
            "live_chain_check": {
                "ok": chain.ok,
                "verified": chain.verified,
                "first_break": None if chain.first_break is None else chain.first_break.problem,
                "checked_at": timezone.now(),
            },
        }
    )
    files["verify.py"] = VERIFIER.read_bytes()
    manifest = {
        "client": client.reference if client is not None else None,
        **({"case": {"kind": case.kind, "reference": case.reference}} if case is not None else {}),
        "made_at": timezone.now(),
        "made_by": actor_label,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    manifest_bytes = _dump(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
        for name, data in sorted(files.items()):
            pack.writestr(name, data)
        pack.writestr("manifest.json", manifest_bytes)
    body = buffer.getvalue()
    with transaction.atomic():
        audit_record(
            action=AuditAction.EVIDENCE_PACK_EXPORTED,
            subject=case.subject if case is not None else ("accounts.client", client.pk),
            after={
                **({"case": case.reference, "client": client.reference if client else None} if case else {}),
                "files": len(files) + 1,
                "events": len(events),
                "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                "zip_sha256": hashlib.sha256(body).hexdigest(),
            },
        )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = slugify(case.reference) if case is not None else client.reference
    return f"evidence-{name}-{stamp}.zip", body
