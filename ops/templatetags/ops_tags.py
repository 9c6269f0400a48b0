"""Names for what ops stores as keys: maker-checker actions and staff roles."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from ops.approvals import get_action
from ops.errors import OpsError
from ops.roles import Role

register = template.Library()


@register.filter
def approval_action_label(key: str) -> str:
    """'staff.grant_role' -> 'Grant a staff role'."""
    try:
        return get_action(key).label
    except OpsError:
        return key


@register.filter
def role_label(value: str) -> str:
    return str(Role(value).label) if value in Role.values else value


@register.filter
def role_labels(values: Iterable[str]) -> list[str]:
    return [role_label(v) for v in values]
