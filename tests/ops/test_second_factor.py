"""Staff sign in with a password and then a second factor (TOTP, or a one-time recovery code):
enrolment, verification, enforcement on every page, the staff API and the admin, and the
administrator's reset (maker-checker, audited)."""

from __future__ import annotations

from base64 import b32decode
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from tests.factories import PASSWORD, staff
from tests.personas import sign_in, sign_in_password_only, totp_code, totp_device

pytestmark = pytest.mark.django_db

ROLES_THAT_WRITE = [Role.SUPPORT, Role.COMPLIANCE, Role.FINANCE, Role.RISK, Role.ADMIN]


def _password(client: Client, username: str) -> None:
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/")


def _enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    """Through the enrolment page, as a person with an authenticator app."""
    page = client.get("/account/second-factor/enrol/?next=/queues/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(pk=page.context["form"].initial["device"])
    secret = page.context["secret"].replace(" ", "")
    app = TOTP(b32decode(secret))  # what the app computes from the secret it was shown
    response = client.post(
        "/account/second-factor/enrol/", {"device": device.pk, "code": f"{app.token():06d}", "next": "/queues/"}
    )
    assert response.status_code == 200, response.content[:400]
    return device, response.context["codes"]


# --- enforcement --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [*ROLES_THAT_WRITE, Role.AUDITOR])
def test_bad_a_password_alone_reaches_no_page(client: Client, role: Role) -> None:
    """Every role (the auditor too: identity documents, the audit trail's export) needs the second
    factor: with the password alone, a page sends to enrolment, or to the code once enrolled."""
    user = staff(role)
    sign_in_password_only(client, user)
    response = client.get("/queues/")
    assert (response.status_code, response["Location"]) == (302, "/account/second-factor/enrol/?next=/queues/")
    totp_device(user)
    response = client.get("/queues/")
    assert (response.status_code, response["Location"]) == (302, "/account/second-factor/?next=/queues/")
    sign_in(client, user)
    assert client.get("/").status_code == 200


def test_bad_a_password_alone_changes_nothing(client: Client) -> None:
    support = staff(Role.SUPPORT)
    totp_device(support)
    sign_in_password_only(client, support)
    response = client.post("/clients/new/", {"first_name": "Ann"})
    assert (response.status_code, response["Location"]) == (302, "/account/second-factor/?next=/clients/new/")


def test_bad_the_staff_api_and_the_admin_need_the_second_factor(client: Client) -> None:
    admin = staff(Role.ADMIN)
    totp_device(admin)
    sign_in_password_only(client, admin)
    api = client.get("/api/v1/staff/clients/")
    assert api.status_code == 403 and api["Content-Type"] == "application/problem+json"
    assert api.json()["detail"] == errors.SECOND_FACTOR_REQUIRED_API
    response = client.get("/admin/")
    assert (response.status_code, response["Location"]) == (302, "/account/second-factor/?next=/admin/")
    sign_in(client, admin)
    assert client.get("/admin/").status_code == 200


def test_signing_out_needs_no_second_factor(client: Client) -> None:
    sign_in_password_only(client, staff(Role.SUPPORT))
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get("/")["Location"] == "/login/?next=/"


# --- verification -------------------------------------------------------------------------------


def test_good_password_then_totp_signs_in(client: Client) -> None:
    user = staff(Role.COMPLIANCE, username="cleo")
    device = totp_device(user)
    _password(client, "cleo")
    assert client.get("/clients/")["Location"] == "/account/second-factor/?next=/clients/"
    response = client.post("/account/second-factor/", {"code": totp_code(device), "next": "/clients/"})
    assert (response.status_code, response["Location"]) == (302, "/clients/")
    assert client.get("/clients/").status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_SECOND_FACTOR_VERIFIED, actor_label="cleo").exists()


def test_bad_wrong_totp_is_refused_as_a_failed_sign_in(client: Client) -> None:
    user = staff(Role.FINANCE, username="fin")
    device = totp_device(user)
    _password(client, "fin")
    right = totp_code(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post("/account/second-factor/", {"code": wrong, "next": "/payments/"})
    assert response.status_code == 400
    assert errors.SECOND_FACTOR_WRONG in response.content.decode()
    assert client.get("/payments/")["Location"] == "/account/second-factor/?next=/payments/"
    failed = AuditEvent.objects.get(action=AuditAction.STAFF_LOGIN_FAILED)
    assert failed.after == {"username": "fin", "step": "second_factor"}


def test_bad_wrong_codes_lock_the_account_and_end_the_session(client: Client, settings: Any) -> None:
    totp_device(staff(Role.RISK, username="rita"))
    _password(client, "rita")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/account/second-factor/", {"code": "000000"}).status_code == 400
    response = client.post("/account/second-factor/", {"code": "000000"})
    assert response.status_code == 429 and "Sign-in locked" in response.content.decode()
    assert client.get("/")["Location"] == "/login/?next=/"  # the half-signed-in session is over
    assert client.post("/login/", {"username": "rita", "password": PASSWORD}).status_code == 429


# --- enrolment and recovery codes ---------------------------------------------------------------


def test_good_enrolment_shows_the_secret_once_and_issues_recovery_codes(client: Client) -> None:
    user = staff(Role.SUPPORT, username="sue")
    _password(client, "sue")
    page = client.get("/account/second-factor/enrol/")
    html = page.content.decode()
    assert page["Cache-Control"] == "no-store"
    assert "<svg" in html and "<script" not in html.split("</main>")[0]
    assert "otpauth://totp/Back%20office%3Asue?secret=" in html
    # a wrong code confirms nothing
    device = TOTPDevice.objects.get(user=user)
    refused = client.post("/account/second-factor/enrol/", {"device": device.pk, "code": "123456"})
    assert refused.status_code == 400 and not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    device, codes = _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert client.get("/queues/").status_code == 200  # enrolling verified this session
    enrolled = AuditEvent.objects.get(action=AuditAction.STAFF_SECOND_FACTOR_ENROLLED)
    assert enrolled.actor_label == "sue" and enrolled.after["recovery_codes"] == 10
    assert codes[0] not in str(enrolled.after)
    # the secret is never shown again
    again = client.get("/account/second-factor/enrol/")
    assert (again.status_code, again["Location"]) == (302, "/account/second-factor/?next=%2F")


@pytest.mark.parametrize("device", ["abc", "1\x00", "9" * 40, "-1", ""])
def test_bad_a_forged_enrolment_form_starts_again(client: Client, device: str) -> None:
    sign_in_password_only(client, staff())
    response = client.post("/account/second-factor/enrol/", {"device": device, "code": "123456"})
    assert (response.status_code, response["Location"]) == (302, "/account/second-factor/enrol/?next=%2F")


def test_good_recovery_code_works_once(client: Client) -> None:
    user = staff(Role.COMPLIANCE, username="cora")
    _password(client, "cora")
    _, codes = _enrol(client)
    client.post("/logout/")

    _password(client, "cora")
    response = client.post("/account/second-factor/", {"code": codes[3].upper(), "next": "/clients/"})
    assert (response.status_code, response["Location"]) == (302, "/clients/")
    used = AuditEvent.objects.get(action=AuditAction.STAFF_RECOVERY_CODE_USED)
    assert used.after == {"recovery_codes_left": 9}
    client.post("/logout/")

    _password(client, "cora")
    response = client.post("/account/second-factor/", {"code": codes[3]})
    assert response.status_code == 400
    assert client.get("/clients/")["Location"] == "/account/second-factor/?next=/clients/"
    assert StaticDevice.objects.get(user=user).token_set.count() == 9


# --- the administrator's reset (maker-checker) --------------------------------------------------


def test_reset_of_another_staff_members_factor_needs_a_second_admin_and_is_audited(client: Client) -> None:
    victim = staff(Role.SUPPORT, username="sam")
    victim_session = sign_in(Client(), victim)
    sign_in(client, staff(Role.ADMIN, username="ada"))
    response = client.post("/staff/second-factor-reset/", {"reset-user": victim.pk, "reset-reason": "phone lost"})
    request = ApprovalRequest.objects.get(action="staff.reset_second_factor")
    assert (response.status_code, response["Location"]) == (302, f"/approvals/{request.pk}/")
    assert TOTPDevice.objects.filter(user=victim).exists()  # nothing happens before the second admin

    checker = sign_in(Client(), staff(Role.ADMIN, username="abe"))
    decided = checker.post(
        f"/approvals/{request.pk}/decide/",
        {"decision": "approve", "reason": "called sam back", "payload_hash": request.payload_hash},
    )
    assert decided.status_code == 302
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED
    assert not TOTPDevice.objects.filter(user=victim).exists()
    reset = AuditEvent.objects.get(action=AuditAction.STAFF_SECOND_FACTOR_RESET)
    assert reset.subject_id == str(victim.pk) and reset.actor_label == "abe"
    assert reset.before == {"devices": ["Authenticator app"]} and reset.reason.endswith("phone lost")
    # the victim's open session stops being verified at once; they enrol again
    assert victim_session.get("/")["Location"] == "/account/second-factor/enrol/?next=/"


def test_bad_reset_of_ones_own_factor_or_by_a_non_admin_is_refused(client: Client) -> None:
    admin = staff(Role.ADMIN, username="ada")
    sign_in(client, admin)
    own = client.post("/staff/second-factor-reset/", {"reset-user": admin.pk, "reset-reason": "new phone"})
    assert own.status_code == 409 and errors.SECOND_FACTOR_RESET_OWN in own.content.decode()
    no_reason = client.post("/staff/second-factor-reset/", {"reset-user": staff().pk})
    assert no_reason.status_code == 400
    not_enrolled = client.post(
        "/staff/second-factor-reset/", {"reset-user": staff(username="neo").pk, "reset-reason": "x"}
    )
    assert not_enrolled.status_code == 409
    assert errors.SECOND_FACTOR_NOT_ENROLLED.format(username="neo") in not_enrolled.content.decode()
    support = Client()
    sign_in(support, staff(Role.SUPPORT))
    assert support.post("/staff/second-factor-reset/", {"reset-user": admin.pk, "reset-reason": "x"}).status_code == 403
    assert not ApprovalRequest.objects.exists()
