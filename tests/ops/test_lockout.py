"""Failed sign-ins are throttled per account and per IP (django-axes): the lockout page, the
cool-off, and an administrator's audited unlock. Every failure is Django's ``user_login_failed``
signal (the audit trail's staff.login_failed events and axes' records are built from it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.roles import Role
from tests.factories import PASSWORD, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_bad_twelve_wrong_passwords_then_the_right_one_is_refused(client: Client, settings: Any) -> None:
    """Per account: each wrong password from another address, and the right one from yet another."""
    staff(Role.FINANCE, username="sam")
    for i in range(12):
        refused = 200 if i + 1 < settings.AXES_FAILURE_LIMIT else 429  # the form again, then the lockout page
        assert _login(client, "sam", f"guess-{i}", ip=f"10.0.0.{i + 1}").status_code == refused
    response = _login(client, "sam", PASSWORD, ip="10.0.1.1")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in locked" in page and "Too many failed sign-ins for sam" in page and "0:15:00" in page
    assert client.get("/")["Location"] == "/login/?next=/"
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_LOGIN_FAILED).count() == 13
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_LOCKED_OUT, after__username="sam").exists()
    assert not AuditEvent.objects.filter(action=AuditAction.STAFF_LOGIN).exists()


def test_bad_the_limit_is_reached_exactly(client: Client, settings: Any) -> None:
    staff(username="sam")
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "sam", "wrong", ip=f"10.0.0.{i + 1}").status_code == 200
    assert _login(client, "sam", PASSWORD, ip="10.0.1.1").status_code == 302  # one below the limit: in


def test_bad_wrong_passwords_across_accounts_from_one_ip_lock_that_ip(client: Client) -> None:
    """Password spraying: one wrong password on each of seven accounts from one address."""
    for n in range(7):
        staff(username=f"user{n}")
        _login(client, f"user{n}", "Summer2026!", ip="203.0.113.9")
    staff(username="bystander")
    assert _login(client, "bystander", PASSWORD, ip="203.0.113.9").status_code == 429
    # the accounts themselves are not locked: from another address the right password works
    assert _login(Client(), "user0", PASSWORD, ip="198.51.100.1").status_code == 302
    locked = AuditEvent.objects.filter(action=AuditAction.STAFF_LOCKED_OUT, after__ip="203.0.113.9")
    assert locked.exists()


def test_lockout_ends_after_the_cool_off(client: Client, settings: Any) -> None:
    staff(username="sam")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "sam", "wrong", ip=f"10.0.0.{i + 1}")
    assert _login(client, "sam", PASSWORD, ip="10.0.1.1").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert _login(client, "sam", PASSWORD, ip="10.0.1.1").status_code == 302


def test_admin_unlocks_with_a_reason_and_it_is_audited(client: Client, settings: Any) -> None:
    victim = staff(Role.SUPPORT, username="sam")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "sam", "wrong", ip=f"10.0.0.{i + 1}")
    assert _login(Client(), "sam", PASSWORD, ip="10.0.1.1").status_code == 429

    sign_in(client, staff(Role.ADMIN, username="ada"))
    page = client.get("/staff/")
    assert [(lock.kind, lock.value) for lock in page.context["lockouts"]] == [("username", "sam")]
    no_reason = client.post("/staff/unlock/", {"kind": "username", "value": "sam", "reason": ""})
    assert no_reason.status_code == 400
    assert _login(Client(), "sam", PASSWORD, ip="10.0.1.2").status_code == 429

    response = client.post("/staff/unlock/", {"kind": "username", "value": "sam", "reason": "called sam back"})
    assert (response.status_code, response["Location"]) == (302, "/staff/")
    cleared = AuditEvent.objects.get(action=AuditAction.STAFF_LOCKOUT_CLEARED)
    assert (cleared.actor_label, cleared.subject_id, cleared.reason) == ("ada", str(victim.pk), "called sam back")
    assert _login(Client(), "sam", PASSWORD, ip="10.0.1.3").status_code == 302

    again = client.post("/staff/unlock/", {"kind": "username", "value": "sam", "reason": "again"})
    assert again.status_code == 409 and errors.LOCKOUT_NOT_FOUND.format(what="sam") in again.content.decode()


def test_bad_only_admins_unlock(client: Client) -> None:
    sign_in(client, staff(Role.COMPLIANCE))
    assert client.post("/staff/unlock/", {"kind": "ip", "value": "10.0.0.1", "reason": "x"}).status_code == 403
