"""Agents in the browser: a proposal an agent made through the MCP server is approved by a
compliance officer on the approvals page and carried out once; the built-in pre-check agent's
proposals over demo-like documents are reviewed on the agents' review page, and its acceptance rate
shows on its page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from agents.builtin import PRECHECK, precheck_run
from agents.models import Agent, Proposal, Scope
from agents.services import builtin_agents_ensure, builtin_token
from audit.actions import AuditAction
from audit.models import AuditEvent
from kyc.models import Document, DocumentStatus
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from tests.agents.conftest import McpProcess, agent_session, data, run_async
from tests.agents.helpers import approve_agents, client_with_documents, read_off, register_agent
from tests.browser.conftest import shot, sign_in
from tests.factories import staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def mcp(live_server: object, tmp_path: Path) -> Iterator[McpProcess]:
    server = McpProcess(tmp_path / "mcp.log").wait_ready()
    try:
        yield server
    finally:
        server.stop()


def test_agent_proposal_is_approved_in_the_browser_and_carried_out_once(page: Page, mcp: McpProcess) -> None:
    staff(Role.COMPLIANCE, username="cora")
    c, docs = client_with_documents(seed=21)
    _, token = register_agent("outside-model", [Scope.READ_DOCUMENTS, Scope.PROPOSE_KYC_DOCUMENT])
    (proposed,) = agent_session(
        mcp.url,
        token,
        ("propose_kyc_document_decision", {"document_id": docs[1].pk, "decision": "accept",
                                           "rationale": "a utility bill from last month", "evidence": ["dated"]}),
    )  # fmt: skip
    request_id = data(proposed)["approval_request"]
    sign_in(page, "cora")
    page.goto(f"/approvals/{request_id}/")
    body = page.locator("body")
    expect(body).to_contain_text("agent:outside-model")
    expect(body).to_contain_text("a utility bill from last month")
    page.get_by_label("Reason").fill("bill checked against the address on file")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("approval-status")).to_have_text("Executed")
    shot(page, "agent-proposal-approved")
    page.reload()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    assert Document.objects.get(pk=docs[1].pk).status == DocumentStatus.ACCEPTED
    assert ApprovalRequest.objects.get(pk=request_id).status == ApprovalStatus.EXECUTED
    accepted = AuditEvent.objects.filter(action=AuditAction.KYC_DOCUMENT_ACCEPTED, subject_id=str(c.pk))
    assert accepted.count() == 1


def test_precheck_agent_proposals_are_accepted_by_compliance_and_its_rate_shows(page: Page, mcp: McpProcess) -> None:
    admin = staff(Role.ADMIN, username="adam")
    staff(Role.COMPLIANCE, username="cora")
    builtin_agents_ensure(owner=admin, actor=admin)
    approve_agents()
    good, docs = client_with_documents(seed=31)
    read_off(docs[0], first_name=good.first_name, last_name=good.last_name, date_of_birth="1985-12-10")
    run_async(precheck_run(url=mcp.url, token=builtin_token(PRECHECK)))
    proposals = list(Proposal.objects.order_by("pk"))
    assert [p.payload["decision"] for p in proposals] == ["accept", "accept", "accept"]

    sign_in(page, "cora")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    page.get_by_role("link", name="proposals to review").click()
    for proposal, outcome in zip(proposals, ["accepted", "accepted", "rejected"], strict=True):
        card = page.get_by_test_id(f"proposal-{proposal.pk}")
        expect(card).to_contain_text("All pre-checks passed")
        card.get_by_label("Your decision").select_option(outcome)
        card.get_by_label("Reason", exact=True).fill("looked at the scan myself")
        card.get_by_role("button", name="Record decision").click()
        expect(page.locator(".messages")).to_contain_text(f"Proposal #{proposal.pk}")
    shot(page, "agents-review")
    assert [Document.objects.get(pk=d.pk).status for d in docs] == ["accepted", "accepted", "pending"]

    agent = Agent.objects.get(name=PRECHECK)
    page.goto(f"/agents/{agent.pk}/")
    expect(page.get_by_test_id("acceptance-rate")).to_have_text("67%")
    figures = page.get_by_test_id("agent-figures")
    expect(figures).to_contain_text("12 min")  # two accepted, six minutes each
    shot(page, "agent-precheck")


def test_reviewer_edits_an_agents_proposed_risk_level_in_the_browser(page: Page, mcp: McpProcess) -> None:
    from accounts.models import Client

    staff(Role.COMPLIANCE, username="cora")
    c, _ = client_with_documents(seed=41)
    agent, token = register_agent("risk-model", [Scope.READ_CLIENTS, Scope.PROPOSE_RISK_LEVEL])
    (proposed,) = agent_session(
        mcp.url,
        token,
        ("propose_risk_level", {"client_reference": c.reference, "level": "low",
                                "rationale": "no screening hits, salaried", "evidence": ["no hits"]}),
    )  # fmt: skip
    request_id = data(proposed)["approval_request"]
    proposal = Proposal.objects.get(request_id=request_id)

    sign_in(page, "cora")
    page.goto("/agents/review/")
    card = page.get_by_test_id(f"proposal-{proposal.pk}")
    expect(card).to_contain_text("no screening hits, salaried")
    expect(card.get_by_label("Risk level")).to_have_value("low")  # starts as the agent's
    card.get_by_label("Your decision").select_option("edited")
    card.get_by_label("Risk level").select_option("high")
    card.get_by_label("Reason", exact=True).fill("a PEP by marriage: the agent missed the relation")
    card.get_by_role("button", name="Record decision").click()
    expect(page.locator(".messages")).to_contain_text(f"Proposal #{proposal.pk}: edited.")
    expect(page.get_by_test_id(f"proposal-{proposal.pk}")).to_have_count(0)
    shot(page, "agents-review-edited")

    assert Client.objects.get(pk=c.pk).risk_level == "high"  # the reviewer's version, carried out
    assert ApprovalRequest.objects.get(pk=request_id).status == ApprovalStatus.REJECTED  # not the agent's
    page.goto(f"/agents/{agent.pk}/")
    figures = page.get_by_test_id("agent-figures")
    expect(figures).to_contain_text("Edited")
    expect(figures.locator("dt:has-text('Edited') + dd")).to_have_text("1")
    expect(page.get_by_test_id("acceptance-rate")).to_have_text("0%")
    expect(page.get_by_test_id("agent-proposals")).to_contain_text("edited")
