"""Finding 8 of issue 14: every response carries the strict Content-Security-Policy (django-csp)
and the other security headers Django's middleware sends; no template holds inline script, an
inline event handler or a style attribute (the policy would block them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponseBase
from django.test import Client as HttpClient

from ops.roles import Role
from tests.factories import staff
from tests.payments.test_access import PAGES as PAYMENT_PAGES
from tests.payments.world import World as PaymentsWorld
from tests.payments.world import world as make_payments_world
from tests.personas import persona, sign_in
from tests.test_access import LOGIN, PAGES, World, world

pytestmark = pytest.mark.django_db

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# The page rows of the access matrix that show a page (GET, 200), one per URL pattern.
SHOWN = list({row.url: row for row in PAGES if row.method == "GET" and row.expected == 200}.values())
# And what is not a page of a role: refusals, redirects, errors, login, admin, static, API.
OTHER = [
    ("anonymous", "/login/", 200),
    ("anonymous", "/clients/", 302),
    ("anonymous", "/healthz", 200),
    ("anonymous", "/static/css/app.css", 200),
    ("anonymous", "/static/js/sla.js", 200),
    ("anonymous", "/admin/login/", 200),
    ("anonymous", "/no-such-page/", 404),
    ("support", "/no-such-page/", 404),
    ("support", "/audit/", 403),
    ("support", "/api/v1/staff/clients/", 200),
    ("support", "/api/v1/schema/", 200),
    ("admin", "/admin/", 200),
    ("admin", "/admin/kyc/riskfactor/", 200),
    ("admin", "/admin/ops/user/", 200),
]


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().partition(" ")[::2] for part in header.split(";"))


def assert_security_headers(response: HttpResponseBase) -> None:
    assert directives(response["Content-Security-Policy"]) == CSP
    for header, value in SECURITY_HEADERS.items():
        assert response[header] == value, (header, response.get(header))


@pytest.mark.parametrize("row", SHOWN, ids=str)
def test_every_page_carries_the_policy(row: object, persona: Callable[[str], HttpClient], world: World) -> None:
    url = world.url(row.url)  # type: ignore[attr-defined]
    response = persona(row.persona).get(url)  # type: ignore[attr-defined]
    assert response.status_code == 200
    if url.endswith("/file/"):  # the identity document itself: its own sandboxing policy (tests/kyc)
        assert response["Content-Security-Policy"].endswith("sandbox")
        return
    assert_security_headers(response)


@pytest.fixture
def payments_world() -> PaymentsWorld:
    return make_payments_world()


@pytest.mark.parametrize(("page", "url"), PAYMENT_PAGES, ids=[page for page, _ in PAYMENT_PAGES])
def test_every_payments_page_carries_the_policy(
    page: str, url: Callable[[PaymentsWorld], str], client: HttpClient, payments_world: PaymentsWorld
) -> None:
    sign_in(client, staff(Role.FINANCE))
    response = client.get(url(payments_world))
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.parametrize(("who", "url", "status"), OTHER, ids=[f"{w} {u}" for w, u, _ in OTHER])
def test_refusals_errors_admin_and_static_carry_the_policy(who: str, url: str, status: int, client: HttpClient) -> None:
    if who != "anonymous":
        user = staff(Role(who), username=who)
        if who == "admin":
            user.is_staff = user.is_superuser = True
            user.save()
        sign_in(client, user)
    response = client.get(url)
    assert response.status_code == status
    if url.startswith("/static/"):  # WhiteNoise answers before the framing and referrer middleware
        assert directives(response["Content-Security-Policy"]) == CSP
        assert response["X-Content-Type-Options"] == "nosniff"
        return
    assert_security_headers(response)


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_holds_inline_script_or_style() -> None:
    found = []
    for template in sorted(Path(settings.BASE_DIR, "templates").rglob("*.html")):
        text = template.read_text()
        found += [f"{template.name}: {what}" for pattern, what in INLINE if pattern.search(text)]
    assert found == []


__all__ = ["LOGIN", "persona", "world"]  # fixtures used by name
