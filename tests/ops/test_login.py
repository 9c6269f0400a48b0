from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.roles import Role
from tests.factories import PASSWORD, staff
from tests.personas import sign_in, totp_code, totp_device

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/audit/", "/audit/export.csv"])
def test_every_page_needs_a_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_health_check_is_open(client: Client) -> None:
    assert client.get("/healthz").content == b"ok"


def test_good_login_and_logout_are_audited_with_request_id_and_ip(client: Client) -> None:
    user = staff(Role.SUPPORT, username="sam")
    device = totp_device(user)
    response = client.post("/login/", {"username": "sam", "password": PASSWORD}, HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 302 and response["X-Request-ID"] == "req-12345678"
    login = AuditEvent.objects.get(action=AuditAction.STAFF_LOGIN)
    assert (login.actor_label, login.subject_id) == ("sam", str(user.pk))
    assert login.request_id == "req-12345678" and login.ip == "127.0.0.1"
    assert client.get("/")["Location"] == "/account/second-factor/?next=/"  # then the second factor
    assert client.post("/account/second-factor/", {"code": totp_code(device)})["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_LOGOUT, actor_label="sam").exists()
    assert client.get("/").status_code == 302


def test_bad_password_is_refused_and_audited(client: Client) -> None:
    staff(username="sam")
    response = client.post("/login/", {"username": "sam", "password": "wrong"})
    assert response.status_code == 200 and b"didn't match" in response.content
    failed = AuditEvent.objects.get(action=AuditAction.STAFF_LOGIN_FAILED)
    assert failed.after == {"username": "sam"} and failed.actor_label == "system:auth"


def test_session_expires_after_idle_time(client: Client) -> None:
    sign_in(client, staff())
    assert client.get("/").status_code == 200
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_login_stamps_last_login_without_a_history_row(client: Client) -> None:
    user = staff(username="lee")
    rows_before = user.history.count()
    client.post("/login/", {"username": "lee", "password": PASSWORD})
    user.refresh_from_db()
    assert user.last_login is not None
    assert user.history.count() == rows_before
