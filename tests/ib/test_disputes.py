"""Commission disputes: raised on a statement line, they land in the IB dispute queue with its
SLA; an adjustment is a maker-checker request linked to the dispute: approved by a second
person, it creates the adjustment line and its ledger entry and resolves the dispute as adjusted;
rejected, the dispute is open again. Bad input is refused with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ib import errors
from ib.errors import PartnerError
from ib.models import CommissionLine, Dispute, DisputeResolution, DisputeStatus, LineKind, LineStatus
from ib.services.disputes import dispute_propose_adjustment, dispute_raise, dispute_resolve
from ib.services.money import commission_lines_post, partner_payables
from ops.errors import OpsError
from ops.models import ApprovalStatus, ResolutionCode, WorkItem, WorkItemStatus
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.services.ledger import ledger_verify
from tests.factories import approved_client, staff
from tests.ib.factories import tree
from tests.ib.lines import line
from tests.personas import desk_user

pytestmark = pytest.mark.django_db


def _disputed_line() -> CommissionLine:
    a, b = tree("DSA", "DSB")
    c = approved_client(provision=False)
    earned = line(b, c, "8.00")
    line(a, c, "4.00", deal=earned.deal, level=1, tree=[b.pk, a.pk])
    commission_lines_post()
    earned.refresh_from_db()
    return earned


def test_good_raise_opens_a_work_item_in_the_dispute_queue_with_its_sla() -> None:
    disputed = _disputed_line()
    support = staff(Role.SUPPORT)

    dispute = dispute_raise(line=disputed, claim="Hedged trade paid at half rate", claimed_amount=Decimal("4.00"),
                            actor=support)  # fmt: skip

    assert dispute.reference.startswith("IBD-")
    assert (dispute.partner_id, dispute.deal_id, dispute.status) == (
        disputed.partner_id,
        disputed.deal_id,
        DisputeStatus.OPEN,
    )
    item = WorkItem.objects.get(pk=dispute.work_item_id)
    assert (item.queue.code, item.status, item.subject) == ("ib_dispute", WorkItemStatus.OPEN, dispute)
    assert item.due_at == item.created_at + timedelta(minutes=item.queue.sla_minutes)
    assert item.queue.sla_minutes == 72 * 60
    assert dispute.get_absolute_url() == f"/partners/disputes/{dispute.reference}/"
    second = dispute_raise(line=disputed, claim="again", actor=support)
    assert second.reference != dispute.reference


def test_good_approved_adjustment_creates_the_line_and_entry_and_resolves_the_dispute() -> None:
    disputed = _disputed_line()
    dispute = dispute_raise(line=disputed, claim="Rate should be 10 per lot", actor=staff(Role.SUPPORT))
    maker, checker = staff(Role.FINANCE), staff(Role.FINANCE)

    request = dispute_propose_adjustment(dispute_id=dispute.pk, actor=maker, amount="2.00", reason="rate was 10")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.approval_id) == (DisputeStatus.ADJUSTMENT_PENDING, request.pk)
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="mine")
    done = approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="checked the plan")

    assert done.status == ApprovalStatus.EXECUTED, done.failure_reason
    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolution) == (DisputeStatus.RESOLVED, DisputeResolution.ADJUSTED)
    adjustment = CommissionLine.objects.get(kind=LineKind.ADJUSTMENT)
    assert (adjustment.dispute_id, adjustment.partner_id, adjustment.amount, adjustment.status) == (
        dispute.pk,
        disputed.partner_id,
        Decimal("2.00"),
        LineStatus.AVAILABLE,
    )
    assert adjustment.entry is not None
    item = WorkItem.objects.get(pk=dispute.work_item_id)
    assert (item.status, item.resolution_code) == (WorkItemStatus.RESOLVED, ResolutionCode.FIXED)
    (payables,) = partner_payables(disputed.partner)  # type: ignore[arg-type]
    assert (payables.pending, payables.available) == (Decimal("8.00"), Decimal("2.00"))
    assert payables.agree
    assert ledger_verify().breaks == []


def test_good_rejected_adjustment_returns_the_dispute_to_open() -> None:
    disputed = _disputed_line()
    dispute = dispute_raise(line=disputed, claim="Missing tier", actor=staff(Role.FINANCE))
    request = dispute_propose_adjustment(dispute_id=dispute.pk, actor=staff(Role.SUPPORT), amount="1.00",
                                         reason="tier 2 missing")  # fmt: skip

    approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="reject", reason="plan says no")

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN
    assert not CommissionLine.objects.filter(kind=LineKind.ADJUSTMENT).exists()
    assert WorkItem.objects.get(pk=dispute.work_item_id).status == WorkItemStatus.OPEN
    # and it may then be resolved with a code, which closes its work item
    dispute_resolve(dispute_id=dispute.pk, actor=staff(Role.FINANCE), resolution="correct", note="as per plan v1")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolution) == (DisputeStatus.RESOLVED, DisputeResolution.CORRECT_AS_PAID)
    item = WorkItem.objects.get(pk=dispute.work_item_id)
    assert (item.status, item.resolution_code) == (WorkItemStatus.RESOLVED, ResolutionCode.NO_ACTION)


def test_bad_inputs_are_refused_and_nothing_is_stored() -> None:
    disputed = _disputed_line()
    support = staff(Role.SUPPORT)
    for kwargs, message in [
        ({"line": disputed, "claim": "  ", "actor": support}, errors.DISPUTE_NEEDS_CLAIM),
        ({"claim": "x", "actor": support}, errors.DISPUTE_NEEDS_LINE_OR_DEAL),
        ({"line": disputed, "claim": "x", "claimed_amount": Decimal("-1"), "actor": support},
         errors.DISPUTE_CLAIMED_NOT_POSITIVE),
        # a desk user sees some clients but not partners' lines; risk sees partners but handles no dispute
        ({"line": disputed, "claim": "x", "actor": desk_user(disputed.client)}, errors.NOT_ALLOWED_DISPUTE),
        ({"line": disputed, "claim": "x", "actor": staff(Role.RISK)}, errors.NOT_ALLOWED_DISPUTE),
    ]:  # fmt: skip
        with pytest.raises(PartnerError) as exc:
            dispute_raise(**kwargs)  # type: ignore[arg-type]
        assert str(exc.value) == message
    other = tree("DSO")[0]
    with pytest.raises(PartnerError) as exc:  # a partner disputes only its own lines
        dispute_raise(partner=other, line=disputed, claim="mine?", raised_by="partner DSO")
    assert str(exc.value) == errors.DISPUTE_NOT_YOUR_LINE.format(partner=other.name)
    assert not Dispute.objects.exists()

    dispute = dispute_raise(partner=disputed.partner, line=disputed, claim="short", raised_by="partner DSB")
    assert dispute.raised_by == "partner DSB"
    for amount, message in [
        ("0", errors.ADJUSTMENT_ZERO),
        ("-3.00", errors.ADJUSTMENT_NOT_POSITIVE),
        ("abc", errors.BAD_AMOUNT.format(value="abc", currency="EUR")),
    ]:
        with pytest.raises(PartnerError) as exc:
            dispute_propose_adjustment(dispute_id=dispute.pk, actor=support, amount=amount, reason="r")
        assert str(exc.value) == message
    with pytest.raises(PartnerError) as exc:
        dispute_resolve(dispute_id=dispute.pk, actor=support, resolution="adjusted", note="n")
    assert "an adjustment resolves a dispute only when approved" in str(exc.value)
    with pytest.raises(PartnerError) as exc:
        dispute_resolve(dispute_id=dispute.pk, actor=support, resolution="correct", note=" ")
    assert str(exc.value) == errors.DISPUTE_NEEDS_NOTE
    dispute.refresh_from_db()
    assert (dispute.status, dispute.approval_id) == (DisputeStatus.OPEN, None)
