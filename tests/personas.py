"""The fixed people of the access tests (Healthchecks' alice/bob/charlie, Zulip's hamlet/iago).

Every page and endpoint is tried by:
- ``anonymous``: not signed in;
- ``nobody``: a signed-in staff member holding no role (no permission at all);
- ``desk``: a desk-scoped staff member: every permission that acts on a client (registering,
  reviewing, restricting, risk, leverage) granted directly, but no role that sees every client —
  only per-object access to one *other* client. For any client object of the world it is "a role
  with the permission, outside the object's scope";
- each role of ``ops.roles.Role`` by its code (``support``, ``compliance``, ...): for one page a
  role without the permission, for another the right role, or outside the scope of a queue or an
  approval level.

``persona(name)`` signs the test client in as that person and returns it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client as HttpClient
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from ops.models import User
from ops.roles import Role
from tests.factories import client as make_client
from tests.factories import staff

ANONYMOUS, NOBODY, DESK = "anonymous", "nobody", "desk"
PERSONAS = (ANONYMOUS, NOBODY, DESK, *Role.values)

# What a desk-scoped person may do to the clients they were given (but not the right to see every
# client: ops.view_client_status).
DESK_PERMISSIONS = ("manage_clients", "review_documents", "restrict_account", "set_risk_level", "change_leverage")


def desk_user(*clients: Any, permissions: Iterable[str] = DESK_PERMISSIONS, username: str | None = None) -> User:
    """A desk-scoped staff member: ``permissions`` (``ops`` codenames) granted directly, no view
    of every client, and per-object access to ``clients`` only."""
    user = staff(username=username) if username else staff()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="ops", codename__in=list(permissions)))
    for client in clients:
        assign_perm("accounts.view_client_record", user, client)
    return user


def persona_user(name: str) -> User | None:
    """The persona's user; a role persona the test data already made (e.g. the owner of a work
    item) is that same user."""
    if name == ANONYMOUS:
        return None
    existing = User.objects.filter(username=name).first()
    if existing is not None:
        return existing
    if name == NOBODY:
        return staff(username="nobody")
    if name == DESK:
        return desk_user(make_client(first_name="Other", last_name="Desk"), username=DESK)
    return staff(Role(name), username=name)


def totp_device(user: User) -> TOTPDevice:
    """``user``'s confirmed authenticator, made when they have none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    """The code ``device``'s authenticator app would show now, for a time step the device has not
    accepted yet (django-otp refuses a code used before; a second sign-in within the same 30 s
    takes the next step, which the device's tolerance accepts, or waits for it)."""
    device.refresh_from_db()
    now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    step = max(now.t(), device.last_t + 1)
    while step > now.t() + device.tolerance:
        time.sleep(1)
    return str(hotp(device.bin_key, step, digits=device.digits)).zfill(device.digits)


def sign_in(http: HttpClient, user: User) -> HttpClient:
    """Sign ``user`` in on the test client ``http``: the one way tests sign staff in, so that what
    a signed-in session must carry is set in one place: the password step (``force_login``) and
    a verified second factor, recorded in the session under django-otp's public key the way
    ``django_otp.login(request, device)`` records it."""
    http.force_login(user)
    session = http.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()
    return http


def sign_in_password_only(http: HttpClient, user: User) -> HttpClient:
    """The password step alone: a session that has not passed the second factor."""
    http.force_login(user)
    return http


@pytest.fixture
def persona(client: HttpClient, db: None) -> Callable[[str], HttpClient]:
    """``persona("compliance")``: the test client, signed in as that persona (see the module)."""

    def as_persona(name: str) -> HttpClient:
        assert name in PERSONAS, name
        user = persona_user(name)
        if user is not None:
            sign_in(client, user)
        return client

    return as_persona
