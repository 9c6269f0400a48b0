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
from payments.services.chargebacks import (
    SIGN_INS_NOTE,
    TERMS_HOW,
    chargeback_respond,
    chargeback_response_send,
    evidence_digest,
)
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
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", country="IE",
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
    assert case.evidence_sha256 == evidence_digest(case.evidence)
    assert case.evidence["sign_ins_and_ips"]["client_sign_ins"][0] == {
        "at": case.evidence["sign_ins_and_ips"]["client_sign_ins"][0]["at"], "what": "Client-area sign-in: signed in",
        "ip": "203.0.113.61", "country": "Ireland", "browser": "Firefox on Windows",
        "device": "The client area's device fingerprint",
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


# --- the partner's commission: clawed back when the case opens, restored when it is won -------------


def _cpa_everywhere(deposit: Any, c: Any) -> tuple[Any, Any, Any, list[Any]]:
    """Three CPA lines qualified by the deposit, their money in each place a line's can be: paid to
    the top partner's wallet, available to the middle one, pending (hold period) for the introducer."""
    from ib.services.money import commission_payout_request, commissions_release_due
    from ops.services.approvals import approval_decide
    from tests.ib.test_money import _with_client

    today = timezone.localdate()
    top, mid, low = tree("CBT", "CBM", "CBL")
    top = _with_client(top, approved_client(provision=False))
    kw: dict[str, Any] = {"kind": LineKind.CPA, "qualifying_deposit": deposit, "tree": [low.pk, mid.pk, top.pk]}
    paid = line(top, c, "40.00", level=2, available_on=today, **kw)
    available = line(mid, c, "60.00", level=1, available_on=today, **kw)
    commission_lines_post()
    commissions_release_due(today=today)
    pending = line(low, c, "100.00", level=0, **kw)
    commission_lines_post()
    payout = commission_payout_request(partner=top, currency="EUR", actor=staff(Role.FINANCE), reason="payout")
    approval_decide(request_id=payout.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    paid.refresh_from_db()
    assert paid.status == LineStatus.PAID
    return top, mid, low, [paid, available, pending]


def _payables(partner: Any) -> tuple[Decimal, Decimal]:
    from ib.services.money import partner_payables

    (p,) = partner_payables(partner)
    return p.pending, p.available


def test_good_a_won_chargeback_restores_the_clawed_back_commission_once() -> None:
    from ib.models import CommissionLine
    from ib.services.money import commissions_restore
    from tests.ib.test_money import _agree

    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00")
    top, mid, low, (paid, available, pending) = _cpa_everywhere(deposit, c)
    before = {p.code: _payables(p) for p in (top, mid, low)}
    assert before == {
        top.code: (Decimal("0"), Decimal("0.00")), mid.code: (Decimal("0"), Decimal("60.00")),
        low.code: (Decimal("100.00"), Decimal("0")),
    }  # fmt: skip

    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()
    assert _payables(top) == (Decimal("0"), Decimal("-40.00"))  # paid: the partner owes it back
    assert _payables(mid)[1] == Decimal("0.00") and _payables(low)[0] == Decimal("0.00")
    _agree(top, mid, low)

    won = simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=True).event)
    assert _post(won)[1]["status"] == "processed"

    for original, status in ((paid, LineStatus.AVAILABLE), (available, LineStatus.AVAILABLE),
                             (pending, LineStatus.PENDING)):  # fmt: skip
        original.refresh_from_db()
        clawback = original.reversed_by
        restore = clawback.reversed_by
        assert (restore.kind, restore.amount, restore.status, restore.qualifying_deposit_id) == (
            LineKind.RESTORE, original.amount, status, deposit.pk,
        )  # fmt: skip
        assert restore.entry is not None and restore.entry.kind == EntryKind.COMMISSION
    assert pending.reversed_by.reversed_by.available_on == pending.available_on  # the hold period goes on
    # each partner is owed again what it was before the dispute (the paid one owes nothing)
    assert {p.code: _payables(p) for p in (top, mid, low)} == {
        top.code: (Decimal("0"), Decimal("0.00")), mid.code: (Decimal("0"), Decimal("60.00")),
        low.code: (Decimal("100.00"), Decimal("0")),
    }  # fmt: skip
    restored = AuditEvent.objects.filter(action="commission.restored").order_by("id")
    assert [(e.subject_id, e.after["amount"], e.reason) for e in restored] == [
        (str(top.pk), "40.00", f"chargeback {case.reference} won"),
        (str(mid.pk), "60.00", f"chargeback {case.reference} won"),
        (str(low.pk), "100.00", f"chargeback {case.reference} won"),
    ]
    _agree(top, mid, low)

    # the same "won" again, under the same and under a new event id, and a retried hook: nothing twice
    assert _post(won)[1]["duplicate"] is True
    again = dict(json.loads(won.body), id="evt_won_again")
    assert _post(simpay.signed(again))[1]["status"] == "ignored"
    assert commissions_restore(deposit=deposit, reason="retry") == []
    assert CommissionLine.objects.filter(kind=LineKind.RESTORE).count() == 3
    assert AuditEvent.objects.filter(action="commission.restored").count() == 3
    _agree(top, mid, low)


def test_good_a_lost_chargeback_leaves_the_clawback_standing() -> None:
    from ib.models import CommissionLine
    from tests.ib.test_money import _agree

    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00")
    top, mid, low, originals = _cpa_everywhere(deposit, c)
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()
    clawed = {p.code: _payables(p) for p in (top, mid, low)}

    _post(simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=False).event))
    case.refresh_from_db()
    assert case.status == ChargebackStatus.LOST
    assert not CommissionLine.objects.filter(kind=LineKind.RESTORE).exists()
    for original in originals:
        original.refresh_from_db()
        assert original.status == LineStatus.REVERSED and not hasattr(original.reversed_by, "reversed_by")
    assert {p.code: _payables(p) for p in (top, mid, low)} == clawed
    assert clawed[top.code] == (Decimal("0"), Decimal("-40.00"))
    assert not AuditEvent.objects.filter(action="commission.restored").exists()
    _agree(top, mid, low)


def test_good_a_won_case_restores_nothing_while_another_dispute_of_the_deposit_is_open() -> None:
    from ib.models import CommissionLine

    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00")
    (partner,) = tree("CB2")
    line(partner, c, "50.00", kind=LineKind.CPA, qualifying_deposit=deposit)
    commission_lines_post()
    _post(simpay.signed(_dispute(deposit, amount=Decimal("100.00"))))
    _post(simpay.signed(_dispute(deposit, amount=Decimal("50.00"))))
    first, second = ChargebackCase.objects.order_by("id")
    _post(simpay.signed(simpay.dispute_decide(dispute_id=first.dispute_id, won=True).event))
    assert not CommissionLine.objects.filter(kind=LineKind.RESTORE).exists()  # the second is still open
    _post(simpay.signed(simpay.dispute_decide(dispute_id=second.dispute_id, won=True).event))
    assert CommissionLine.objects.filter(kind=LineKind.RESTORE, partner=partner).count() == 1
    assert ledger_verify().breaks == []


# --- the client is told ----------------------------------------------------------------------------


def _messages(c: Any) -> list[Any]:
    from ops.models import Interaction

    return list(Interaction.objects.filter(subject_id=str(c.pk), template__startswith="payments.chargeback_")
                .order_by("id"))  # fmt: skip


def test_good_the_client_is_told_when_the_case_opens_and_when_it_is_won(settings: Any) -> None:
    settings.SMS_PROVIDER = "sim.sms.SimulatedSms"
    c = approved_client(provision=False)
    deposit = card_deposit(c, "200.00")
    _post(simpay.signed(_dispute(deposit, reason="fraudulent")))
    case = ChargebackCase.objects.get()
    opened = _messages(c)
    assert [(m.template, m.channel, m.recipient) for m in opened] == [
        ("payments.chargeback_opened", "email", c.email),
        ("payments.chargeback_opened", "sms", c.phone),
    ]
    email, sms = opened
    assert email.title == "Your card payment of 200.00 EUR is disputed: withdrawals are paused"
    assert f"(reference {deposit.reference}) is disputed (a chargeback: fraudulent)" in email.body
    assert "We took it from your account balance." in email.body
    assert "withdrawals from your account are paused" in email.body
    assert sms.body.startswith(f"{c.display_name}, your card payment {deposit.reference} of 200.00 EUR is disputed")
    assert len(sms.body) <= 200
    assert AuditEvent.objects.filter(action="client.notified", subject_id=str(c.pk)).count() >= 2

    _post(simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=True).event))
    won = _messages(c)[2:]
    assert [(m.template, m.channel) for m in won] == [("payments.chargeback_won", "email"),
                                                      ("payments.chargeback_won", "sms")]  # fmt: skip
    assert won[0].title == f"The dispute of your card payment {deposit.reference} is closed: the payment stands"
    assert "The 200.00 EUR taken back when the dispute opened is in your account again." in won[0].body
    assert "Withdrawals from your account are possible again." in won[0].body


def test_good_the_client_is_told_a_lost_case_in_plain_words_and_what_they_owe(settings: Any) -> None:
    settings.SMS_PROVIDER = ""
    c = approved_client(provision=False)
    deposit = card_deposit(c, "200.00")
    withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="150.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()
    (opened,) = _messages(c)  # no SMS provider: e-mail only
    assert "We took 50.00 EUR of it from your account balance; the remaining 150.00 EUR is shown as owed by you." in (
        opened.body
    )
    _post(simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=False).event))
    (lost,) = _messages(c)[1:]
    assert (lost.template, lost.channel) == ("payments.chargeback_lost", "email")
    assert "for your card issuer: the 200.00 EUR went back to your card" in lost.body
    assert "Withdrawals from your account are possible again." in lost.body


# --- what the response's evidence holds, and the case page shows -------------------------------------


def test_good_the_evidence_holds_kyc_terms_addresses_the_payer_and_later_trading_and_the_page_shows_it(
    settings: Any, tmp_path: Any
) -> None:
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    from kyc.services.documents import document_upload
    from tests.ib.factories import deal
    from tests.kyc import files
    from tests.personas import sign_in

    settings.KYC_STORAGE_ROOT = tmp_path / "kyc"
    settings.CLIENT_TERMS_VERSION = "2026-07-b"
    c = approved_client()  # registered under the terms version above, with a trading account
    document_upload(
        client_id=c.pk, kind="proof_of_address", upload=SimpleUploadedFile("bill.pdf", files.pdf()),
        actor=staff(Role.SUPPORT),
    )  # fmt: skip
    deposit = card_deposit(c, "200.00")
    traded = deal(c, symbol="XAUUSD", lots="2.00", profit="-35.50", closed_at=timezone.now() + timedelta(hours=1))
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()

    officer = staff(Role.FINANCE)
    http = HttpClient()
    sign_in(http, officer)
    before = http.get(f"/payments/chargebacks/{case.pk}/")
    assert before.status_code == 200
    assert "Evidence the response will send" in before.content.decode()

    case = chargeback_respond(case_id=case.pk, actor=officer, note="The cardholder traded the funds.")
    evidence = case.evidence
    bill = next(d for d in evidence["kyc_documents"] if d["file"] == "bill.pdf")
    assert (bill["kind"], bill["sha256"]) == ("Proof of address", hashlib.sha256(files.pdf()).hexdigest())
    terms = evidence["terms_accepted"]
    assert (terms["version"], terms["how"]) == ("2026-07-b", TERMS_HOW)
    registered = AuditEvent.objects.get(action="client.registered", subject_id=str(c.pk))
    assert (terms["at"], terms["ip"]) == (registered.occurred_at.isoformat(), registered.ip)
    seen = evidence["sign_ins_and_ips"]
    assert (seen["client_sign_ins"], seen["note"]) == ([], SIGN_INS_NOTE)  # this client never signed in
    assert all({"at", "what", "by", "ip"} == set(row) for row in seen["actions_with_addresses"])
    payment = evidence["payment"]
    assert (payment["payer_name"], payment["payer_card"], payment["psp_payment"]) == (
        c.display_name, deposit.payer_account, deposit.external_id,
    )  # fmt: skip
    (callback,) = payment["psp_callbacks"]
    assert callback["type"] == "payment.succeeded"
    assert (callback["payment"]["cardholder"], callback["payment"]["card_last4"]) == (c.display_name, "4242")
    assert [(d["deal"], d["symbol"], d["lots"]) for d in evidence["later_trading"]] == [
        (traded.deal_id, "XAUUSD", "2.00")
    ]

    page = http.get(f"/payments/chargebacks/{case.pk}/").content.decode()
    assert "Evidence sent" in page and case.evidence_sha256 in page
    assert "Proof of address" in page and "bill.pdf" in page
    assert "Version 2026-07-b, in force at registration" in page
    assert "0 client-area sign-in(s) in the pack." in page
    assert f"paid by {c.display_name} with card" in page and "1 signed callback(s) from the provider" in page
    assert traded.deal_id in page and "XAUUSD" in page and "-35.50 " in page
    assert f'href="/audit/evidence/chargebacks/{case.pk}.zip"' not in page  # finance: no pack
    compliance = HttpClient()
    sign_in(compliance, staff(Role.COMPLIANCE))
    assert (
        f'href="/audit/evidence/chargebacks/{case.pk}.zip"'
        in compliance.get(f"/payments/chargebacks/{case.pk}/").content.decode()
    )


def test_good_a_client_registered_before_the_terms_version_was_recorded_says_so() -> None:
    from payments.services.chargebacks import _terms

    c = approved_client(provision=False)
    registered = AuditEvent.objects.get(action="client.registered", subject_id=str(c.pk))
    assert registered.after["terms_version"] == "2026-01"  # recorded from now on (the default version)
    # a registration event of before: no version in it
    older = AuditEvent(after={"reference": c.reference}, occurred_at=registered.occurred_at, ip=None)
    assert (_terms(c, older)["version"], _terms(c, older)["how"]) == (
        None, "Not recorded: the client registered before the terms version was recorded.",
    )  # fmt: skip


# --- the referring partner's own records, kept with the case -----------------------------------------


def test_good_the_case_keeps_the_referring_partners_records_with_the_clawback_and_restore(tmp_path: Any) -> None:
    """The partner who introduced the client, the plan version (its terms) it followed on the
    deposit's day and the client's commission lines with the clawback and the restore: on the case's
    page and in its evidence pack, never in what is sent to the PSP."""
    import io
    import zipfile

    from ib.services.partners import attribution_open
    from payments.services.chargebacks import chargeback_evidence
    from tests.ib.factories import follow, plan
    from tests.personas import sign_in

    c = approved_client(provision=False, first_name="Card", last_name="Holder")
    deposit = card_deposit(c, "300.00")
    _, _, low, _ = _cpa_everywhere(deposit, c)
    attribution_open(
        client=c, partner=low, valid_from=deposit.created_at - timedelta(days=3), source="referral", campaign="spring"
    )
    old_terms = plan("CBP", valid_from=timezone.localdate() - timedelta(days=60))
    old_terms.valid_to = timezone.localdate() - timedelta(days=10)
    old_terms.save()
    terms = plan("CBP", valid_from=timezone.localdate() - timedelta(days=10))  # version 2, in force today
    follow(low, terms, valid_from=timezone.localdate() - timedelta(days=90))
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()

    finance = sign_in(HttpClient(), staff(Role.FINANCE, username="cb-finance"))
    page = finance.get(f"/payments/chargebacks/{case.pk}/").content.decode()
    section = page.split('data-testid="case-partner"', 1)[1].split("</section>", 1)[0]
    assert "Partner CBL (active)" in section and "spring" in section
    assert "Plan CBP, version 2" in section and "commissions in EUR, held 7 days" in section
    assert section.count("Clawback") == 3 and "-100.00 EUR" in section and "Partner CBT" in section
    assert "this deposit" in section
    assert "partner_records" not in chargeback_evidence(case)  # kept inside: not sent to the PSP

    won = simpay.signed(simpay.dispute_decide(dispute_id=case.dispute_id, won=True).event)
    assert _post(won)[1]["status"] == "processed"
    http = sign_in(HttpClient(), staff(Role.COMPLIANCE, username="cb-compliance"))
    response = http.get(f"/audit/evidence/chargebacks/{case.pk}.zip")
    assert response.status_code == 200
    pack = zipfile.ZipFile(io.BytesIO(response.content))
    records = json.loads(pack.read("partner_records.json"))
    assert (records["partner"]["name"], records["partner"]["at_the_deposit"]) == ("Partner CBL", True)
    assert (records["plan"]["name"], records["plan"]["version"]) == ("Plan CBP", 2)
    kinds = [(line["kind"], line["partner"], line["amount"]) for line in records["commission_lines"]]
    assert sorted(kinds) == sorted([
        ("CPA", "Partner CBT", "40.00"), ("CPA", "Partner CBM", "60.00"), ("CPA", "Partner CBL", "100.00"),
        ("Clawback", "Partner CBT", "-40.00"), ("Clawback", "Partner CBM", "-60.00"),
        ("Clawback", "Partner CBL", "-100.00"),
        ("Restored (chargeback won)", "Partner CBT", "40.00"), ("Restored (chargeback won)", "Partner CBM", "60.00"),
        ("Restored (chargeback won)", "Partner CBL", "100.00"),
    ])  # fmt: skip
    assert all(line["about_this_deposit"] for line in records["commission_lines"])
    restore = next(line for line in records["commission_lines"] if line["kind"].startswith("Restored"))
    clawback = next(line for line in records["commission_lines"] if line["line"] == restore["reverses"])
    assert clawback["kind"] == "Clawback"
    assert records["lines_total"] == 9
    manifest = json.loads(pack.read("manifest.json"))
    assert "partner_records.json" in manifest["files"]


def test_good_a_case_of_a_client_no_partner_referred_says_so() -> None:
    from tests.personas import sign_in

    deposit = card_deposit(approved_client(provision=False), "120.00")
    _post(simpay.signed(_dispute(deposit)))
    case = ChargebackCase.objects.get()
    page = sign_in(HttpClient(), staff(Role.FINANCE)).get(f"/payments/chargebacks/{case.pk}/").content.decode()
    assert "No partner referred this client." in page and "No commission about this client." in page
