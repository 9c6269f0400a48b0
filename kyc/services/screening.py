"""Sanctions and PEP screening: list import (versioned, with progress), screening of clients
(on onboarding, on name changes, and of everyone on each list update), and the reviewer's
disposition of each hit."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Client, ClientKind, ClientStatus
from accounts.selectors import client_is_visible_to
from audit.actions import AuditAction
from audit.context import Actor, acting_as, current_actor
from audit.services import audit_record
from kyc import errors
from kyc.errors import KycError
from kyc.models import HitStatus, ListImportStatus, SanctionsEntry, SanctionsListVersion, ScreeningHit
from kyc.screening.matcher import Candidate, ListEntry, Screener
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny

COLUMNS = {"id", "schema", "name", "aliases", "birth_date", "countries", "sanctions", "dataset"}
BATCH = 2_000


@dataclass(frozen=True)
class ImportProgress:
    version_id: int
    rows: int


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def _entry_hash(row: dict[str, Any]) -> str:
    canonical = json.dumps({k: row.get(k, "") for k in sorted(COLUMNS)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def sanctions_import(*, name: str, source: IO[str], source_file: str) -> Iterator[ImportProgress]:
    """Read a targets.simple CSV into a new list version, yielding progress every BATCH rows.
    A bad file fails the version (with the reason) and leaves the current version in force.

    Run again on the same file (a worker killed mid-import, its task redelivered), it takes up the
    version left importing instead of leaving it behind beside a second one: entries are keyed by
    (version, entry id) and inserted with ignore_conflicts, and only one run completes the version."""
    text = source.read()
    digest = hashlib.sha256(text.encode()).hexdigest()
    actor = current_actor()
    with transaction.atomic():
        version = (
            SanctionsListVersion.objects.filter(
                name=name, source_file=source_file, sha256=digest, status=ListImportStatus.IMPORTING
            )
            .order_by("pk")
            .first()
        ) or SanctionsListVersion.objects.create(
            name=name, source_file=source_file, sha256=digest, imported_by=actor.label if actor else "system"
        )
    reader = csv.DictReader(io.StringIO(text))
    missing = COLUMNS - set(reader.fieldnames or [])
    if missing:
        _fail(version, f"the file lacks the columns {', '.join(sorted(missing))}")
        raise KycError(f"Not a targets.simple CSV: missing columns {', '.join(sorted(missing))}.")
    rows = 0
    batch: list[SanctionsEntry] = []
    try:
        for row in reader:
            rows += 1
            if not row["id"] or not row["name"]:
                continue
            batch.append(
                SanctionsEntry(
                    version=version,
                    entry_id=row["id"],
                    schema=row["schema"],
                    name=row["name"][:300],
                    aliases=_split(row["aliases"]),
                    birth_dates=_split(row["birth_date"]),
                    countries=[c.lower() for c in _split(row["countries"])],
                    sanctions=row["sanctions"] or "",
                    dataset=(row["dataset"] or "")[:300],
                    data_hash=_entry_hash(row),
                )
            )
            if len(batch) >= BATCH:
                _flush(version, batch, rows)
                batch = []
                yield ImportProgress(version.pk, rows)
        _flush(version, batch, rows)
    except Exception as exc:
        _fail(version, str(exc))
        raise
    with transaction.atomic():
        if SanctionsListVersion.objects.select_for_update().get(pk=version.pk).status == ListImportStatus.IMPORTING:
            _complete(version, rows=rows, digest=digest)  # (else another run of the same file completed it)
    yield ImportProgress(version.pk, rows)


def _complete(version: SanctionsListVersion, *, rows: int, digest: str) -> None:
    version.status = ListImportStatus.COMPLETE
    version.entry_count = SanctionsEntry.objects.filter(version=version).count()
    version.finished_at = timezone.now()
    version.save(update_fields=["status", "entry_count", "finished_at", "rows_read"])
    audit_record(
        action=AuditAction.SANCTIONS_LIST_IMPORTED,
        subject=version,
        after={
            "name": version.name,
            "entries": version.entry_count,
            "rows": rows,
            "sha256": digest,
            "file": version.source_file,
        },
    )
    from kyc.tasks import rescreen_all_task

    transaction.on_commit(lambda: rescreen_all_task.delay(version_id=version.pk))


def _flush(version: SanctionsListVersion, batch: list[SanctionsEntry], rows: int) -> None:
    # List entries are imported reference data, versioned and never edited; the import as a whole
    # is the audited event.
    with transaction.atomic():
        SanctionsEntry.objects.bulk_create(batch, ignore_conflicts=True)
        version.rows_read = rows
        version.save(update_fields=["rows_read"])


def _fail(version: SanctionsListVersion, error: str) -> None:
    with transaction.atomic():
        version.status = ListImportStatus.FAILED
        version.error = error[:2000]
        version.finished_at = timezone.now()
        version.save(update_fields=["status", "error", "finished_at"])


def current_version() -> SanctionsListVersion | None:
    return SanctionsListVersion.objects.filter(status=ListImportStatus.COMPLETE).order_by("-finished_at", "-id").first()


_screeners: dict[int, Screener] = {}


def _client_names() -> Iterator[str]:
    """The names of the clients screened: with the list's, how common each name part is."""
    rows = Client.objects.exclude(status=ClientStatus.CLOSED).values_list(
        "kind", "first_name", "last_name", "legal_name"
    )
    for kind, first, last, legal in rows.iterator(chunk_size=5000):
        yield legal if kind == ClientKind.CORPORATE else f"{first} {last}"


def screener_for(version: SanctionsListVersion) -> Screener:
    """One index per list version per process (building it is the expensive part). Token
    frequencies count the client base as it is when the index is built."""
    if version.pk not in _screeners:
        _screeners.clear()
        entries = (
            ListEntry(
                entry_id=e.entry_id,
                names=[e.name, *e.aliases],
                birth_dates=list(e.birth_dates),
                countries=list(e.countries),
                schema=e.schema,
                datasets=e.dataset,
            )
            for e in SanctionsEntry.objects.filter(version=version).iterator(chunk_size=5000)
        )
        _screeners[version.pk] = Screener(entries, threshold=settings.SCREENING_THRESHOLD, population=_client_names())
    return _screeners[version.pk]


def candidate_for(client: Client) -> Candidate:
    return Candidate(
        client_id=str(client.pk),
        name=client.display_name,
        birth_date=client.date_of_birth.isoformat() if client.date_of_birth else None,
        country=(str(client.nationality or client.country) or None)
        if client.kind == ClientKind.INDIVIDUAL
        else str(client.country),
    )


def client_screen(*, client_id: int) -> int:
    """Screen one client against the current list; returns the number of new hits."""
    version = current_version()
    if version is None:
        return 0
    client = Client.objects.get(pk=client_id)
    return _record_hits(version, {client.pk: client}, screener_for(version).screen(candidate_for(client)))


def clients_rescreen(*, version_id: int, processes: int = 1) -> dict[str, int]:
    """Everyone not closed, against a (new) list version."""
    version = SanctionsListVersion.objects.get(pk=version_id)
    screener = screener_for(version)
    clients = {c.pk: c for c in Client.objects.exclude(status=ClientStatus.CLOSED)}
    hits = screener.screen_many((candidate_for(c) for c in clients.values()), processes=processes)
    created = _record_hits(version, clients, hits)
    return {"clients": len(clients), "new_hits": created}


def _record_hits(version: SanctionsListVersion, clients: dict[int, Client], hits: Iterable[Any]) -> int:
    from ops.services.work_items import work_item_open

    found = list(hits)
    entries = {
        e.entry_id: e for e in SanctionsEntry.objects.filter(version=version, entry_id__in={h.entry_id for h in found})
    }
    created = 0
    for hit in found:
        entry = entries.get(hit.entry_id)
        if entry is None:
            continue
        client = clients[int(hit.client_id)]
        with transaction.atomic():
            obj, new = ScreeningHit.objects.get_or_create(
                client=client, entry_id=entry.entry_id, entry_data_hash=entry.data_hash,
                defaults={
                    "version": version, "entry_name": entry.name, "matched_name": hit.matched_name,
                    "score": round(hit.score, 2), "name_score": round(hit.name_score, 2),
                    "dob_match": hit.dob_match, "country_match": hit.country_match,
                },
            )  # fmt: skip
            if not new:
                continue  # already raised (a false positive stays closed until the entry changes)
            created += 1
            audit_record(
                action=AuditAction.SCREENING_HIT_RAISED,
                subject=client,
                after={
                    "entry": entry.entry_id,
                    "name": entry.name,
                    "score": float(obj.score),
                    "list_version": version.pk,
                },
            )
            work_item_open(
                queue="screening_hit",
                subject=client,
                title=f"Screening hit: {client.display_name} ~ {entry.name}",
                risk_level="high",
                details={"entry": entry.entry_id, "score": float(obj.score), "dataset": entry.dataset},
            )
            from kyc.services.risk import risk_assess

            risk_assess(client_id=client.pk)  # a hit is a risk factor: EDD follows
    return created


NAME_FIELDS = {"first_name", "last_name", "legal_name", "date_of_birth", "nationality", "country"}


def rescreen_on_name_change(client_id: int, changed: set[str]) -> None:
    """Registered with accounts: a changed name (or birth date, country) is screened again."""
    if changed & NAME_FIELDS:
        from kyc.tasks import client_screen_task

        client_screen_task.delay(client_id=client_id)


def screening_hit_can_decide(actor: User, hit: ScreeningHit) -> Decision:
    """Decide an open screening hit: false positive or true match."""
    if not actor.has_perm("ops.review_documents"):
        return deny(errors.NOT_ALLOWED.format(verb="decide screening hits"))
    if not client_is_visible_to(actor, hit.client):
        return deny(errors.OUT_OF_SCOPE)
    if hit.status != HitStatus.OPEN:
        return deny(errors.HIT_DECIDED.format(status=hit.get_status_display().lower()))
    return ALLOWED


def sanctions_list_can_view(actor: User) -> Decision:
    if actor.has_perm("ops.review_documents") or actor.has_perm("ops.view_audit_trail"):
        return ALLOWED
    return deny(errors.NOT_ALLOWED.format(verb="see the sanctions lists"))


def sanctions_list_can_import(actor: User) -> Decision:
    if actor.has_perm("ops.review_documents"):
        return ALLOWED
    return deny(errors.NOT_ALLOWED.format(verb="import a sanctions list"))


@transaction.atomic(durable=True)
def screening_hit_decide(*, hit_id: int, reviewer: User, true_match: bool, reason: str) -> ScreeningHit:
    """The reviewer's disposition. A true match restricts an approved client and raises its risk."""
    from accounts.services.clients import client_transition
    from ops.services.work_items import work_item_resolve_for_subject

    hit = ScreeningHit.objects.select_for_update().select_related("client").get(pk=hit_id)
    screening_hit_can_decide(reviewer, hit).require(KycError)
    if not reason.strip():
        raise KycError(errors.HIT_RATIONALE_REQUIRED)
    hit.status = HitStatus.TRUE_MATCH if true_match else HitStatus.FALSE_POSITIVE
    hit.decided_by, hit.decided_at, hit.decision_reason = reviewer, timezone.now(), reason.strip()
    hit._change_reason = reason  # type: ignore[attr-defined]
    hit.save()
    audit_record(
        action=AuditAction.SCREENING_HIT_DECIDED,
        subject=hit.client,
        before={"hit": hit.pk, "status": HitStatus.OPEN},
        after={"hit": hit.pk, "status": hit.status, "entry": hit.entry_id},
        reason=reason,
    )
    client = hit.client
    if true_match and client.status == ClientStatus.APPROVED:
        client_transition(
            client_id=client.pk, name="restrict", actor=reviewer, reason=f"screening true match: {hit.entry_name}"
        )
    if not ScreeningHit.objects.filter(client=client, status=HitStatus.OPEN).exists():
        work_item_resolve_for_subject(
            queue="screening_hit", subject=client, code="true_match" if true_match else "false_positive", note=reason
        )
    return hit


def import_file(path: Path, name: str) -> Iterator[ImportProgress]:
    with acting_as(current_actor() or Actor.system("sanctions_import")), path.open(encoding="utf-8") as fh:
        yield from sanctions_import(name=name, source=fh, source_file=path.name)
