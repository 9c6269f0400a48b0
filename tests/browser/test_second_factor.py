"""A new staff member's first sign-in: the password, enrolment of an authenticator app (QR code
and secret), the recovery codes; then a later sign-in with the password and a code from the app."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from ops.roles import Role
from tests.browser.conftest import shot
from tests.factories import PASSWORD, staff
from tests.personas import totp_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _password(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_first_sign_in_enrols_an_authenticator_then_signs_in_with_password_and_code(page) -> None:
    staff(Role.COMPLIANCE, username="cleo")
    page.goto("/clients/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/clients/$"))
    page.get_by_label("Username").fill("cleo")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # enrolment: the QR code is drawn on the page (an SVG, no script), with the secret beside it
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/account/second-factor/enrol/\?next=/clients/$"))
    expect(page.get_by_test_id("otp-qr").locator("svg")).to_be_visible()
    expect(page.get_by_role("link", name="Clients")).to_have_count(0)  # no way around it
    shot(page, "second-factor-enrol")
    secret = page.get_by_test_id("otp-secret").inner_text().replace(" ", "")
    app = TOTP(b32decode(secret))  # the authenticator app, set up with the secret
    page.get_by_label("Code").fill(f"{app.token():06d}")
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/clients/$"))
    expect(page.get_by_test_id("current-user")).to_have_text("cleo")
    page.get_by_role("button", name="Sign out").click()

    # a later sign-in: the password, then a code (a wrong one first)
    _password(page, "cleo")
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not valid")
    page.goto("/payments/")
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
    page.wait_for_timeout(1100)  # django-otp throttles the next try for a second after a wrong code
    page.get_by_label("Code").fill(totp_code(TOTPDevice.objects.get(user__username="cleo")))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    expect(page.get_by_test_id("current-user")).to_have_text("cleo")
