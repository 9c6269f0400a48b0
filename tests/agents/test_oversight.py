"""The gate and the oversight figures, through the door's own functions (no server process):
limits, shadow mode, edited proposals, the rubber-stamping alert, and the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings

from agents import door, errors
from agents.errors import AgentError
from agents.models import Agent, AgentCall, Scope
from agents.selectors import agent_figures
from agents.services import agent_actor, proposal_review, rubber_stamp_watch
from audit.context import acting_as
from kyc.models import Document, DocumentStatus
from ops.errors import OpsError
from ops.models import ApprovalRequest, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide
from tests.agents.conftest import photo
from tests.agents.helpers import register_agent, upload
from tests.factories import client, staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _kyc_files(tmp_path: Any) -> Any:
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        yield


def _propose(agent: Agent, document: Document, decision: str = "accept") -> dict[str, Any]:
    return door.propose_kyc_document_decision(
        agent_id=agent.pk, document_id=document.pk, decision=decision, rationale="checked", evidence=["e"],
        reason_code="" if decision == "accept" else "blurred",
    )  # fmt: skip


def _documents(n: int) -> list[Document]:
    return [upload(client(), "proof_of_address", photo(400, 300, seed=i), f"bill{i}.png") for i in range(n)]


def test_bad_rate_limit_refuses_the_call_past_the_limit() -> None:
    agent, _ = register_agent("quick", [Scope.READ_DOCUMENTS], rate_per_minute=2)
    c = client()
    door.document_checklist(agent_id=agent.pk, client_reference=c.reference)
    door.document_checklist(agent_id=agent.pk, client_reference=c.reference)
    with pytest.raises(AgentError, match=errors.RATE_LIMITED.format(limit=2)):
        door.document_checklist(agent_id=agent.pk, client_reference=c.reference)
    assert list(AgentCall.objects.values_list("outcome", flat=True).order_by("id")) == ["ok", "ok", "refused"]


def test_bad_proposal_is_refused_and_opens_nothing() -> None:
    agent, _ = register_agent("sloppy", [Scope.PROPOSE_KYC_DOCUMENT])
    (document,) = _documents(1)
    with pytest.raises(AgentError, match="reason_code"):
        door.propose_kyc_document_decision(
            agent_id=agent.pk, document_id=document.pk, decision="reject", rationale="bad", evidence=[]
        )
    with pytest.raises(AgentError, match=errors.RATIONALE_REQUIRED):
        door.propose_kyc_document_decision(
            agent_id=agent.pk, document_id=document.pk, decision="accept", rationale=" ", evidence=[]
        )
    assert not ApprovalRequest.objects.filter(action="agents.kyc_document_decision").exists()


def test_shadow_mode_keeps_proposals_and_compares_them_with_what_people_decided() -> None:
    from kyc.services.documents import document_review

    agent, _ = register_agent("shadowy", [Scope.PROPOSE_KYC_DOCUMENT], shadow=True)
    first, second = _documents(2)
    assert _propose(agent, first)["shadow"] is True
    _propose(agent, second, "reject")
    assert not ApprovalRequest.objects.filter(action="agents.kyc_document_decision").exists()  # nothing submitted
    officer = staff(Role.COMPLIANCE)
    document_review(document_id=first.pk, reviewer=officer, accept=True, note="fine")
    document_review(document_id=second.pk, reviewer=officer, accept=True, note="fine too")
    figures = agent_figures(agent)
    assert (figures.made, figures.shadow, figures.shadow_compared, figures.shadow_agreed) == (0, 2, 2, 1)


def test_figures_count_accepted_edited_and_rejected() -> None:
    agent, _ = register_agent("counted", [Scope.PROPOSE_KYC_DOCUMENT], minutes_saved_per_accepted=4)
    docs = _documents(4)
    proposals = [_propose(agent, d) for d in docs]
    officer = staff(Role.COMPLIANCE)
    approval_decide(request_id=proposals[0]["approval_request"], checker=officer, decision="approve", reason="ok")
    approval_decide(request_id=proposals[1]["approval_request"], checker=officer, decision="reject", reason="no")
    proposal = Agent.objects.get(pk=agent.pk).proposals.get(request_id=proposals[2]["approval_request"])
    proposal_review(
        proposal_id=proposal.pk, reviewer=officer, outcome="edited", reason="too dark",
        edited={"decision": "reject", "reason_code": "blurred"},
    )  # fmt: skip
    assert Document.objects.get(pk=docs[2].pk).status == DocumentStatus.REJECTED  # the officer's own version
    figures = agent_figures(agent)
    assert (figures.made, figures.accepted, figures.rejected, figures.edited, figures.pending) == (4, 1, 1, 1, 1)
    assert figures.acceptance_percent == "33%" and figures.minutes_saved == 4


@override_settings(AGENTS_RUBBER_STAMP_MIN_DECIDED=3)
def test_rubber_stamping_opens_a_security_alert_item() -> None:
    agent, _ = register_agent("stamped", [Scope.PROPOSE_KYC_DOCUMENT])
    officer = staff(Role.COMPLIANCE)
    for document in _documents(3):
        request_id = _propose(agent, document)["approval_request"]
        approval_decide(request_id=request_id, checker=officer, decision="approve", reason="ok")
    assert len(rubber_stamp_watch()) == 1
    item = WorkItem.objects.get(queue__code="security_alert", subject_id=str(agent.pk))
    assert "100%" in item.title
    assert rubber_stamp_watch() == [item.pk]  # the same open item, not a second one


def test_agent_actor_cannot_decide_even_naming_a_compliance_officer() -> None:
    from ops.errors import OpsError

    agent, _ = register_agent("sneaky", [Scope.PROPOSE_KYC_DOCUMENT])
    (document,) = _documents(1)
    request_id = _propose(agent, document)["approval_request"]
    with acting_as(agent_actor(agent)), pytest.raises(OpsError):
        approval_decide(request_id=request_id, checker=staff(Role.COMPLIANCE), decision="approve", reason="me")
    assert Document.objects.get(pk=document.pk).status == DocumentStatus.PENDING


def test_register_page_shows_the_token_once_and_it_opens_the_door(persona: Any) -> None:
    from agents.services import agent_for_token

    http = persona(Role.ADMIN.value)
    owner = staff(Role.ADMIN, username="owner-of-bot")
    response = http.post(
        "/agents/new/",
        {"name": "new-bot", "owner": owner.pk, "purpose": "reads queues", "scopes": ["read:queues"],
         "rate_per_minute": 30, "daily_budget": 100},
    )  # fmt: skip
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = response.context["token"]
    assert agent_for_token(token) == Agent.objects.get(name="new-bot")
    assert token not in http.get(f"/agents/{Agent.objects.get(name='new-bot').pk}/").content.decode()
    bad = http.post("/agents/new/", {"name": "Not a slug!", "owner": owner.pk, "purpose": "x"})
    assert bad.status_code == 400 and Agent.objects.count() == 1


def test_a_new_agent_runs_only_once_another_administrator_approves_and_wider_scopes_wait_too() -> None:
    from agents.approval_actions import AGENT_GRANT
    from agents.services import agent_register, agent_set_enabled, agent_update
    from ops.errors import OpsError

    maker, checker = staff(Role.ADMIN), staff(Role.ADMIN)
    agent, _ = agent_register(name="fresh", owner=maker, purpose="reads", scopes=[Scope.READ_CLIENTS], actor=maker)
    c = client()
    with pytest.raises(AgentError, match=re.escape(errors.AGENT_DISABLED)):
        door.client_summary(agent_id=agent.pk, client_reference=c.reference)
    request = ApprovalRequest.objects.get(action=AGENT_GRANT, subject_id=str(agent.pk))
    with pytest.raises(OpsError):  # the maker does not approve their own request
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="mine")
    approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="purpose checked")
    assert door.client_summary(agent_id=agent.pk, client_reference=c.reference)["reference"] == c.reference
    # wider: waits; narrower: at once
    agent_update(
        agent_id=agent.pk, actor=maker, reason="also documents", scopes=[Scope.READ_CLIENTS, Scope.READ_DOCUMENTS]
    )
    assert Agent.objects.get(pk=agent.pk).scopes == [Scope.READ_CLIENTS]
    assert ApprovalRequest.objects.filter(action=AGENT_GRANT, status="pending").count() == 1
    agent_update(agent_id=agent.pk, actor=maker, reason="no more clients", scopes=[])
    assert Agent.objects.get(pk=agent.pk).scopes == []
    widening = ApprovalRequest.objects.get(action=AGENT_GRANT, status="pending")
    approval_decide(request_id=widening.pk, checker=checker, decision="reject", reason="not needed")
    assert Agent.objects.get(pk=agent.pk).scopes == []
    # stopping is at once; running again is approved
    agent_set_enabled(agent_id=agent.pk, enabled=False, actor=maker, reason="pause")
    agent_set_enabled(agent_id=agent.pk, enabled=True, actor=maker, reason="resume")
    assert Agent.objects.get(pk=agent.pk).enabled is False


def test_proposed_withdrawal_rejection_is_carried_out_by_finance_and_closes_the_review() -> None:
    from payments.models import WithdrawalStatus
    from payments.services.ledger import wallet_for
    from payments.services.withdrawals import withdrawal_request
    from tests.factories import approved_client, card_deposit

    c = approved_client(provision=False)
    card = card_deposit(c, "5000.00").payer_account
    wallet = wallet_for(client=c, currency="EUR")
    w = withdrawal_request(
        client=c, source=wallet, amount="300.00", method="card", destination=card, destination_name="Someone Else"
    )
    assert w.status == WithdrawalStatus.UNDER_REVIEW
    agent, _ = register_agent("payout-watch", [Scope.READ_WITHDRAWALS, Scope.PROPOSE_WITHDRAWAL])
    checks = door.withdrawal_prechecks(agent_id=agent.pk, withdrawal_reference=w.reference)
    assert checks["untrusted"]["destination_name"] == "Someone Else"
    proposed = door.propose_withdrawal_decision(
        agent_id=agent.pk, withdrawal_reference=w.reference, decision="reject", reason_code="third_party_destination",
        rationale="the card holder is not the client", evidence=["destination name differs"],
    )  # fmt: skip
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.UNDER_REVIEW  # proposed only
    approval_decide(request_id=proposed["approval_request"], checker=staff(Role.FINANCE), decision="approve",
                    reason="agreed")  # fmt: skip
    w.refresh_from_db()
    assert (w.status, w.reason_code) == (WithdrawalStatus.REJECTED, "third_party_destination")
    assert ApprovalRequest.objects.get(pk=w.approval_request_id).status == "cancelled"  # nobody decides it now


def test_every_kind_of_proposal_can_be_edited_and_counts_as_edited() -> None:
    from accounts.models import Client
    from agents.models import Proposal
    from ops.models import Interaction
    from tests.factories import work_item

    agent, _ = register_agent(
        "drafter", [Scope.PROPOSE_WORK_ITEM, Scope.PROPOSE_RISK_LEVEL, Scope.PROPOSE_CLIENT_REPLY]
    )
    c = client()
    item = work_item("kyc_review", subject=c, title="KYC review")
    resolution = door.propose_work_item_resolution(
        agent_id=agent.pk, item_id=item.pk, code="no_action", note="nothing waits", rationale="client settled",
        evidence=[],
    )  # fmt: skip
    risk = door.propose_risk_level(
        agent_id=agent.pk, client_reference=c.reference, level="low", rationale="no findings", evidence=[]
    )
    reply = door.propose_client_reply(
        agent_id=agent.pk, client_reference=c.reference, message="Your documents are fine.", rationale="asked",
        evidence=[],
    )  # fmt: skip
    officer, desk = staff(Role.COMPLIANCE), staff(Role.SUPPORT)

    def edit(proposed: dict[str, Any], reviewer: Any, **edited: str) -> Proposal:
        proposal = Proposal.objects.get(request_id=proposed["approval_request"])
        return proposal_review(
            proposal_id=proposal.pk, reviewer=reviewer, outcome="edited", reason="my own version", edited=edited
        )

    # a reviewer outside the proposal's level may not edit it either (the edit is their decision)
    with pytest.raises(OpsError):
        edit(reply, officer, message="Not mine to send.")
    edit(resolution, officer, code="referred", note="referred to EDD: the address is a PO box")
    edit(risk, officer, level="high")
    edit(reply, desk, message="Your documents are fine; your account opens today.")

    item.refresh_from_db()
    assert (item.status, item.resolution_code, item.resolution_note, item.resolved_by) == (
        "resolved", "referred", "referred to EDD: the address is a PO box", officer,
    )  # fmt: skip
    assert Client.objects.get(pk=c.pk).risk_level == "high"
    sent = Interaction.objects.get(template="agents.client_reply")
    assert "your account opens today" in sent.body
    proposed = ApprovalRequest.objects.filter(action__in=["agents.work_item_resolution", "agents.risk_level",
                                                          "agents.client_reply"])  # fmt: skip
    assert list(proposed.values_list("status", flat=True)) == ["rejected"] * 3  # not the agent's versions
    figures = agent_figures(agent)
    assert (figures.made, figures.edited, figures.accepted, figures.rejected, figures.pending) == (3, 3, 0, 0, 0)


def test_review_page_edit_with_a_bad_value_names_the_field_and_keeps_the_proposal(persona: Any) -> None:
    from agents.models import Proposal

    agent, _ = register_agent("levels", [Scope.PROPOSE_RISK_LEVEL])
    c = client()
    proposed = door.propose_risk_level(
        agent_id=agent.pk, client_reference=c.reference, level="low", rationale="no findings", evidence=[]
    )
    proposal = Proposal.objects.get(request_id=proposed["approval_request"])
    http = persona(Role.COMPLIANCE.value)
    page = http.get("/agents/review/")
    assert page.status_code == 200 and f'name="edit-{proposal.pk}-level"' in page.content.decode()
    bad = http.post(
        f"/agents/review/{proposal.pk}/", {"outcome": "edited", "reason": "r", f"edit-{proposal.pk}-level": "extreme"}
    )
    assert bad.status_code == 400 and "Risk level" in bad.content.decode()
    assert ApprovalRequest.objects.get(pk=proposal.request_id).status == "pending"
    done = http.post(
        f"/agents/review/{proposal.pk}/", {"outcome": "edited", "reason": "PEP", f"edit-{proposal.pk}-level": "high"}
    )
    assert done.status_code == 302
    assert (Proposal.objects.get(pk=proposal.pk).review, c.__class__.objects.get(pk=c.pk).risk_level) == (
        "edited", "high",
    )  # fmt: skip


def test_shadow_routing_is_compared_once_people_move_or_resolve_the_item() -> None:
    from ops.services.work_items import work_item_route
    from tests.factories import work_item

    agent, _ = register_agent("router-shadow", [Scope.READ_QUEUES, Scope.PROPOSE_WORK_ITEM_ROUTING], shadow=True)
    first, second = work_item("client_follow_up"), work_item("client_follow_up")
    for item in (first, second):
        proposed = door.propose_work_item_routing(
            agent_id=agent.pk, item_id=item.pk, rationale="a high-risk client", evidence=["risk: high"],
            queue="compliance_escalation", risk_level="high",
        )  # fmt: skip
        assert proposed["shadow"] is True
    assert agent_figures(agent).shadow_compared == 0  # both still where they were: nobody decided
    desk = staff(Role.SUPPORT)
    work_item_route(
        item_id=first.pk, actor=desk, reason="compliance calls", queue="compliance_escalation", risk_level="high"
    )
    work_item_route(item_id=second.pk, actor=desk, reason="the KYC team", queue="kyc_review", risk_level="high")
    figures = agent_figures(agent)
    assert (figures.shadow, figures.shadow_compared, figures.shadow_agreed) == (2, 2, 1)
