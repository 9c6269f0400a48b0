"""The API is never wider (nor narrower) than the pages: for every persona of ``tests/personas.py``
and every staff API endpoint, the access the page gives and the access the endpoint gives are the
same, each with its own exact status.

| access     | page                          | API                                      |
|------------|-------------------------------|------------------------------------------|
| sign in    | 302 to ``/login/?next=``      | 401 problem ``not_authenticated``        |
| refused    | 403                           | 403 problem ``permission_denied``        |
| not found  | 404 (outside the scope)       | 404                                      |
| allowed    | 200 (a form: 200; a POST: 302)| the endpoint's own status (see ENDPOINTS)|

A registered client for the client endpoints, the payments world (tests/payments/world.py) for the
withdrawal ones. Where the page changes something (a transition), the API meets a twin of the data
in the state the page met. For the lists, the objects each side shows are the same ones too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from tests.factories import client as make_client
from tests.payments.world import World as PaymentsWorld
from tests.payments.world import world as payments_world
from tests.personas import PERSONAS, persona_user, sign_in

pytestmark = pytest.mark.django_db

SIGN_IN, REFUSED, NOT_FOUND, ALLOWED = "sign in", "refused", "not found", "allowed"


class Twin:
    """The test data an endpoint names, made when first named."""

    @cached_property
    def registered(self) -> Any:
        return make_client(first_name="Regina", last_name="Registered")

    @cached_property
    def pay(self) -> PaymentsWorld:
        return payments_world()


@dataclass(frozen=True)
class Endpoint:
    name: str
    page: tuple[str, Callable[[Twin], str], Callable[[Twin], dict[str, Any]] | None]
    api: tuple[str, Callable[[Twin], str], Callable[[Twin], dict[str, Any]] | None]
    api_allowed: int  # what the endpoint answers someone allowed (400: the body is refused on its merits)
    shown: Callable[[Twin], list[str]] | None = None  # a list: the references each side must agree on
    changes: bool = False  # the page's call changes the data: the API meets a twin


def _bad_withdrawal(t: Twin) -> dict[str, Any]:
    """A withdrawal for the payer from an account that is not theirs: past every permission, then a
    400 naming ``source`` (nothing is written)."""
    c = t.pay.payer
    return {
        "client": c.reference, "source": "NOT-AN-ACCOUNT", "amount": "1.00", "method": "card",
        "destination": t.pay.card, "destination_name": c.display_name,
    }  # fmt: skip


# fmt: off
ENDPOINTS = [
    Endpoint(
        "client list",
        ("GET", lambda t: "/clients/", None),
        ("GET", lambda t: "/api/v1/staff/clients/", None), 200,
        shown=lambda t: [t.registered.reference],
    ),
    Endpoint(
        "client detail",
        ("GET", lambda t: f"/clients/{t.registered.pk}/", None),
        ("GET", lambda t: f"/api/v1/staff/clients/{t.registered.pk}/", None), 200,
    ),
    Endpoint(
        "client create",
        ("GET", lambda t: "/clients/new/", None),
        ("POST", lambda t: "/api/v1/staff/clients/", lambda t: {}), 400,
    ),
    Endpoint(
        "client transition",
        ("POST", lambda t: f"/clients/{t.registered.pk}/transition/submit_for_review/", lambda t: {}),
        ("POST", lambda t: f"/api/v1/staff/clients/{t.registered.pk}/transitions/",
         lambda t: {"transition": "submit_for_review"}), 200, changes=True,
    ),
    Endpoint(
        "withdrawal list",
        ("GET", lambda t: "/payments/", None),
        ("GET", lambda t: "/api/v1/staff/withdrawals/", None), 200,
        shown=lambda t: [t.pay.withdrawal.reference],
    ),
    Endpoint(
        "withdrawal detail",
        ("GET", lambda t: f"/payments/withdrawals/{t.pay.withdrawal.pk}/", None),
        ("GET", lambda t: f"/api/v1/staff/withdrawals/{t.pay.withdrawal.pk}/", None), 200,
    ),
    Endpoint(
        "withdrawal entry",
        ("GET", lambda t: f"/payments/clients/{t.pay.payer.pk}/withdrawals/new/", None),
        ("POST", lambda t: "/api/v1/staff/withdrawals/", _bad_withdrawal), 400,
    ),
]
# fmt: on


def _page_access(response: Any, url: str, method: str) -> str:
    status = response.status_code
    if status == 302 and response["Location"] == f"/login/?next={url}":
        return SIGN_IN
    if status == 403:
        return REFUSED
    if status == 404:
        return NOT_FOUND
    if (method, status) == ("GET", 200) or (method == "POST" and status == 302):
        return ALLOWED
    raise AssertionError(f"{method} {url}: unexpected {status}")


def _api_access(response: Any, url: str, allowed: int) -> str:
    status = response.status_code
    if status == 401:  # no credentials: the API's "sign in" (Bearer challenge)
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["type"].endswith("/not_authenticated")
        return SIGN_IN
    if status == 403:
        assert response["Content-Type"] == "application/problem+json"
        kind = response.json()["type"].rsplit("/", 1)[-1]
        return {"not_authenticated": SIGN_IN, "permission_denied": REFUSED}[kind]
    if status == 404:
        return NOT_FOUND
    if status == allowed:
        return ALLOWED
    raise AssertionError(f"{url}: unexpected {status} {response.content[:300]!r}")


def _call(http: Any, method: str, url: str, body: dict[str, Any] | None, *, api: bool) -> Any:
    if method == "GET":
        return http.get(url)
    if api:
        return http.post(url, body or {}, format="json")
    return http.post(url, body or {})


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("name", PERSONAS)
def test_the_api_gives_each_persona_the_access_the_page_gives(name: str, endpoint: Endpoint) -> None:
    page_data = Twin()
    api_data = Twin() if endpoint.changes else page_data
    (page_method, page_url, page_body), (api_method, api_url, api_body) = endpoint.page, endpoint.api
    page_at, api_at = page_url(page_data), api_url(api_data)  # first: the data may make the persona's user
    user = persona_user(name)
    page, api = HttpClient(), APIClient()
    if user is not None:
        sign_in(page, user)
        sign_in(api, user)

    body = page_body(page_data) if page_body else None
    page_response = _call(page, page_method, page_at, body, api=False)
    page_access = _page_access(page_response, page_at, page_method)

    body = api_body(api_data) if api_body else None
    api_response = _call(api, api_method, api_at, body, api=True)
    api_access = _api_access(api_response, api_at, endpoint.api_allowed)

    assert api_access == page_access, (page_response.status_code, api_response.status_code)
    if endpoint.shown is not None and page_access == ALLOWED:
        html = page_response.content.decode()
        listed = {row.get("reference") for row in api_response.json()["results"]}
        on_page = [ref in html for ref in endpoint.shown(page_data)]
        in_api = [ref in listed for ref in endpoint.shown(api_data)]
        assert on_page == in_api
