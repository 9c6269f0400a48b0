"""Showing audit events (and other references to records) to people: names and links instead of
internal identifiers, and compact before → after changes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from audit.context import ActorKind
from audit.models import AuditEvent
from audit.selectors import SubjectRef, subject_ref, subject_refs

register = template.Library()

SHORT = 40  # characters of a long value shown before it is folded into <details>


@dataclass(frozen=True)
class Value:
    full: str
    ref: SubjectRef | None = None  # the record a value like "payments.deposit:6" points at

    @property
    def long(self) -> bool:
        """A long token (a hash, a JSON blob) is folded; words wrap, unless there are very many."""
        return len(self.full) > SHORT and (" " not in self.full or len(self.full) > 3 * SHORT)

    @property
    def short(self) -> str:
        return self.full[: SHORT - 1] + "…" if self.long else self.full


@dataclass(frozen=True)
class Change:
    field: str
    old: Value | None  # None: the field was set (not in "before")
    new: Value | None  # None: the field was removed


_REFERENCE = re.compile(r"^([a-z_]+\.[a-z_]+):(\d+)(?::(\w+))?$")
_UTC_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$")


def _value(value: Any) -> Value:
    if isinstance(value, dict | list):
        return Value(json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False))
    if value is None or value == "":
        return Value("—")
    text = str(value)
    if stamp := _UTC_TIMESTAMP.match(text):  # as the pages show times: "2026-05-02 14:03:07" (UTC)
        return Value(f"{stamp[1]} {stamp[2]}")
    return Value(text)


@register.simple_tag
def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """One line per field that differs; a field only in `after` was set. A value that points at a
    record ("payments.deposit:6", as a statement line's match) is shown by the record's name."""
    before, after = before or {}, after or {}
    pointers: dict[str, re.Match[str]] = {}
    for raw in [*before.values(), *after.values()]:
        if isinstance(raw, str) and (match := _REFERENCE.match(raw)):
            pointers[raw] = match
    refs = subject_refs((m[1], m[2]) for m in pointers.values()) if pointers else {}

    def value(raw: Any) -> Value:
        if isinstance(raw, str) and raw in pointers:
            m = pointers[raw]
            ref = refs[(m[1], m[2])]
            return Value(raw, ref=replace(ref, name=f"{ref.name} ({m[3]})") if m[3] else ref)
        return _value(raw)

    missing = object()
    changes = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key, missing), after.get(key, missing)
        if old == new:
            continue
        changes.append(
            Change(
                field=key.replace("_", " "),
                old=None if old is missing else value(old),
                new=None if new is missing else value(new),
            )
        )
    return changes


@register.filter
def actor_name(event: AuditEvent) -> str:
    """'system:accounts.tasks.trading_account_provision_task' -> 'trading account provision' (the
    kind is shown beside it); staff and partners by their label."""
    label = event.actor_label
    if event.actor_kind in (ActorKind.SYSTEM, ActorKind.AUTOMATION):
        job = label.split(":", 1)[-1].rsplit(".", 1)[-1].removesuffix("_task")
        return job.replace("_", " ")
    return label


@register.filter
def with_subjects(events: Iterable[AuditEvent]) -> list[tuple[AuditEvent, SubjectRef]]:
    """Events paired with the named record each is about (one query per kind of record)."""
    events = list(events)
    refs = subject_refs((e.subject_type, e.subject_id) for e in events)
    return [(e, refs[(e.subject_type, e.subject_id)]) for e in events]


@register.filter
def with_refs(objects: Iterable[Any], attr: str) -> list[tuple[Any, SubjectRef | None]]:
    """Objects paired with the record their ``attr`` points at, written "app.model:id" with an
    optional ":note" (e.g. a statement line's "payments.deposit:6:return")."""
    objects = list(objects)
    parsed: dict[int, tuple[str, str, str]] = {}
    for i, obj in enumerate(objects):
        parts = (getattr(obj, attr) or "").split(":")
        if len(parts) >= 2:
            parsed[i] = (parts[0], parts[1], " ".join(parts[2:]).replace("_", " "))
    refs = subject_refs((t, pk) for t, pk, _ in parsed.values())
    paired: list[tuple[Any, SubjectRef | None]] = []
    for i, obj in enumerate(objects):
        if i not in parsed:
            paired.append((obj, None))
            continue
        subject_type, subject_id, note = parsed[i]
        ref = refs[(subject_type, subject_id)]
        paired.append((obj, replace(ref, name=f"{ref.name} ({note})") if note else ref))
    return paired


@register.filter
def omit(values: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """A dict without one key (shown elsewhere on the page)."""
    return {k: v for k, v in (values or {}).items() if k != key}


@register.filter
def ref(obj: models.Model | None) -> SubjectRef | None:
    return subject_ref(obj) if obj is not None else None


@register.inclusion_tag("audit/_subject.html")
def subject_link(ref: SubjectRef | None, kind: bool = True) -> dict[str, Any]:
    return {"ref": ref, "kind": kind}
