"""Hostile values in every query parameter and body field of every staff API endpoint: a NUL byte,
an over-long text, a lone surrogate, a huge integer, 1e20, a value of the wrong JSON type. Each is a
400 problem naming the field, never a 500, and nothing is written; a free-text filter takes what is
only text (a number, a replacement character) and answers 200.

The caller holds every role the endpoint needs (finance for withdrawals, support for clients), so
the value, not the permission, decides.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Client
from audit.models import AuditEvent
from ops.roles import Role
from payments.models import Withdrawal
from payments.services.ledger import wallet_for
from tests.factories import approved_client, card_deposit, staff
from tests.factories import client as make_client
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

NUL, LONG, SURROGATE, HUGE, FLOAT, LIST, OBJECT = "nul", "long", "surrogate", "huge", "1e20", "list", "object"

# As JSON text (a lone surrogate can only be sent that way: Python's json would not write it raw).
BODY_VALUES = {
    NUL: '"a\\u0000b"',
    LONG: json.dumps("x" * 10_000),
    SURROGATE: '"\\ud800"',
    HUGE: str(10**30),
    FLOAT: "1e20",
    LIST: '["a"]',
    OBJECT: '{"a": 1}',
}
# As a query string's value (percent-encoded bytes; ED A0 80 is a surrogate in UTF-8's form).
QUERY_VALUES = {NUL: "a%00b", LONG: "x" * 5_000, SURROGATE: "%ED%A0%80", HUGE: "9" * 40, FLOAT: "1e20"}
FREE_TEXT = {"q", "manager"}  # searches: a number or a replacement character is only text


def _client_body() -> dict[str, Any]:
    return {
        "kind": "individual", "first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1976-12-09",
        "country": "US", "email": "grace@example.test", "phone": "+1 202 555 0143", "account_type": "pro",
        "base_currency": "USD", "nationality": "US", "address_line": "1 Main St", "city": "Arlington",
        "postcode": "22201", "segment": "retail", "tags": ["vip"], "legal_name": "", "registration_number": "",
    }  # fmt: skip


CLIENT_FIELDS = [*_client_body(), "account_manager"]
TRANSITION_FIELDS = ["transition", "reason", "force"]
WITHDRAWAL_FIELDS = ["client", "source", "amount", "method", "destination", "destination_name"]


def _written() -> tuple[int, int, int]:
    return Client.objects.count(), Withdrawal.objects.count(), AuditEvent.objects.count()


def _api(role: Role) -> APIClient:
    api = APIClient()
    sign_in(api, staff(role))
    return api


def _problem(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"], response.json()


def _post(api: APIClient, url: str, body: dict[str, Any], field: str, value: str) -> Any:
    text = json.dumps({k: v for k, v in body.items() if k != field})
    text = text[:-1] + (", " if len(text) > 2 else "") + f'"{field}": {value}' + "}"
    return api.generic("POST", url, text, content_type="application/json")


CLIENT_CASES = [(f, k) for f in CLIENT_FIELDS for k in BODY_VALUES if (f, k) != ("tags", LIST)]  # tags: a list


@pytest.mark.parametrize(("field", "kind"), CLIENT_CASES)
def test_bad_hostile_value_in_a_client_create_field_is_a_400_naming_it(field: str, kind: str) -> None:
    api = _api(Role.SUPPORT)
    before = _written()
    _problem(_post(api, "/api/v1/staff/clients/", _client_body(), field, BODY_VALUES[kind]), field)
    assert _written() == before


@pytest.mark.parametrize("kind", list(BODY_VALUES))
@pytest.mark.parametrize("field", TRANSITION_FIELDS)
def test_bad_hostile_value_in_a_transition_field_is_a_400_naming_it(field: str, kind: str) -> None:
    c = make_client()
    api = _api(Role.SUPPORT)
    before = _written()
    url = f"/api/v1/staff/clients/{c.pk}/transitions/"
    _problem(_post(api, url, {"transition": "submit_for_review", "reason": "ok"}, field, BODY_VALUES[kind]), field)
    assert _written() == before


def _withdrawal_body() -> dict[str, Any]:
    c = approved_client(provision=False)
    card = card_deposit(c, "1000.00").payer_account
    return {
        "client": c.reference, "source": wallet_for(client=c, currency="EUR").code, "amount": "100.00",
        "method": "card", "destination": card, "destination_name": c.display_name,
    }  # fmt: skip


@pytest.mark.parametrize("kind", list(BODY_VALUES))
@pytest.mark.parametrize("field", WITHDRAWAL_FIELDS)
def test_bad_hostile_value_in_a_withdrawal_field_is_a_400_naming_it(field: str, kind: str) -> None:
    body = _withdrawal_body()
    api = _api(Role.FINANCE)
    before = _written()
    _problem(_post(api, "/api/v1/staff/withdrawals/", body, field, BODY_VALUES[kind]), field)
    assert _written() == before


@pytest.mark.parametrize("kind", [NUL, LONG])
def test_bad_hostile_idempotency_key_is_a_400_naming_it(kind: str) -> None:
    body = _withdrawal_body()
    api = _api(Role.FINANCE)
    before = _written()
    key = {NUL: "a\x00b", LONG: "k" * 500}[kind]
    response = api.post("/api/v1/staff/withdrawals/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    _problem(response, "Idempotency-Key")
    assert _written() == before


LISTS = [
    ("/api/v1/staff/clients/", Role.SUPPORT, "q"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "status"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "kind"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "account_type"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "country"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "risk_level"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "manager"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "cursor"),
    ("/api/v1/staff/clients/", Role.SUPPORT, "page_size"),
    ("/api/v1/staff/withdrawals/", Role.FINANCE, "status"),
    ("/api/v1/staff/withdrawals/", Role.FINANCE, "cursor"),
    ("/api/v1/staff/withdrawals/", Role.FINANCE, "page_size"),
]


@pytest.mark.parametrize("kind", list(QUERY_VALUES))
@pytest.mark.parametrize(("url", "role", "name"), LISTS, ids=lambda v: str(v))
def test_bad_hostile_value_in_a_list_parameter_is_a_400_naming_it(url: str, role: Role, name: str, kind: str) -> None:
    make_client()
    api = _api(role)
    before = _written()
    response = api.get(f"{url}?{name}={QUERY_VALUES[kind]}")
    if name in FREE_TEXT and kind in (SURROGATE, HUGE, FLOAT):
        assert response.status_code == 200
    else:
        _problem(response, name)
    assert _written() == before


@pytest.mark.parametrize("url", ["/api/v1/staff/clients/{}/", "/api/v1/staff/withdrawals/{}/"])
@pytest.mark.parametrize("pk", ["9" * 40, "١٢"])
def test_bad_an_id_no_database_row_can_have_is_a_404(url: str, pk: str) -> None:
    api = _api(Role.FINANCE)
    assert api.get(url.format(pk)).status_code == 404
