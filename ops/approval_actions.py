"""The foundation's own maker-checker actions: granting a staff role, and resetting another staff
member's second factor.

Granting a role needs an administrator other than the maker; granting the administrator role, or
any role to someone who is an administrator, is checked by compliance instead — by a compliance
officer who is not an administrator themselves (segregation of duties: administrators do not
check each other's access). Nobody asks for a role for themselves (the engine refuses it), and a
grant that would give someone an incompatible pair of roles (``ops.roles.INCOMPATIBLE_ROLES``) is
refused when it is asked for and again when it is approved. Once executed, the grant lands in the
staff access review queue for compliance."""

from __future__ import annotations

from typing import Any

from django.db import models
from django_otp import user_has_device

from ops import errors
from ops.approvals import ApprovalAction, Payload, register
from ops.errors import OpsError
from ops.models import User
from ops.roles import Role
from ops.selectors import role_grant_conflict, roles_assigned


def _user(subject: models.Model) -> User:
    if not isinstance(subject, User) or not subject.is_active:
        raise OpsError("The staff user no longer exists or is inactive.")
    return subject


def _validate(subject: models.Model, payload: Payload) -> None:
    user = _user(subject)
    role = payload.get("role")
    if role not in Role.values:
        raise OpsError(errors.UNKNOWN_ROLE.format(role=role, choices=", ".join(Role.values)))
    if role in user.roles:  # role administration: the groups the user is in
        raise OpsError(errors.ROLE_ALREADY_HELD.format(username=user.username, role=role))
    if conflict := role_grant_conflict(user, role):  # again at approval: the engine validates then
        raise OpsError(conflict)


def _policy(subject: models.Model, payload: Payload) -> list[Role]:
    if payload.get("role") == Role.ADMIN or Role.ADMIN.value in roles_assigned(_user(subject)):
        return [Role.COMPLIANCE]
    return [Role.ADMIN]


def _execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.staff import staff_role_grant
    from ops.services.work_items import work_item_open

    user = _user(subject)
    # The person may have become an administrator since the request: then an administrator's
    # approval no longer suffices (and the other way round the request is checked too strictly,
    # which is refused as well so the levels always match who the person is now).
    levels = [r.value for r in _policy(user, payload)]
    if levels != list(request.required_roles):
        raise OpsError(errors.GRANT_LEVELS_CHANGED.format(username=user.username, role=levels[0]))
    staff_role_grant(user=user, role=payload["role"], reason=f"approval #{request.pk}: {request.reason}")
    item = work_item_open(
        queue="access_review",
        subject=user,
        title=f"Access review: {user.username} was granted {payload['role']}",
        risk_level="high" if payload["role"] == Role.ADMIN else "medium",
        details={"approval_request": request.pk, "role": payload["role"]},
    )
    return {"granted": payload["role"], "access_review_item": item.pk}


def _describe(subject: models.Model, payload: Payload) -> str:
    return f"Grant the {payload.get('role')} role to {getattr(subject, 'username', subject)}"


STAFF_GRANT_ROLE = register(
    ApprovalAction(
        key="staff.grant_role",
        label="Grant a staff role",
        subject_model=User,
        maker_permission="ops.manage_staff",
        policy=_policy,
        validate=_validate,
        execute=_execute,
        describe=_describe,
        checkers_may_not_hold={Role.COMPLIANCE: frozenset({Role.ADMIN})},
    )
)


# --- resetting another staff member's second factor ----------------------------------------------


def _reset_validate(subject: models.Model, payload: Payload) -> None:
    user = _user(subject)
    if not user_has_device(user, confirmed=None):
        raise OpsError(errors.SECOND_FACTOR_NOT_ENROLLED.format(username=user.username))


def _reset_execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.second_factor import second_factor_reset

    removed = second_factor_reset(user=_user(subject), reason=f"approval #{request.pk}: {request.reason}")
    return {"removed": removed}


def _reset_describe(subject: models.Model, payload: Payload) -> str:
    return f"Reset the second factor of {getattr(subject, 'username', subject)}"


STAFF_RESET_SECOND_FACTOR = register(
    ApprovalAction(
        key="staff.reset_second_factor",
        label="Reset a staff member's second factor",
        subject_model=User,
        maker_permission="ops.manage_staff",
        policy=_policy,
        validate=_reset_validate,
        execute=_reset_execute,
        describe=_reset_describe,
        expires_after_hours=24,
    )
)
