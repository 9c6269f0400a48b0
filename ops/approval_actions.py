"""The foundation's own maker-checker actions: granting a staff role, and resetting another staff
member's second factor.

Granting any role needs an administrator other than the maker (a second admin for the admin
role). Once executed, the grant lands in the staff access review queue for compliance."""

from __future__ import annotations

from typing import Any

from django.db import models
from django_otp import user_has_device

from ops import errors
from ops.approvals import ApprovalAction, Payload, register
from ops.errors import OpsError
from ops.models import User
from ops.roles import Role


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


def _policy(subject: models.Model, payload: Payload) -> list[Role]:
    return [Role.ADMIN]


def _execute(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.staff import staff_role_grant
    from ops.services.work_items import work_item_open

    user = _user(subject)
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
