"""Staff users and their roles. Every change is audited in its own transaction."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import models, transaction
from guardian.shortcuts import assign_perm

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.errors import OpsError
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny
from ops.roles import Role, role_conflicts
from ops.selectors import role_grant_conflict


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise OpsError(errors.UNKNOWN_ROLE.format(role=value, choices=", ".join(r.value for r in Role))) from None


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise OpsError(errors.REASON_REQUIRED)
    return reason


@transaction.atomic(durable=True)
def staff_create(*, username: str, email: str, password: str | None, roles: list[str | Role], reason: str) -> User:
    reason = _require_reason(reason)
    wanted = [_role(r) for r in roles]
    if conflicts := role_conflicts(set(wanted)):
        first, second, why = conflicts[0]
        raise OpsError(errors.ROLE_CONFLICT.format(username=username, held=first.value, role=second.value, reason=why))
    if User.objects.filter(username__iexact=username).exists():
        raise OpsError(errors.USERNAME_TAKEN.format(username=username))
    user = User(username=username, email=email)
    user._change_reason = reason  # type: ignore[attr-defined]
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    user.groups.set(Group.objects.filter(name__in=[r.value for r in wanted]))
    audit_record(
        action=AuditAction.STAFF_USER_CREATED,
        subject=user,
        after={"username": username, "email": email, "roles": sorted(r.value for r in wanted)},
        reason=reason,
    )
    return user


@transaction.atomic  # composed: runs inside the approval of a grant
def staff_role_grant(*, user: User, role: str | Role, reason: str) -> None:
    reason = _require_reason(reason)
    role = _role(role)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = sorted(g.name for g in user.groups.all())
    if role.value in before:
        raise OpsError(errors.ROLE_ALREADY_HELD.format(username=user.username, role=role.value))
    if conflict := role_grant_conflict(user, role.value):
        raise OpsError(conflict)
    user.groups.add(Group.objects.get(name=role.value))
    audit_record(
        action=AuditAction.STAFF_ROLE_GRANTED,
        subject=user,
        before={"roles": before},
        after={"roles": sorted([*before, role.value])},
        reason=reason,
    )


@transaction.atomic(durable=True)
def staff_role_revoke(*, user: User, role: str | Role, reason: str) -> None:
    reason = _require_reason(reason)
    role = _role(role)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = sorted(g.name for g in user.groups.all())
    if role.value not in before:
        raise OpsError(errors.ROLE_NOT_HELD.format(username=user.username, role=role.value))
    user.groups.remove(Group.objects.get(name=role.value))
    audit_record(
        action=AuditAction.STAFF_ROLE_REVOKED,
        subject=user,
        before={"roles": before},
        after={"roles": [r for r in before if r != role.value]},
        reason=reason,
    )


@transaction.atomic(durable=True)
def staff_object_permission_grant(*, user: User, permission: str, obj: models.Model, reason: str) -> None:
    """Per-object access (desk- or partner-scoped), through django-guardian."""
    reason = _require_reason(reason)
    assign_perm(permission, user, obj)
    audit_record(
        action=AuditAction.STAFF_OBJECT_PERMISSION_GRANTED,
        subject=obj,
        after={"user": user.username, "permission": permission},
        reason=reason,
    )


def staff_can_view(actor: User) -> Decision:
    """The staff page: who holds which role (administrators, and auditors reading)."""
    if actor.has_perm("ops.manage_staff") or actor.has_perm("ops.view_audit_trail"):
        return ALLOWED
    return deny(errors.STAFF_NOT_ALLOWED)
