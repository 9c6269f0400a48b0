"""Withdrawals: intake, pre-checks, holds, approval levels (the maker-checker engine's action
``payments.withdrawal``), payout and its result."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ops import errors as ops_errors
from ops.errors import OpsError
from ops.models import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    Interaction,
    User,
    WorkItem,
    WorkItemStatus,
)
from ops.roles import Role
from ops.selectors import approvals_waiting_for
from ops.services.approvals import approval_cancel, approval_decide, approvals_expire_due, payload_hash
from payments.errors import PaymentError
from payments.models import Approval, HoldStatus, Withdrawal, WithdrawalStatus
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from payments.services.webhooks import inbound_event_process, inbound_event_store
from payments.services.withdrawals import (
    payout_send,
    withdrawal_approval_payload,
    withdrawal_payout_execute,
    withdrawal_reject,
    withdrawal_request,
)
from sim import simpay
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db


def _funded(amount: str = "5000.00") -> tuple:
    c = approved_client(provision=False)
    deposit = card_deposit(c, amount)
    return c, wallet_for(client=c, currency="EUR"), deposit.payer_account


def _request(c, wallet, card: str, amount: str, **kw):
    return withdrawal_request(
        client=c, source=wallet, amount=amount, method="card", destination=card, destination_name=c.display_name, **kw
    )


def _decide(w: Withdrawal, checker: User, decision: str = "approve", reason: str = "ok") -> ApprovalRequest:
    """A checker's decision on the withdrawal's approval request (the one engine)."""
    w.refresh_from_db()
    assert w.approval_request_id is not None
    return approval_decide(request_id=w.approval_request_id, checker=checker, decision=decision, reason=reason)


def _callback(evt: dict) -> None:
    d = simpay.signed(evt)
    stored, _ = inbound_event_store(provider="simpay", body=d.body, signature=d.signature)
    inbound_event_process(event_pk=stored.pk)


def test_good_first_withdrawal_needs_finance_then_compliance_and_holds_funds() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    assert w.status == WithdrawalStatus.UNDER_REVIEW
    assert w.approval == Approval.FINANCE_COMPLIANCE and "first_withdrawal" in w.flags
    b = balance_of(wallet)
    assert (b.ledger, b.available) == (Decimal("5000.00"), Decimal("4700.00"))
    assert WorkItem.objects.filter(queue__code="withdrawal_approval", subject_id=str(w.pk)).exists()
    assert Interaction.objects.filter(template="payments.withdrawal_received").exists()


def test_good_full_journey_approvals_payout_callback_ledger() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    finance, compliance, finance2 = staff(Role.FINANCE), staff(Role.COMPLIANCE), staff(Role.FINANCE)
    with pytest.raises(OpsError, match=ops_errors.CHECKER_WRONG_ROLE.format(role="finance")):
        _decide(w, compliance, reason="compliance first?")
    _decide(w, finance, reason="client known, card matches")
    with pytest.raises(OpsError, match=ops_errors.CHECKER_ALREADY_DECIDED):
        _decide(w, finance, reason="again")
    with pytest.raises(OpsError, match=ops_errors.CHECKER_WRONG_ROLE.format(role="compliance")):
        _decide(w, finance2, reason="second finance is not compliance")
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.UNDER_REVIEW  # nothing happens before the last level
    assert _decide(w, compliance, reason="source of funds on file").status == ApprovalStatus.EXECUTED
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.APPROVED
    withdrawal_payout_execute(withdrawal_id=w.pk, actor=finance2)
    with pytest.raises(PaymentError, match="already executed") as exc:
        withdrawal_payout_execute(withdrawal_id=w.pk, actor=finance2)
    assert exc.value.status == 409
    voucher = payout_send(withdrawal_id=w.pk)
    assert voucher.startswith("po_") and payout_send(withdrawal_id=w.pk) == voucher  # once
    from sim.models import SimPspPayout

    payout = SimPspPayout.objects.get(payout_id=voucher)
    evt = simpay.payout_outcome_event(payout)
    _callback(evt)
    _callback(evt)  # repeated: no second debit
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.PAID and w.hold.status == HoldStatus.CAPTURED
    b = balance_of(wallet)
    assert (b.ledger, b.held) == (Decimal("4700.00"), Decimal("0"))
    assert ledger_verify().ok
    assert Interaction.objects.filter(template="payments.withdrawal_paid").exists()


def test_good_small_repeat_withdrawal_is_approved_and_paid_out_automatically() -> None:
    c, wallet, card = _funded()
    first = _request(c, wallet, card, "100.00")
    Withdrawal.objects.filter(pk=first.pk).update(status=WithdrawalStatus.PAID)  # an earlier paid one
    w = _request(c, wallet, card, "50.00")
    assert w.approval == Approval.AUTO, w.flags
    assert w.status == WithdrawalStatus.PROCESSING


def test_bad_the_person_who_entered_it_cannot_approve_it() -> None:
    c, wallet, card = _funded()
    finance = staff(Role.FINANCE)
    w = _request(c, wallet, card, "300.00", requested_by=finance)
    assert w.approval_request.maker == finance
    assert not approvals_waiting_for(finance).filter(pk=w.approval_request_id).exists()  # not in their inbox
    with pytest.raises(OpsError, match=ops_errors.CHECKER_IS_MAKER):
        _decide(w, finance, reason="mine")
    # and the database refuses it even if the service were bypassed
    with pytest.raises(IntegrityError, match="cannot decide"), transaction.atomic():
        ApprovalDecision.objects.create(
            request=w.approval_request, level=0, checker=finance, decision="approve", reason="x"
        )
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.UNDER_REVIEW


def test_bad_failed_payout_releases_the_hold_and_opens_an_exception() -> None:
    from sim.models import SimPspFault, SimPspPayout

    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    _decide(w, staff(Role.FINANCE))
    _decide(w, staff(Role.COMPLIANCE))
    withdrawal_payout_execute(withdrawal_id=w.pk, actor=staff(Role.FINANCE))
    SimPspFault.objects.create(operation="payout", mode="decline")
    voucher = payout_send(withdrawal_id=w.pk)
    _callback(simpay.payout_outcome_event(SimPspPayout.objects.get(payout_id=voucher)))
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.FAILED and w.failure_code == "account_closed"
    assert balance_of(wallet).available == Decimal("5000.00")
    assert WorkItem.objects.filter(queue__code="withdrawal_exception", subject_id=str(w.pk)).exists()
    assert ledger_verify().ok


def test_good_rejection_releases_the_funds_with_a_templated_reason() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    withdrawal_reject(withdrawal_id=w.pk, actor=staff(Role.FINANCE), reason_code="source_of_funds", note="")
    assert balance_of(wallet).available == Decimal("5000.00")
    message = Interaction.objects.get(template="payments.withdrawal_rejected")
    assert "confirm the source of the funds" in message.body
    # its review is withdrawn from the engine: nobody is asked to decide it any more
    assert ApprovalRequest.objects.get(pk=w.approval_request_id).status == ApprovalStatus.CANCELLED
    assert not approvals_waiting_for(staff(Role.FINANCE)).exists()


def test_good_review_is_a_request_of_the_one_engine_with_levels_from_the_policy() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")  # the client's own request (no staff member entered it)
    review = w.approval_request
    assert (review.action, review.status, review.subject) == ("payments.withdrawal", ApprovalStatus.PENDING, w)
    assert review.required_roles == ["finance", "compliance"]  # Approval.FINANCE_COMPLIANCE
    assert review.maker is None and review.maker_label == f"client {c.reference} ({c.display_name})"
    assert review.payload == withdrawal_approval_payload(Withdrawal.objects.get(pk=w.pk))
    assert review.payload["amount"] == "300.00" and review.payload_hash == payload_hash(review.payload)
    item = WorkItem.objects.get(queue__code="withdrawal_approval", subject_id=str(w.pk))
    assert item.details["approval_request"] == review.pk  # the queue item links to the approval
    finance, compliance = staff(Role.FINANCE), staff(Role.COMPLIANCE)
    assert list(approvals_waiting_for(finance)) == [review] and not approvals_waiting_for(compliance).exists()
    _decide(w, finance)
    assert not approvals_waiting_for(finance).exists() and list(approvals_waiting_for(compliance)) == [review]


def test_good_small_amount_with_a_finding_needs_one_finance_approval() -> None:
    c, wallet, card = _funded()
    first = _request(c, wallet, card, "100.00")
    Withdrawal.objects.filter(pk=first.pk).update(status=WithdrawalStatus.PAID)
    w = _request(c, wallet, card, "2000.00")  # above the automatic limit, below the compliance threshold
    assert w.approval == Approval.FINANCE and w.approval_request.required_roles == ["finance"]
    assert _decide(w, staff(Role.FINANCE)).status == ApprovalStatus.EXECUTED
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.APPROVED


def test_good_checker_rejection_rejects_the_withdrawal_and_releases_the_funds() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    _decide(w, staff(Role.FINANCE))
    assert _decide(w, staff(Role.COMPLIANCE), "reject", "source of funds unclear").status == ApprovalStatus.REJECTED
    w.refresh_from_db()
    assert (w.status, w.reason_code) == (WithdrawalStatus.REJECTED, "declined_at_review")
    assert w.hold.status == HoldStatus.RELEASED and balance_of(wallet).available == Decimal("5000.00")
    item = WorkItem.objects.get(queue__code="withdrawal_approval", subject_id=str(w.pk))
    assert (item.status, item.resolution_code) == (WorkItemStatus.RESOLVED, "rejected")
    assert "declined at review" in Interaction.objects.get(template="payments.withdrawal_rejected").body


def test_good_expired_review_rejects_the_withdrawal_and_releases_the_funds() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    _decide(w, staff(Role.FINANCE))
    ApprovalRequest.objects.filter(pk=w.approval_request_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(OpsError, match="expired"):
        _decide(w, staff(Role.COMPLIANCE))
    assert approvals_expire_due() == 1
    w.refresh_from_db()
    assert w.approval_request.status == ApprovalStatus.EXPIRED
    assert (w.status, w.reason_code) == (WithdrawalStatus.REJECTED, "review_expired")
    assert balance_of(wallet).available == Decimal("5000.00")
    assert "ask again" in Interaction.objects.get(template="payments.withdrawal_rejected").body


def test_good_maker_cancelling_the_review_rejects_the_withdrawal() -> None:
    c, wallet, card = _funded()
    finance = staff(Role.FINANCE)
    w = _request(c, wallet, card, "300.00", requested_by=finance)
    approval_cancel(request_id=w.approval_request_id, maker=finance, reason="entered for the wrong client")
    w.refresh_from_db()
    assert (w.status, w.reason_code) == (WithdrawalStatus.REJECTED, "entry_withdrawn")
    assert balance_of(wallet).available == Decimal("5000.00")


def test_bad_withdrawal_changed_behind_the_review_is_not_approved() -> None:
    c, wallet, card = _funded()
    w = _request(c, wallet, card, "300.00")
    Withdrawal.objects.filter(pk=w.pk).update(destination="card_someone_else")  # bypassing every service
    _decide(w, staff(Role.FINANCE))
    result = _decide(w, staff(Role.COMPLIANCE))
    assert result.status == ApprovalStatus.FAILED and "no longer matches" in result.failure_reason
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.UNDER_REVIEW


@pytest.mark.parametrize(
    ("amount", "field", "text"),
    [
        ("6000.00", "amount", "balance: available 5,000.00 EUR"),
        ("5.00", "amount", "minimum EUR withdrawal"),
        ("300000.00", "amount", "maximum EUR withdrawal"),
        ("10.001", "amount", "at most 2 decimal places"),
        ("-10", "amount", "greater than zero"),
    ],
)
def test_bad_intake_is_refused_naming_why_and_changes_nothing(amount: str, field: str, text: str) -> None:
    c, wallet, card = _funded()
    with pytest.raises(PaymentError) as exc:
        _request(c, wallet, card, amount)
    assert exc.value.field == field and text in exc.value.message
    assert Withdrawal.objects.count() == 0
    assert balance_of(wallet).held == 0


def test_bad_withdrawal_to_a_card_never_used_to_deposit() -> None:
    c, wallet, _ = _funded()
    with pytest.raises(PaymentError, match="never used to deposit") as exc:
        _request(c, wallet, "card_9999_other", "100.00")
    assert exc.value.field == "method"


def test_bad_bank_withdrawal_while_card_deposits_must_go_back_to_the_card() -> None:
    c, wallet, _ = _funded()
    with pytest.raises(PaymentError, match="returned to the card first"):
        withdrawal_request(client=c, source=wallet, amount="100.00", method="bank",
                           destination="DE02120300000000202051", destination_name=c.display_name)  # fmt: skip


def test_bad_restricted_client_or_expired_document_fails_the_pre_checks() -> None:
    from accounts.services.clients import client_transition
    from kyc.models import Document, DocumentStatus

    c, wallet, card = _funded()
    Document.objects.filter(client=c).update(status=DocumentStatus.EXPIRED)
    client_transition(client_id=c.pk, name="restrict", actor=staff(Role.COMPLIANCE), reason="document expired")
    c.refresh_from_db()
    with pytest.raises(PaymentError) as exc:
        _request(c, wallet, card, "100.00")
    assert "status: client is restricted" in exc.value.message
    assert "kyc: proof of identity expired" in exc.value.message
    assert exc.value.status == 422
    assert Withdrawal.objects.count() == 0


def test_bad_replayed_idempotency_key_with_another_body_is_422() -> None:
    c, wallet, card = _funded()
    first = _request(c, wallet, card, "100.00", idempotency_key="wd-1")
    assert _request(c, wallet, card, "100.00", idempotency_key="wd-1").pk == first.pk
    with pytest.raises(PaymentError) as exc:
        _request(c, wallet, card, "200.00", idempotency_key="wd-1")
    assert exc.value.status == 422 and exc.value.field == "idempotency_key"
    assert Withdrawal.objects.count() == 1
