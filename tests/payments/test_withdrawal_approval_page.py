"""The withdrawal page as the entry point to its approval: it shows the engine's levels and
decisions with names and a link to the approval request, and its Approve form records a decision
on that request through the engine (the maker is not offered it and is refused anyway)."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest
from django.test import Client

from ops import errors as ops_errors
from ops.models import ApprovalDecision, User
from ops.roles import Role
from payments.models import Withdrawal
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_request
from tests.factories import approved_client, card_deposit, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _entered_by(user: User) -> Withdrawal:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "2000.00")
    return withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="600.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name, requested_by=user,
    )  # fmt: skip


def _approve(client: Client, w: Withdrawal, payload_hash: str) -> Any:
    return client.post(
        w.get_absolute_url(), {"action": "approve", "reason": "card matches", "payload_hash": payload_hash}
    )


def test_good_a_second_finance_officer_approves_the_first_level_from_the_withdrawal_page(client: Client) -> None:
    maker = staff(Role.FINANCE, username="fiona")
    w = _entered_by(maker)
    review = w.approval_request
    assert review is not None
    checker = staff(Role.FINANCE, username="frank")
    sign_in(client, checker)
    page = client.get(w.get_absolute_url()).content.decode()
    assert f'href="/approvals/{review.pk}/"' in page and "Asked by fiona" in page
    assert 'aria-label="Approve"' in page
    response = _approve(client, w, review.payload_hash)
    assert response.status_code == 302
    decision = ApprovalDecision.objects.get(request=review)
    assert (decision.level, decision.checker, decision.decision) == (0, checker, "approve")
    page = client.get(w.get_absolute_url()).content.decode()
    assert "Finance: approved by frank" in page and "Compliance: <span" in page
    assert 'aria-label="Approve"' not in page  # the next level is compliance, and not frank again


def test_bad_the_maker_is_not_offered_approve_and_is_refused(client: Client) -> None:
    maker = staff(Role.FINANCE)
    w = _entered_by(maker)
    assert w.approval_request is not None
    sign_in(client, maker)
    assert 'aria-label="Approve"' not in client.get(w.get_absolute_url()).content.decode()
    response = _approve(client, w, w.approval_request.payload_hash)
    assert response.status_code == 409
    assert escape(ops_errors.CHECKER_IS_MAKER) in response.content.decode()
    assert not ApprovalDecision.objects.exists()


def test_bad_a_stale_payload_hash_is_refused(client: Client) -> None:
    w = _entered_by(staff(Role.FINANCE))
    sign_in(client, staff(Role.FINANCE))
    response = _approve(client, w, "0" * 64)
    assert response.status_code == 409
    assert escape(ops_errors.PAYLOAD_CHANGED) in response.content.decode()
    assert not ApprovalDecision.objects.exists()
