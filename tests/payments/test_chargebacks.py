"""Chargebacks: the PSP's signed ``dispute.opened`` callback opens a case (stored first, one effect
per dispute), takes the amount back from the client (wallet as far as it goes, the rest into the
chargeback receivable: the wallet's database check is never crossed), stops withdrawals, claws back
the partner's CPA, opens a work item due at the scheme's deadline, publishes ``chargeback.opened``;
the response goes to the PSP through its adapter after commit; won reverses, lost writes off; the
ledger verifies after every step."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from audit.models import AuditEvent
from ib.models import LineKind, LineStatus
from ib.services.money import commission_lines_post
from ops.models import ApprovalStatus, OutboxEvent, RiskLevel, WorkItem, WorkItemStatus
from ops.roles import Role
from payments import errors
from payments.errors import PaymentError
from payments.models import (
    AccountKind,
    ChargebackCase,
    ChargebackStatus,
    EntryKind,
    InboundEvent,
    JournalEntry,
    LedgerAccount,
    WebhookStatus,
    WithdrawalStatus,
)
from payments.services.chargebacks import chargeback_respond, chargeback_response_send
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from payments.services.withdrawals import withdrawal_request
from sim import simpay
from sim.models import SimPspDispute
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import tree
from tests.ib.lines import line

pytestmark = pytest.mark.django_db


def _request_id(withdrawal: Any) -> int:
    assert withdrawal.approval_request_id is not None
    return int(withdrawal.approval_request_id)


URL = "/webhooks/simpay/"


@pytest.fixture(autouse=True)
def _apply_inline(settings: Any) -> None:
    settings.WEBHOOK_APPLY = "inline"


def _post(delivery: simpay.Delivery, signature: str | None = None) -> tuple[int, dict]:
    response = HttpClient().post(
        URL,
        data=delivery.body,
        content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=signature if signature is not None else delivery.signature,
    )
    return response.status_code, response.json()


def _dispute(deposit: Any, **kwargs: Any) -> dict[str, Any]:
    return simpay.dispute_open(payment_id=deposit.external_id, **kwargs).event


def _wallet(c: Any) -> Decimal:
    return balance_of(wallet_for(client=c, currency="EUR")).ledger


def _receivable(c: Any) -> Decimal:
    account = LedgerAccount.objects.filter(client=c, kind=AccountKind.CHARGEBACK_RECEIVABLE).first()
    return balance_of(account).ledger if account else Decimal("0")


def test_bad_signature_is_refused_and_nothing_is_stored() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00")
    events_before = InboundEvent.objects.count()
    delivery = simpay.signed(_dispute(deposit))
    forged = simpay.signed(json.loads(delivery.body), secret="whsec_not_the_psp")
    status, body = _post(delivery, signature=forged.signature)
    assert (status, body) == (400, {"error": errors.SIGNATURE_BAD})
    assert InboundEvent.objects.count() == events_before
    assert not ChargebackCase.objects.exists()
    assert _wallet(c) == Decimal("300.00")


def test_good_dispute_opens_a_case_holds_the_money_stops_withdrawals_and_claws_back_the_cpa() -> None:
    (partner,) = tree("CB1")
    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00")
    cpa = line(partner, c, "50.00", kind=LineKind.CPA, qualifying_deposit=deposit)
    commission_lines_post()
    withdrawal = withdrawal_request(  # entered before the dispute: under review (a first withdrawal)
        client=c, source=wallet_for(client=c, currency="EUR"), amount="100.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    assert withdrawal.status == WithdrawalStatus.UNDER_REVIEW

    evt = _dispute(deposit, amount=Decimal("250.00"), due_days=10)
    status, body = _post(simpay.signed(evt))

    assert (status, body["status"]) == (200, "processed")
    case = ChargebackCase.objects.get()
    assert (case.status, case.amount, case.deposit, case.client) == (
        ChargebackStatus.OPENED, Decimal("250.00"), deposit, c,
    )  # fmt: skip
    # 200 of the wallet is available (100 held by the withdrawal): the other 50 is owed by the client
    assert (case.from_wallet, case.to_receivable) == (Decimal("200.00"), Decimal("50.00"))
    assert _wallet(c) == Decimal("100.00")
    assert balance_of(wallet_for(client=c, currency="EUR")).held == Decimal("100.00")
    assert _receivable(c) == Decimal("50.00")
    assert case.opened_entry.kind == EntryKind.CHARGEBACK
    item = WorkItem.objects.get(queue__code="chargeback")
    assert (item.subject_id, item.risk_level, item.due_at) == (str(case.pk), RiskLevel.HIGH, case.due_at)
    assert abs(case.due_at - (timezone.now() + timedelta(days=10))) < timedelta(minutes=1)
    cpa.refresh_from_db()
    assert cpa.status == LineStatus.REVERSED and cpa.reversed_by.kind == LineKind.CLAWBACK
    assert OutboxEvent.objects.filter(type="chargeback.opened", subject_id=str(case.pk)).count() == 1
    assert AuditEvent.objects.filter(action="payments.chargeback_opened", subject_id=str(case.pk)).count() == 1
    assert ledger_verify().breaks == []

    # withdrawals stop: a new request is refused by the pre-check, the one under review cannot be approved
    with pytest.raises(PaymentError) as refused:
        withdrawal_request(
            client=c, source=wallet_for(client=c, currency="EUR"), amount="10.00", method="card",
            destination=deposit.payer_account, destination_name=c.display_name,
        )  # fmt: skip
    assert "chargebacks: " + errors.CHARGEBACK_BLOCKS_WITHDRAWAL.format(count=1) in refused.value.message
    from ops.services.approvals import approval_decide

    approval_decide(request_id=_request_id(withdrawal), checker=staff(Role.FINANCE), decision="approve", reason="ok")
    request = approval_decide(
        request_id=_request_id(withdrawal), checker=staff(Role.COMPLIANCE), decision="approve", reason="ok"
    )
    assert (request.status, request.failure_reason) == (
        ApprovalStatus.FAILED,
        errors.WITHDRAW_CHARGEBACK_OPEN.format(client=c.display_name, reference=case.reference),
    )
    withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.UNDER_REVIEW


def test_good_repeated_delivery_and_a_second_event_for_the_same_dispute_have_one_effect() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "120.00")
    evt = _dispute(deposit)
    delivery = simpay.signed(evt)
    assert _post(delivery)[1]["status"] == "processed"
    status, body = _post(delivery)
    assert (status, body["duplicate"]) == (200, True)
    again = dict(evt, id="evt_another_delivery_of_it")  # the PSP re-sent it under a new event id
    assert _post(simpay.signed(again))[1]["status"] == "ignored"
    assert ChargebackCase.objects.count() == 1
    assert JournalEntry.objects.filter(kind=EntryKind.CHARGEBACK).count() == 1
    assert _wallet(c) == Decimal("0.00")
    assert ledger_verify().ok


def test_bad_dispute_for_an_unknown_payment_lands_in_the_queue_and_stores_nothing_else() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "80.00")
    evt = _dispute(deposit)
    evt["data"]["object"]["payment"] = "pay_never_seen"
    entries = JournalEntry.objects.count()
    status, body = _post(simpay.signed(evt))
    assert (status, body["status"]) == (200, WebhookStatus.FAILED)
    assert body["result"] == errors.CHARGEBACK_UNKNOWN_PAYMENT.format(
        dispute=evt["data"]["object"]["id"], payment="pay_never_seen", provider="simpay"
    )
    assert not ChargebackCase.objects.exists()
    assert JournalEntry.objects.count() == entries
    item = WorkItem.objects.get(queue__code="chargeback")
    assert item.subject_type.model == "inboundevent"
    assert _wallet(c) == Decimal("80.00")


def test_good_response_is_sent_through_the_adapter_and_a_won_case_gives_the_money_back() -> None:
    from accounts.services.sign_ins import client_sign_in_record

    c = approved_client(provision=False)
    deposit = card_deposit(c, "200.00")
    client_sign_in_record(
        client=c, outcome="succeeded", ip_address="203.0.113.61", device_fingerprint="fp-cardholder",
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    )  # fmt: skip
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()
    assert _wallet(c) == Decimal("0.00")

    with pytest.raises(PaymentError) as refused:  # support may not answer a chargeback
        chargeback_respond(case_id=case.pk, actor=staff(Role.SUPPORT), note="x")
    assert refused.value.status == 403
    case = chargeback_respond(case_id=case.pk, actor=staff(Role.FINANCE), note="The cardholder traded the funds.")
    assert case.status == ChargebackStatus.EVIDENCE_SUBMITTED
    assert case.evidence["payment"]["deposit"] == deposit.reference
    assert case.evidence["payment"]["payer_card"] == deposit.payer_account
    assert {"kyc_documents", "terms_accepted", "sign_ins_and_ips", "later_trading"} <= set(case.evidence)
    assert case.evidence["sign_ins_and_ips"][0] == {
        "at": case.evidence["sign_ins_and_ips"][0]["at"], "what": "Client-area sign-in: signed in",
        "ip": "203.0.113.61", "browser": "Firefox on Windows", "device": "The client area's device fingerprint",
    }  # fmt: skip
    response_id = chargeback_response_send(case_id=case.pk)  # what the worker does after commit
    assert chargeback_response_send(case_id=case.pk) == response_id  # a retry sends nothing twice
    dispute = SimPspDispute.objects.get(dispute_id=case.dispute_id)
    assert (dispute.status, dispute.response_id, dispute.evidence["payment"]["deposit"]) == (
        "responded", response_id, deposit.reference,
    )  # fmt: skip

    status, body = _post(simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=True).event))
    assert (status, body["status"]) == (200, "processed")
    case.refresh_from_db()
    assert case.status == ChargebackStatus.WON and case.closed_at is not None
    assert _wallet(c) == Decimal("200.00")
    assert WorkItem.objects.get(queue__code="chargeback").status == WorkItemStatus.RESOLVED
    assert OutboxEvent.objects.filter(type="chargeback.closed").count() == 1
    assert ledger_verify().breaks == []
    # withdrawals work again
    assert withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="50.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    ).status != WithdrawalStatus.REJECTED  # fmt: skip


def test_good_a_lost_case_writes_off_what_the_client_could_not_cover() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "200.00")
    withdrawal = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="150.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    assert withdrawal.hold_id is not None
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()
    assert (case.from_wallet, case.to_receivable) == (Decimal("50.00"), Decimal("150.00"))
    assert balance_of(wallet_for(client=c, currency="EUR")).available == Decimal("0.00")  # never below zero

    _post(simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=False).event))
    case.refresh_from_db()
    assert case.status == ChargebackStatus.LOST
    assert case.closing_entry is not None and case.closing_entry.kind == EntryKind.CHARGEBACK_WRITE_OFF
    assert _receivable(c) == Decimal("0.00")
    losses = LedgerAccount.objects.get(kind=AccountKind.CHARGEBACK_LOSSES, currency="EUR")
    assert balance_of(losses).ledger == Decimal("150.00")
    assert ledger_verify().breaks == []
    # a closed case: the scheme's second word has no effect
    assert _post(simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=True).event))[1]["status"] == (
        "ignored"
    )
