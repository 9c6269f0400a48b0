"""The payments pages as a person uses them: forms submitted, errors shown at the field, money
shown with its currency."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from payments import errors
from payments.models import Withdrawal
from payments.services.ledger import wallet_for
from tests.payments.world import world

pytestmark = pytest.mark.django_db


def test_good_released_deposit_page_shows_its_postings_with_money() -> None:
    w = world()
    finance = w.http("finance")
    url = f"/payments/deposits/{w.held.pk}/"
    assert finance.post(url, {"action": "release", "reason": "joint account"}).status_code == 302
    html = finance.get(url).content.decode()
    assert f"wallet:{w.client.reference}:EUR" in html and "75.00 EUR" in html
    assert "Credit the client</button>" not in html  # credited: nothing left to decide


def test_bad_release_without_a_reason_is_shown_at_the_field() -> None:
    w = world()
    response = w.http("finance").post(f"/payments/deposits/{w.held.pk}/", {"action": "release", "reason": ""})
    assert response.status_code == 400
    form = response.context["release_form"]
    assert list(form.errors) == ["reason"]


def test_bad_new_withdrawal_amount_is_refused_at_the_field_and_the_form_keeps_the_input() -> None:
    w = world()
    url = f"/payments/clients/{w.payer.pk}/withdrawals/new/"
    page = w.http("finance").get(url).content.decode()
    assert f"wallet:{w.payer.reference}:EUR — available 500.00 EUR" in page
    data = {
        "source": str(wallet_for(client=w.payer, currency="EUR").pk), "amount": "10.001", "method": "card",
        "destination": w.card, "destination_name": w.payer.display_name,
    }  # fmt: skip
    response = w.http("finance").post(url, data)
    assert response.status_code == 400
    message = errors.TOO_MANY_DECIMALS.format(field="amount", currency="EUR", places=2)
    assert response.context["form"].errors["amount"] == [message]
    assert 'value="10.001"' in response.content.decode()
    assert Withdrawal.objects.count() == 1


def test_bad_statement_upload_without_a_file_is_refused_at_the_field() -> None:
    w = world()
    response = w.http("finance").post("/payments/statements/", {"kind": "statement"})
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["file"]
    empty = w.http("finance").post("/payments/statements/", {"file": SimpleUploadedFile("e.sta", b"")})
    assert empty.status_code == 400
