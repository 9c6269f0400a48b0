"""Partner commissions in the ledger: posted (expense → pending payable; a rebate to the client's
wallet), released after the hold period, paid out by an approved payout to the partner's own
wallet and withdrawn from there through the ordinary withdrawal flow, adjusted by an approved
adjustment, clawed back when the deposit that qualified a CPA is reversed. After every step each
partner's payables equal the sums of its lines by status, and ``ledger_verify`` passes."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audit.context import Actor, acting_as
from ib import errors
from ib.errors import PartnerError
from ib.models import CommissionLine, LineKind, LineStatus, Partner
from ib.services.money import (
    commission_adjustment_request,
    commission_lines_post,
    commission_payout_request,
    commissions_release_due,
    partner_payables,
)
from ops.errors import OpsError
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.models import EntryKind, JournalEntry, WithdrawalStatus
from payments.services.deposits import deposit_refund
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from payments.services.withdrawals import withdrawal_request
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import tree
from tests.ib.lines import line

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _agree(*partners: Partner) -> None:
    """Each partner's payables (ledger) equal its lines' sums by status; the ledger verifies."""
    for partner in partners:
        for p in partner_payables(partner):
            assert (p.pending, p.available) == (p.lines_pending, p.lines_available), (partner.code, p)
    report = ledger_verify()
    assert report.breaks == []


def _with_client(partner: Partner, client: Any) -> Partner:
    """The partner with its own client record linked (whose wallet receives its payouts)."""
    Partner.objects.filter(pk=partner.pk).update(client=client)
    return Partner.objects.get(pk=partner.pk)


def _payables(partner: Partner) -> tuple[Decimal, Decimal]:
    (p,) = partner_payables(partner)
    return p.pending, p.available


def test_good_post_credits_pending_payables_and_pays_rebates_to_the_wallet() -> None:
    a, b = tree("AX1", "BX1")
    c = approved_client(provision=False)
    first = line(b, c, "10.00")
    line(a, c, "6.00", deal=first.deal, level=1, tree=[b.pk, a.pk])
    rebate = line(None, c, "2.50", kind=LineKind.REBATE, deal=first.deal, tree=[b.pk, a.pk])

    assert commission_lines_post() == 3
    assert commission_lines_post() == 0  # nothing twice
    assert CommissionLine.objects.filter(entry__isnull=True).count() == 0
    assert _payables(b) == (Decimal("10.00"), Decimal("0"))
    assert _payables(a) == (Decimal("6.00"), Decimal("0"))
    rebate.refresh_from_db()
    assert rebate.status == LineStatus.PAID
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("2.50")
    assert JournalEntry.objects.filter(kind=EntryKind.COMMISSION).count() == 3  # A, B, the client's rebate
    _agree(a, b)


def test_good_release_moves_only_lines_past_their_hold_period() -> None:
    (a,) = tree("AX2")
    c = approved_client(provision=False)
    due = line(a, c, "12.00", available_on=TODAY)
    line(a, c, "3.00", available_on=TODAY + timedelta(days=2))
    commission_lines_post()

    assert commissions_release_due(today=TODAY) == 1
    assert commissions_release_due(today=TODAY) == 0
    due.refresh_from_db()
    assert due.status == LineStatus.AVAILABLE
    assert _payables(a) == (Decimal("3.00"), Decimal("12.00"))
    _agree(a)


def test_bad_payout_of_a_partner_without_a_client_record_says_to_link_one() -> None:
    (a,) = tree("AX3")
    c = approved_client(provision=False)
    line(a, c, "20.00", available_on=TODAY)
    commission_lines_post()
    commissions_release_due(today=TODAY)
    with pytest.raises(PartnerError) as exc:
        commission_payout_request(partner=a, currency="EUR", actor=staff(Role.FINANCE), reason="monthly payout")
    assert str(exc.value) == errors.PARTNER_HAS_NO_CLIENT.format(partner=a.name)


def test_good_payout_approved_by_a_second_finance_officer_then_the_partner_withdraws() -> None:
    own = approved_client(provision=False)
    (a,) = tree("AX4")
    a = _with_client(a, own)
    c = approved_client(provision=False)
    line(a, c, "120.00", available_on=TODAY)
    line(a, c, "30.00", available_on=TODAY)
    later = line(a, c, "9.00", available_on=TODAY + timedelta(days=3))
    commission_lines_post()
    commissions_release_due(today=TODAY)
    wallet = wallet_for(client=own, currency="EUR")
    maker, checker = staff(Role.FINANCE), staff(Role.FINANCE)

    request = commission_payout_request(partner=a, currency="EUR", actor=maker, reason="monthly payout")
    with pytest.raises(OpsError):  # four eyes: the maker does not approve
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="ok")
    with pytest.raises(OpsError):  # support is not a finance checker
        approval_decide(request_id=request.pk, checker=staff(Role.SUPPORT), decision="approve", reason="ok")
    done = approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="statement checked")

    assert done.status == ApprovalStatus.EXECUTED, done.failure_reason
    assert balance_of(wallet).ledger == Decimal("150.00")
    assert _payables(a) == (Decimal("9.00"), Decimal("0.00"))
    assert set(CommissionLine.objects.filter(partner=a).exclude(pk=later.pk).values_list("status", flat=True)) == {
        LineStatus.PAID
    }
    _agree(a)

    # from the wallet, the partner withdraws through the ordinary flow, its checks and approvals
    withdrawal = withdrawal_request(
        client=own, source=wallet, amount="150.00", method="bank",
        destination="DE02120300000000202051", destination_name=own.display_name,
    )  # fmt: skip
    assert withdrawal.status == WithdrawalStatus.UNDER_REVIEW  # a first withdrawal: finance looks at it
    balance = balance_of(wallet)
    assert (balance.ledger, balance.held) == (Decimal("150.00"), Decimal("150.00"))
    assert withdrawal.approval_request_id is not None
    review = ApprovalRequest.objects.get(pk=withdrawal.approval_request_id)
    for role in review.required_roles:  # the withdrawal's own approval levels, each decided by its role
        approval_decide(request_id=review.pk, checker=staff(Role(role)), decision="approve", reason="ok")
    withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.APPROVED
    assert ledger_verify().breaks == []


def test_bad_payout_refused_when_what_is_available_changed_after_the_request() -> None:
    own = approved_client(provision=False)
    (a,) = tree("AX5")
    a = _with_client(a, own)
    c = approved_client(provision=False)
    cpa_deposit = card_deposit(c, "500.00", cardholder="Somebody Else")  # held for review
    line(a, c, "50.00", kind=LineKind.CPA, available_on=TODAY, qualifying_deposit=cpa_deposit)
    line(a, c, "10.00", available_on=TODAY)
    commission_lines_post()
    commissions_release_due(today=TODAY)
    request = commission_payout_request(partner=a, currency="EUR", actor=staff(Role.FINANCE), reason="payout")
    deposit_refund(deposit_id=cpa_deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party")

    done = approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")

    assert done.status == ApprovalStatus.FAILED
    assert "changed since the payout was asked for" in done.failure_reason
    assert balance_of(wallet_for(client=own, currency="EUR")).ledger == Decimal("0")
    _agree(a)


def test_good_clawback_reverses_cpa_lines_wherever_their_money_is_and_payables_agree_throughout() -> None:
    own = approved_client(provision=False)
    top, mid, low = tree("AX6", "BX6", "CX6")
    top = _with_client(top, own)
    c = approved_client(provision=False)
    deposit = card_deposit(c, "300.00", cardholder="Not The Client")  # held: finance may return it
    kw: dict[str, Any] = {"kind": LineKind.CPA, "qualifying_deposit": deposit, "tree": [low.pk, mid.pk, top.pk]}
    paid = line(top, c, "40.00", level=2, available_on=TODAY, **kw)
    available = line(mid, c, "60.00", level=1, available_on=TODAY, **kw)
    commission_lines_post()
    commissions_release_due(today=TODAY)
    pending = line(low, c, "100.00", level=0, **kw)
    commission_lines_post()
    payout = commission_payout_request(partner=top, currency="EUR", actor=staff(Role.FINANCE), reason="payout")
    approval_decide(request_id=payout.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    bonus = commission_adjustment_request(
        partner=mid, amount="5.00", currency="EUR", reason="campaign bonus", actor=staff(Role.SUPPORT), client=c
    )
    approval_decide(request_id=bonus.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    _agree(top, mid, low)

    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="not theirs")

    for original in (paid, available, pending):
        original.refresh_from_db()
        clawback = original.reversed_by
        assert original.status == LineStatus.REVERSED
        assert (clawback.kind, clawback.amount, clawback.qualifying_deposit_id) == (
            LineKind.CLAWBACK,
            -original.amount,
            deposit.pk,
        )
        assert clawback.entry is not None
    assert paid.reversed_by.status == LineStatus.AVAILABLE  # paid: the partner owes it back
    assert available.reversed_by.status == LineStatus.REVERSED
    assert pending.reversed_by.status == LineStatus.REVERSED
    assert _payables(low) == (Decimal("0.00"), Decimal("0"))
    assert _payables(mid) == (Decimal("0.00"), Decimal("5.00"))  # the adjustment stays
    assert _payables(top) == (Decimal("0.00"), Decimal("-40.00"))  # netted from the next payout
    _agree(top, mid, low)

    # a second reversal of the same deposit (the chargeback flow calling the hook again) claws nothing twice
    from ib.services.money import commissions_claw_back

    assert commissions_claw_back(deposit=deposit, reason="again") == []
    with pytest.raises(PartnerError) as exc:
        commission_payout_request(partner=top, currency="EUR", actor=staff(Role.FINANCE), reason="payout")
    assert str(exc.value) == errors.NOTHING_TO_PAY.format(partner=top.name, currency="EUR", amount="-40.00 EUR")


def test_good_adjustments_positive_and_negative_are_approved_by_finance_and_posted() -> None:
    (a,) = tree("AX7")
    c = approved_client(provision=False)
    earned = line(a, c, "25.00")
    commission_lines_post()
    support, finance = staff(Role.SUPPORT), staff(Role.FINANCE)

    up = commission_adjustment_request(
        partner=a, amount="7.50", currency="EUR", reason="missed rebate tier", actor=support, line=earned
    )
    with pytest.raises(OpsError):  # support asks, finance approves
        approval_decide(request_id=up.pk, checker=staff(Role.SUPPORT), decision="approve", reason="ok")
    assert approval_decide(request_id=up.pk, checker=finance, decision="approve", reason="ok").status == (
        ApprovalStatus.EXECUTED
    )
    down = commission_adjustment_request(partner=a, amount="-2.00", currency="EUR", reason="over-paid", actor=finance,
                                         client=c)  # fmt: skip
    with pytest.raises(OpsError):  # the maker never approves their own
        approval_decide(request_id=down.pk, checker=finance, decision="approve", reason="ok")
    approval_decide(request_id=down.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")

    adjustments = CommissionLine.objects.filter(partner=a, kind=LineKind.ADJUSTMENT).order_by("id")
    assert [(x.amount, x.status, x.entry is not None) for x in adjustments] == [
        (Decimal("7.50"), LineStatus.AVAILABLE, True),
        (Decimal("-2.00"), LineStatus.AVAILABLE, True),
    ]
    assert _payables(a) == (Decimal("25.00"), Decimal("5.50"))
    _agree(a)


def test_bad_adjustment_of_zero_or_without_reason_or_by_a_role_without_the_permission() -> None:
    (a,) = tree("AX8")
    c = approved_client(provision=False)
    for amount, reason, actor, message in [
        ("0", "x", staff(Role.SUPPORT), errors.ADJUSTMENT_ZERO),
        ("5.00", " ", staff(Role.SUPPORT), errors.ADJUSTMENT_REASON),
        ("5.00", "x", staff(Role.RISK), errors.NOT_ALLOWED_ADJUST),
        ("5.001", "x", staff(Role.SUPPORT), errors.BAD_AMOUNT.format(value="5.001", currency="EUR")),
    ]:
        with pytest.raises(PartnerError) as exc:
            commission_adjustment_request(
                partner=a, amount=amount, currency="EUR", reason=reason, actor=actor, client=c
            )
        assert str(exc.value) == message
    assert not CommissionLine.objects.filter(kind=LineKind.ADJUSTMENT).exists()


@pytest.mark.django_db(transaction=True)
def test_good_two_posting_runs_at_once_post_each_line_once() -> None:
    a, b = tree("AX9", "BX9")
    c = approved_client(provision=False)
    for _ in range(30):
        first = line(b, c, "1.00")
        line(a, c, "0.50", deal=first.deal, level=1)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    failures: list[BaseException] = []

    def post() -> None:
        try:
            with acting_as(Actor.system("concurrency-test")):
                barrier.wait(30)
                counts.append(commission_lines_post())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert sorted(counts) == [0, 60]
    assert _payables(b) == (Decimal("30.00"), Decimal("0"))
    assert _payables(a) == (Decimal("15.00"), Decimal("0"))
    _agree(a, b)
