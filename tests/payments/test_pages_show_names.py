"""Payments pages name what they show: pre-checks and flags, why a deposit was returned or a
withdrawal rejected, and what a statement line was matched to (with a link), never the stored code."""

from __future__ import annotations

import pytest
from django.test import Client as DjangoClient

from ops.roles import Role
from payments.models import Channel, LineStatus, StatementLine
from payments.services.bank import statement_import, statement_match
from payments.services.deposits import deposit_initiate, deposit_refund
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_reject, withdrawal_request
from tests.factories import approved_client, card_deposit, staff
from tests.payments.test_refunds import _statement
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def test_withdrawal_checks_flags_and_rejection_reason_are_named(client: DjangoClient) -> None:
    c = approved_client(provision=False)
    card = card_deposit(c, "5000.00").payer_account
    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="300.00", method="card", destination=card,
        destination_name=c.display_name,
    )  # fmt: skip
    assert "first_withdrawal" in w.flags
    sign_in(client, staff(Role.FINANCE))
    home = client.get("/payments/").content.decode()
    assert "<td>First withdrawal</td>" in home and "first_withdrawal" not in home
    page = client.get(f"/payments/withdrawals/{w.pk}/").content.decode()
    assert "<td>First withdrawal</td>" in page and "<td>Withdrawal soon after a deposit</td>" in page
    assert "first_withdrawal" not in page and "deposit_then_withdraw" not in page
    withdrawal_reject(withdrawal_id=w.pk, actor=staff(Role.FINANCE), reason_code="source_of_funds", note="")
    page = client.get(f"/payments/withdrawals/{w.pk}/").content.decode()
    assert '<dd data-testid="reject-reason">We need to confirm the source of the funds first</dd>' in page
    assert "source_of_funds" not in page.replace('value="source_of_funds"', "")


def test_returned_deposit_says_why_and_its_statement_line_links_to_it(client: DjangoClient) -> None:
    payer = approved_client(provision=False)
    deposit = deposit_initiate(client=payer, channel="bank", amount="300.00", currency="EUR")
    credit = statement_import(
        actor=staff(Role.FINANCE),
        data=_statement([("C300,00", deposit.reference, "SOMEONE ELSE")], "IN1"),
        filename="in",
    )
    statement_match(import_id=credit.pk)
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="")
    sign_in(client, staff(Role.FINANCE))
    page = client.get(f"/payments/deposits/{deposit.pk}/").content.decode()
    assert "<dt>Returned because</dt>" in page
    assert '<dd data-testid="failure-reason">Payments from third parties are not accepted</dd>' in page
    home = client.get("/payments/").content.decode()
    assert "Payments from third parties are not accepted" in home and "third_party" not in home
    out = statement_import(
        actor=staff(Role.FINANCE),
        data=_statement([("D300,00", f"RET-{deposit.reference}", "SOMEONE ELSE")], "OUT1", opening=deposit.amount),
        filename="out",
    )
    statement_match(import_id=out.pk)
    assert StatementLine.objects.get(statement=out).status == LineStatus.MATCHED
    statements = client.get("/payments/statements/").content.decode()
    link = (
        f'<span class="kind">Deposit</span> <a href="/payments/deposits/{deposit.pk}/">{deposit.reference} (return)</a>'
    )
    assert link in statements and "payments.deposit:" not in statements


def test_withdrawal_approval_page_shows_the_payload_in_words(client: DjangoClient) -> None:
    from ops.models import ApprovalRequest

    c = approved_client(provision=False)
    card = card_deposit(c, "5000.00").payer_account
    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="300.00", method="card", destination=card,
        destination_name=c.display_name,
    )  # fmt: skip
    review = ApprovalRequest.objects.get(action="payments.withdrawal", subject_id=str(w.pk))
    sign_in(client, staff(Role.FINANCE))
    page = client.get(f"/approvals/{review.pk}/").content.decode()
    assert '<span class="field">flags</span> First withdrawal' in page
    assert '<span class="field">approval</span> Finance, then compliance' in page
    assert f'<span class="field">to</span> {Channel.CARD.label} {card} ({c.display_name})' in page
    assert "first_withdrawal" not in page and "finance_compliance" not in page
