"""What people read about agents: each agent's proposals and how people decided them (the
oversight figures), the proposals waiting for a decision, and shadow proposals beside what people
decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from agents.models import Agent, AgentSwitch, Proposal, ReviewOutcome
from ops.models import OPEN_STATUSES, ApprovalStatus, WorkItem


def agents_list() -> QuerySet[Agent]:
    return Agent.objects.select_related("owner").order_by("name")


def agents_stopped_now() -> bool:
    return AgentSwitch.objects.filter(pk=1, stopped=True).exists()


def agent_get(agent_id: int) -> Agent:
    return Agent.objects.select_related("owner").get(pk=agent_id)


@dataclass(frozen=True)
class Figures:
    made: int
    pending: int
    accepted: int
    edited: int
    rejected: int
    closed_otherwise: int  # expired, cancelled or failed after approval
    shadow: int
    shadow_agreed: int
    shadow_compared: int
    minutes_saved: int

    @property
    def decided(self) -> int:
        return self.accepted + self.edited + self.rejected

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted as proposed, over every proposal a person decided (None before the first)."""
        return self.accepted / self.decided if self.decided else None

    @property
    def acceptance_percent(self) -> str:
        rate = self.acceptance_rate
        return "—" if rate is None else f"{rate * 100:.0f}%"


def _outcome(proposal: Proposal) -> str:
    if proposal.review == ReviewOutcome.EDITED:
        return "edited"
    request = proposal.request
    if request is None:
        return "shadow"
    return {
        ApprovalStatus.PENDING: "pending",
        ApprovalStatus.EXECUTED: "accepted",
        ApprovalStatus.REJECTED: "rejected",
    }.get(request.status, "closed")


def proposal_outcome(proposal: Proposal) -> str:
    return _outcome(proposal)


def shadow_human_decision(proposal: Proposal) -> str | None:
    """What people decided on the subject of a shadow proposal, in the proposal's own terms
    (None while nobody has)."""
    subject = proposal.subject_type.get_object_for_this_type(pk=proposal.subject_id)
    if proposal.action == "agents.kyc_document_decision":
        return {"accepted": "accept", "rejected": "reject"}.get(getattr(subject, "status", ""))
    if proposal.action == "agents.work_item_resolution":
        return getattr(subject, "resolution_code", "") or None
    if proposal.action == "agents.risk_level":
        return getattr(subject, "risk_level", None)
    if proposal.action == "agents.withdrawal_decision":
        # approved by people (paid, on its way, or failed at the payout after approval) or rejected
        status = getattr(subject, "status", "")
        return {"approved": "approve", "processing": "approve", "paid": "approve", "failed": "approve",
                "rejected": "reject"}.get(status)  # fmt: skip
    if proposal.action == "agents.work_item_routing":
        # people decided once the item left the queue it was in, or was resolved there: where it
        # went and at which risk level
        assert isinstance(subject, WorkItem)
        moved = subject.queue.code != proposal.payload.get("from_queue")
        if not moved and subject.status in OPEN_STATUSES:
            return None
        return f"{subject.queue.code}/{subject.risk_level}"
    return None


def _shadow_agrees(proposal: Proposal) -> bool | None:
    human = shadow_human_decision(proposal)
    if human is None:
        return None
    if proposal.action == "agents.work_item_routing":
        queue, level = human.split("/", 1)
        payload = proposal.payload
        return (not payload.get("queue") or payload["queue"] == queue) and (
            not payload.get("risk_level") or payload["risk_level"] == level
        )
    mine = proposal.payload.get("decision") or proposal.payload.get("code") or proposal.payload.get("level")
    return bool(mine == human)


def agent_figures(agent: Agent, *, since: Any = None) -> Figures:
    proposals = agent.proposals.select_related("request", "subject_type")
    if since is not None:
        proposals = proposals.filter(created_at__gte=since)
    counts = {"pending": 0, "accepted": 0, "edited": 0, "rejected": 0, "closed": 0, "shadow": 0}
    agreed = compared = 0
    for proposal in proposals:
        outcome = _outcome(proposal)
        counts[outcome] += 1
        if outcome == "shadow":
            agrees = _shadow_agrees(proposal)
            if agrees is not None:
                compared += 1
                agreed += int(agrees)
    made = sum(counts.values()) - counts["shadow"]
    return Figures(
        made=made,
        pending=counts["pending"],
        accepted=counts["accepted"],
        edited=counts["edited"],
        rejected=counts["rejected"],
        closed_otherwise=counts["closed"],
        shadow=counts["shadow"],
        shadow_agreed=agreed,
        shadow_compared=compared,
        minutes_saved=counts["accepted"] * agent.minutes_saved_per_accepted,
    )


def agent_figures_window(agent: Agent, *, days: int) -> Figures:
    return agent_figures(agent, since=timezone.now() - timedelta(days=days))


def proposals_pending() -> QuerySet[Proposal]:
    """Proposals whose request is still waiting for a person."""
    return (
        Proposal.objects.filter(request__status=ApprovalStatus.PENDING)
        .select_related("agent", "request")
        .order_by("created_at", "pk")
    )


def proposals_of(agent: Agent, *, limit: int = 50) -> list[tuple[Proposal, str]]:
    rows = agent.proposals.select_related("request", "subject_type").order_by("-created_at", "-pk")[:limit]
    return [(p, _outcome(p)) for p in rows]
