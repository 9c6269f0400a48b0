from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import get_objects_for_user

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.errors import OpsError
from ops.models import User
from ops.roles import Role
from ops.services.staff import staff_create, staff_object_permission_grant, staff_role_grant, staff_role_revoke
from tests.factories import staff

pytestmark = pytest.mark.django_db


def test_good_staff_create_is_audited_and_in_history() -> None:
    user = staff_create(username="dana", email="dana@example.test", password=None, roles=[Role.FINANCE], reason="hired")
    assert user.roles == [Role.FINANCE]
    event = AuditEvent.objects.get(action=AuditAction.STAFF_USER_CREATED)
    assert event.subject_id == str(user.pk) and event.reason == "hired"
    record = user.history.get()
    assert record.history_actor == "system:pytest" and record.history_change_reason == "hired"
    assert not hasattr(record, "password")  # password hashes are not kept in history


def test_good_role_grant_and_revoke_record_before_and_after() -> None:
    user = staff(Role.SUPPORT)
    staff_role_grant(user=user, role="compliance", reason="promotion")
    staff_role_revoke(user=user, role=Role.SUPPORT, reason="promotion")
    granted, revoked = AuditEvent.objects.filter(subject_id=str(user.pk)).order_by("id")
    assert granted.before == {"roles": ["support"]} and granted.after == {"roles": ["compliance", "support"]}
    assert revoked.after == {"roles": ["compliance"]}
    assert User.objects.get(pk=user.pk).roles == [Role.COMPLIANCE]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda u: staff_role_grant(user=u, role="wizard", reason="x"), "Unknown role 'wizard'"),
        (lambda u: staff_role_grant(user=u, role="support", reason="x"), "already has the support role"),
        (lambda u: staff_role_revoke(user=u, role="finance", reason="x"), "does not have the finance role"),
        (lambda u: staff_role_grant(user=u, role="finance", reason="  "), errors.REASON_REQUIRED),
    ],
)
def test_bad_role_changes_are_refused_and_change_nothing(call, message: str) -> None:
    user = staff(Role.SUPPORT)
    with pytest.raises(OpsError, match=message):
        call(user)
    assert User.objects.get(pk=user.pk).roles == [Role.SUPPORT]
    assert not AuditEvent.objects.exists()


def test_bad_duplicate_username_is_refused() -> None:
    staff(username="erin")
    with pytest.raises(OpsError, match="already exists"):
        staff_create(username="ERIN", email="e@example.test", password=None, roles=[], reason="x")


def test_object_permissions_through_guardian() -> None:
    """Per-object access: a user may see one group's record and not another's."""
    viewer = staff()
    desk_a, desk_b = Group.objects.create(name="desk-a"), Group.objects.create(name="desk-b")
    staff_object_permission_grant(user=viewer, permission="auth.view_group", obj=desk_a, reason="desk A lead")
    assert viewer.has_perm("auth.view_group", desk_a)
    assert not viewer.has_perm("auth.view_group", desk_b)
    assert not viewer.has_perm("auth.view_group")  # no global permission
    assert list(get_objects_for_user(viewer, "auth.view_group")) == [desk_a]
    assert AuditEvent.objects.filter(
        action=AuditAction.STAFF_OBJECT_PERMISSION_GRANTED, subject_id=str(desk_a.pk)
    ).exists()
