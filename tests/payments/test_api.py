"""The withdrawals API: idempotency keys, problem+json naming the field, role scopes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ops.roles import Role
from payments.models import Withdrawal
from payments.services.ledger import wallet_for
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db
URL = "/api/v1/staff/withdrawals/"


def _setup() -> tuple:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "1000.00")
    body = {
        "client": c.reference, "source": wallet_for(client=c, currency="EUR").code, "amount": "100.00",
        "method": "card", "destination": deposit.payer_account, "destination_name": c.display_name,
    }  # fmt: skip
    api = APIClient()
    api.force_authenticate(staff(Role.FINANCE))
    return api, body


def test_good_create_and_replay_with_the_same_key_returns_the_same_withdrawal() -> None:
    api, body = _setup()
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Withdrawal.objects.count() == 1


def test_bad_same_key_other_body_is_422_naming_the_field() -> None:
    api, body = _setup()
    api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = api.post(URL, body | {"amount": "200.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "Idempotency-Key" in response.json()["errors"]
    assert response.json()["mismatch"] == ["amount"]
    assert Withdrawal.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"amount": "100.001"}, "amount", 400),
        ({"amount": "5000.00"}, "amount", 422),
        ({"method": "crypto"}, "method", 400),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(change: dict, field: str, status: int) -> None:
    api, body = _setup()
    response = api.post(URL, body | change, format="json")
    assert response.status_code == status
    assert field in response.json()["errors"]
    assert Withdrawal.objects.count() == 0


def test_bad_risk_may_read_but_not_create() -> None:
    api, body = _setup()
    api.force_authenticate(staff(Role.RISK))  # sees payments, does not handle withdrawals
    assert api.get(URL).status_code == 200
    assert api.post(URL, body, format="json").status_code == 403
    assert Withdrawal.objects.count() == 0
