"""Names for what ops stores as keys: maker-checker actions and staff roles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from ops.approvals import get_action
from ops.errors import OpsError
from ops.models import ApprovalRequest
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
def approval_payload(request: ApprovalRequest) -> dict[str, Any]:
    """The payload as the action shows it to a checker (its own fields when it says nothing)."""
    try:
        show = get_action(request.action).show
    except OpsError:
        show = None
    return show(request.payload) if show is not None else dict(request.payload)


@register.filter
def role_label(value: str) -> str:
    return str(Role(value).label) if value in Role.values else value


@register.filter
def role_labels(values: Iterable[str]) -> list[str]:
    return [role_label(v) for v in values]
