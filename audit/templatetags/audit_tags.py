from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for the fields that differ; a field only in `after` was set."""
    before, after = before or {}, after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return [(k, before.get(k, "—"), after.get(k, "—")) for k in keys if before.get(k, "—") != after.get(k, "—")]
