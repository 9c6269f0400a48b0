"""An agent's proposed withdrawal decision, through the door's own functions and the real engine:
an approval is the accepting person's own decision on the withdrawal's review (its levels, its four
eyes, its controls run again), carried out once; a rejection, or a reviewer's edited version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient

from agents import door
from agents.approval_actions import WITHDRAWAL
from agents.errors import AgentError
from agents.models import Agent, Proposal, Scope
from agents.selectors import agent_figures
from agents.services import agent_actor, proposal_review
from audit.actions import AuditAction
from audit.context import acting_as
from audit.models import AuditEvent
from ops import errors as ops_errors
from ops.errors import OpsError
from ops.models import ApprovalDecision, ApprovalRequest, ApprovalStatus
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments import errors as payment_errors
from payments.models import Approval, ChargebackCase, Withdrawal, WithdrawalStatus
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_request
from sim import simpay
from tests.agents.helpers import register_agent
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _apply_inline(settings: Any) -> None:
    settings.WEBHOOK_APPLY = "inline"


def _under_review(*, entered_by: Any = None, amount: str = "2000.00") -> tuple[Withdrawal, Any]:
    """A withdrawal above the automatic limit with no findings: one finance approval (a client paid
    out before, so it is not a first withdrawal)."""
    c = approved_client(provision=False)
    deposit = card_deposit(c, "5000.00")
    wallet = wallet_for(client=c, currency="EUR")
    first = withdrawal_request(
        client=c, source=wallet, amount="100.00", method="card", destination=deposit.payer_account,
        destination_name=c.display_name,
    )  # fmt: skip
    Withdrawal.objects.filter(pk=first.pk).update(status=WithdrawalStatus.PAID)  # test data: paid before
    w = withdrawal_request(
        client=c, source=wallet, amount=amount, method="card", destination=deposit.payer_account,
        destination_name=c.display_name, requested_by=entered_by,
    )  # fmt: skip
    assert (w.status, w.approval) == (WithdrawalStatus.UNDER_REVIEW, Approval.FINANCE)
    return w, deposit


def _agent() -> Agent:
    agent, _ = register_agent("payout-bot", [Scope.READ_WITHDRAWALS, Scope.PROPOSE_WITHDRAWAL])
    return agent


def _propose(agent: Agent, w: Withdrawal, decision: str = "approve", reason_code: str = "") -> dict[str, Any]:
    return door.propose_withdrawal_decision(
        agent_id=agent.pk, withdrawal_reference=w.reference, decision=decision, reason_code=reason_code,
        rationale="pre-checks clean, paid to this card before", evidence=["checks all ok"],
    )  # fmt: skip


def test_proposed_approval_is_the_checkers_decision_on_the_review_and_executes_once() -> None:
    entered_by = staff(Role.FINANCE, username="fin-maker")
    w, _ = _under_review(entered_by=entered_by)
    agent = _agent()
    proposed = _propose(agent, w)
    request = ApprovalRequest.objects.get(pk=proposed["approval_request"])
    assert (request.action, request.status, request.maker_label) == (WITHDRAWAL, "pending", "agent:payout-bot")
    assert request.required_roles == ["finance"]  # the withdrawal review's own level
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.UNDER_REVIEW  # proposed only
    # the agent is never the checker, whoever it names
    with acting_as(agent_actor(agent)), pytest.raises(OpsError, match=ops_errors.AGENT_NEVER_CHECKER):
        approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="me")
    # the person who entered the withdrawal may not approve it through the agent's proposal either
    with pytest.raises(OpsError, match=payment_errors.WITHDRAW_NOT_YOURS_TO_DECIDE):
        approval_decide(request_id=request.pk, checker=entered_by, decision="approve", reason="mine")
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.PENDING

    checker = staff(Role.FINANCE, username="fin-checker")
    done = approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="agreed")
    assert done.status == ApprovalStatus.EXECUTED
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.APPROVED
    review = ApprovalRequest.objects.get(pk=w.approval_request_id)
    assert review.status == ApprovalStatus.EXECUTED
    (decision,) = ApprovalDecision.objects.filter(request=review)
    assert (decision.checker, decision.decision) == (checker, "approve")
    assert f"agent:payout-bot's proposal #{request.pk}" in decision.reason
    assert AuditEvent.objects.filter(action=AuditAction.WITHDRAWAL_APPROVED, subject_id=str(w.pk)).count() == 1
    # exactly once: neither request can be decided again
    for pk in (request.pk, review.pk):
        with pytest.raises(OpsError):
            approval_decide(request_id=pk, checker=staff(Role.FINANCE), decision="approve", reason="again")
    assert AuditEvent.objects.filter(action=AuditAction.WITHDRAWAL_APPROVED, subject_id=str(w.pk)).count() == 1


def test_accepting_an_approval_of_a_two_level_withdrawal_is_its_first_level_only() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "5000.00")
    w = withdrawal_request(  # a first withdrawal: finance, then compliance
        client=c, source=wallet_for(client=c, currency="EUR"), amount="300.00", method="card",
        destination=deposit.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    assert w.approval == Approval.FINANCE_COMPLIANCE
    proposed = _propose(_agent(), w)
    done = approval_decide(
        request_id=proposed["approval_request"], checker=staff(Role.FINANCE), decision="approve", reason="ok"
    )
    assert (done.status, done.result["waiting_for"]) == (ApprovalStatus.EXECUTED, "compliance")
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.UNDER_REVIEW and w.approval_request_id is not None  # compliance's level
    approval_decide(request_id=w.approval_request_id, checker=staff(Role.COMPLIANCE), decision="approve", reason="ok")
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.APPROVED


def test_bad_chargeback_opened_after_the_proposal_refuses_the_approval_with_its_reason() -> None:
    w, deposit = _under_review()
    agent = _agent()
    proposed = _propose(agent, w)
    evt = simpay.dispute_open(payment_id=deposit.external_id, amount=Decimal("100.00"), due_days=10).event
    delivery = simpay.signed(evt)
    response = HttpClient().post(
        "/webhooks/simpay/", data=delivery.body, content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=delivery.signature,
    )  # fmt: skip
    assert response.status_code == 200
    case = ChargebackCase.objects.get(client=w.client)
    stopped = payment_errors.WITHDRAW_CHARGEBACK_OPEN.format(client=w.client.display_name, reference=case.reference)

    proposal = Proposal.objects.get(request_id=proposed["approval_request"])
    reviewed = proposal_review(proposal_id=proposal.pk, reviewer=staff(Role.FINANCE), outcome="accepted", reason="ok")
    assert reviewed.request is not None
    reviewed.request.refresh_from_db()
    assert (reviewed.request.status, reviewed.request.failure_reason) == (ApprovalStatus.FAILED, stopped)
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.UNDER_REVIEW  # nothing carried out
    review = ApprovalRequest.objects.get(pk=w.approval_request_id)
    assert (review.status, review.decisions.count()) == (ApprovalStatus.PENDING, 0)  # still for people
    assert not AuditEvent.objects.filter(action=AuditAction.WITHDRAWAL_APPROVED, subject_id=str(w.pk)).exists()
    # while the chargeback is open, a new proposal to approve is refused at the door, with the reason
    with pytest.raises(AgentError) as refused:
        _propose(agent, w)
    assert str(refused.value) == stopped
    assert ApprovalRequest.objects.filter(action=WITHDRAWAL, subject_id=str(w.pk)).count() == 1


def test_bad_approval_proposal_for_a_restricted_client_is_refused_naming_the_control() -> None:
    from accounts.models import Client

    w, _ = _under_review()
    Client.objects.filter(pk=w.client_id).update(status="restricted")  # test data: restricted meanwhile
    with pytest.raises(AgentError, match="status: client is restricted"):
        _propose(_agent(), w)
    with pytest.raises(AgentError, match="decision: approve or reject"):
        _propose(Agent.objects.get(name="payout-bot"), w, decision="pay it")
    assert not ApprovalRequest.objects.filter(action=WITHDRAWAL).exists()


def test_edited_approval_becomes_the_reviewers_rejection_and_counts_as_edited() -> None:
    w, _ = _under_review()
    agent = _agent()
    proposal = Proposal.objects.get(request_id=_propose(agent, w)["approval_request"])
    officer = staff(Role.FINANCE)
    with pytest.raises(AgentError, match="Nothing was changed"):
        proposal_review(
            proposal_id=proposal.pk, reviewer=officer, outcome="edited", reason="same",
            edited={"decision": "approve", "reason_code": ""},
        )  # fmt: skip
    with pytest.raises(OpsError, match="reason_code"):
        proposal_review(
            proposal_id=proposal.pk, reviewer=officer, outcome="edited", reason="no code", edited={"decision": "reject"}
        )
    assert ApprovalRequest.objects.get(pk=proposal.request_id).status == ApprovalStatus.PENDING  # nothing kept
    proposal_review(
        proposal_id=proposal.pk, reviewer=officer, outcome="edited", reason="the card holder name is not the client's",
        edited={"decision": "reject", "reason_code": "third_party_destination"},
    )  # fmt: skip
    w.refresh_from_db()
    assert (w.status, w.reason_code) == (WithdrawalStatus.REJECTED, "third_party_destination")
    assert ApprovalRequest.objects.get(pk=proposal.request_id).status == ApprovalStatus.REJECTED
    assert ApprovalRequest.objects.get(pk=w.approval_request_id).status == ApprovalStatus.CANCELLED
    figures = agent_figures(agent)
    assert (figures.made, figures.edited, figures.accepted, figures.rejected) == (1, 1, 0, 0)


def test_shadow_withdrawal_decisions_are_compared_with_what_people_decided() -> None:
    agent, _ = register_agent("payout-shadow", [Scope.READ_WITHDRAWALS, Scope.PROPOSE_WITHDRAWAL], shadow=True)
    first, _ = _under_review()
    second, _ = _under_review()
    assert _propose(agent, first)["shadow"] is True
    _propose(agent, second, "reject", "third_party_destination")
    assert not ApprovalRequest.objects.filter(action=WITHDRAWAL).exists()  # nothing submitted
    figures = agent_figures(agent)
    assert (figures.shadow, figures.shadow_compared) == (2, 0)  # nobody has decided yet
    for w in (first, second):  # people approve both on their own reviews
        review = ApprovalRequest.objects.get(subject_id=str(w.pk), status=ApprovalStatus.PENDING)
        approval_decide(request_id=review.pk, checker=staff(Role.FINANCE), decision="approve", reason="checked")
    assert set(Withdrawal.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) <= {
        WithdrawalStatus.APPROVED,
        WithdrawalStatus.PROCESSING,
        WithdrawalStatus.PAID,
    }
    figures = agent_figures(agent)
    assert (figures.shadow, figures.shadow_compared, figures.shadow_agreed) == (2, 2, 1)


def test_proposal_on_a_withdrawal_is_not_in_the_inbox_of_the_person_who_entered_it() -> None:
    """The approvals inbox lists only what its reader may decide: the person who entered the
    withdrawal does not see the agent's proposal on it (they would be refused), another finance
    officer does."""
    from ops.services.approvals import approvals_inbox
    from tests.personas import sign_in

    entered_by = staff(Role.FINANCE, username="fin-enterer")
    w, _ = _under_review(entered_by=entered_by)
    request = ApprovalRequest.objects.get(pk=_propose(_agent(), w)["approval_request"])
    other = staff(Role.FINANCE, username="fin-other")
    assert request.pk in [r.pk for r in approvals_inbox(other)]
    assert request.pk not in [r.pk for r in approvals_inbox(entered_by)]
    page = sign_in(HttpClient(), other).get("/approvals/")
    assert page.status_code == 200 and f"/approvals/{request.pk}/" in page.content.decode()
    page = sign_in(HttpClient(), entered_by).get("/approvals/")
    assert page.status_code == 200 and f"/approvals/{request.pk}/" not in page.content.decode()
