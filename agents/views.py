"""The agents' pages: the list with the stop button, one agent's oversight page, registering an
agent (its token shown once), and the review page where people decide proposals."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agents import services
from agents.approval_actions import AGENT_GRANT
from agents.edits import editable, proposed_values
from agents.errors import AgentError
from agents.forms import AgentRegisterForm, ReasonForm, ReviewForm, ScopesForm, edit_form
from agents.models import Agent, Proposal, Scope
from agents.selectors import (
    agent_figures,
    agents_list,
    agents_stopped_now,
    proposals_of,
    proposals_pending,
    shadow_human_decision,
)
from ops.approvals import get_action
from ops.errors import OpsError
from ops.models import ApprovalRequest, ApprovalStatus, User
from ops.services.approvals import approval_can_decide


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _agent(pk: int) -> Agent:
    try:
        return Agent.objects.select_related("owner").get(pk=pk)
    except Agent.DoesNotExist:
        raise Http404("No such agent.") from None


def agents_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    services.agents_can_view(user).require(PermissionDenied)
    rows = [(agent, agent_figures(agent)) for agent in agents_list()]
    return render(
        request,
        "agents/agents.html",
        {
            "rows": rows,
            "stopped": agents_stopped_now(),
            "can_manage": bool(services.agents_can_manage(user)),
            "pending": proposals_pending().count(),
        },
    )


def agent_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    services.agents_can_view(user).require(PermissionDenied)
    agent = _agent(pk)
    proposals = proposals_of(agent)
    shadow = [(p, shadow_human_decision(p)) for p, outcome in proposals if outcome == "shadow"]
    return render(
        request,
        "agents/agent.html",
        {
            "agent": agent,
            "figures": agent_figures(agent),
            "proposals": proposals,
            "shadow": shadow,
            "calls": agent.calls.all()[:30],
            "scope_labels": [Scope(s).label for s in agent.scopes if s in Scope.values],
            "can_manage": bool(services.agents_can_manage(user)),
            "scopes_form": ScopesForm(initial={"scopes": agent.scopes, "shadow": agent.shadow}),
            "stopped": agents_stopped_now(),
            "waiting": ApprovalRequest.objects.filter(
                action=AGENT_GRANT, subject_id=str(agent.pk), status=ApprovalStatus.PENDING
            ).first(),
        },
    )


def agent_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    services.agents_can_manage(user).require(PermissionDenied)
    form = AgentRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            agent, token = services.agent_register(
                name=d["name"], owner=d["owner"], purpose=d["purpose"], scopes=d["scopes"], actor=user,
                model_name=d["model_name"], prompt_version=d["prompt_version"], rate_per_minute=d["rate_per_minute"],
                daily_budget=d["daily_budget"], shadow=d["shadow"],
            )  # fmt: skip
        except AgentError as exc:
            form.add_error(None, str(exc))
        else:
            response = render(request, "agents/token.html", {"agent": agent, "token": token})
            response["Cache-Control"] = "no-store"  # the token is in this answer only
            return response
    status = 400 if request.method == "POST" else 200
    return render(request, "agents/new.html", {"form": form}, status=status)


def _reason(request: HttpRequest) -> str | None:
    form = ReasonForm(request.POST)
    return form.cleaned_data["reason"] if form.is_valid() else None


@require_POST
def agent_enable(request: HttpRequest, pk: int, enabled: bool) -> HttpResponse:
    user = _user(request)
    services.agents_can_manage(user).require(PermissionDenied)
    agent = _agent(pk)
    reason = _reason(request)
    if reason is None:
        messages.error(request, "Give a reason.")
        return redirect("agent", pk=agent.pk)
    try:
        services.agent_set_enabled(agent_id=agent.pk, enabled=enabled, actor=user, reason=reason)
    except OpsError as exc:
        messages.error(request, str(exc))
        return redirect("agent", pk=agent.pk)
    messages.success(
        request, f"Another administrator approves {agent.name} running again." if enabled else f"{agent.name} stopped."
    )
    return redirect("agent", pk=agent.pk)


@require_POST
def agent_change(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    services.agents_can_manage(user).require(PermissionDenied)
    agent = _agent(pk)
    form = ScopesForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose scopes and give a reason.")
        return redirect("agent", pk=agent.pk)
    try:
        services.agent_update(
            agent_id=agent.pk,
            actor=user,
            reason=form.cleaned_data["reason"],
            scopes=form.cleaned_data["scopes"],
            shadow=form.cleaned_data["shadow"],
        )
    except OpsError as exc:
        messages.error(request, str(exc))
        return redirect("agent", pk=agent.pk)
    messages.success(request, f"{agent.name} changed (wider scopes wait for another administrator's approval).")
    return redirect("agent", pk=agent.pk)


@require_POST
def agents_stop(request: HttpRequest, stopped: bool) -> HttpResponse:
    user = _user(request)
    services.agents_can_manage(user).require(PermissionDenied)
    reason = _reason(request)
    if reason is None:
        messages.error(request, "Give a reason.")
        return redirect("agents")
    services.agents_stop_all(actor=user, reason=reason, stopped=stopped)
    messages.success(request, "Every agent is stopped." if stopped else "Agents may run again.")
    return redirect("agents")


def _initial(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The agent's values, as the reviewer starts editing them."""
    from django.utils.dateparse import parse_datetime

    values: dict[str, Any] = dict(proposed_values(action, payload))
    if values.get("due_at"):
        values["due_at"] = parse_datetime(values["due_at"])
    return values


def _review_rows(user: User, *, failed: int | None = None, failed_form: Any = None) -> list[dict[str, Any]]:
    rows = []
    for proposal in proposals_pending():
        request = proposal.request
        assert request is not None
        spec = get_action(request.action)
        if failed == proposal.pk and failed_form is not None:
            form = failed_form
        elif editable(proposal.action):
            form = edit_form(proposal.action, proposal.pk, initial=_initial(proposal.action, request.payload))
        else:
            form = None
        rows.append(
            {
                "proposal": proposal,
                "request": request,
                "shown": spec.show(request.payload) if spec.show else request.payload,
                "may_decide": bool(approval_can_decide(user, request)),
                "edit_form": form,
            }
        )
    return rows


def review_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    services.proposals_can_review(user).require(PermissionDenied)
    return render(request, "agents/review.html", {"rows": _review_rows(user)})


def _form_errors(*forms: Any) -> str:
    return "; ".join(
        f"{form[name].label if name in form.fields else name}: {messages_[0]}"
        for form in forms
        if form is not None
        for name, messages_ in form.errors.items()
    )


# what the review may refuse with, each with a message for the reviewer
REVIEW_ERRORS: tuple[type[Exception], ...] = (AgentError, *services.domain_errors())


@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    services.proposals_can_review(user).require(PermissionDenied)
    try:
        proposal = Proposal.objects.select_related("request").get(pk=pk, request__isnull=False)
    except Proposal.DoesNotExist:
        raise Http404("No such proposal.") from None
    assert proposal.request is not None
    approval_can_decide(user, proposal.request).require(PermissionDenied)
    form = ReviewForm(request.POST)
    editing = form.is_valid() and form.cleaned_data["outcome"] == "edited"
    changes = edit_form(proposal.action, proposal.pk, data=request.POST) if editing else None
    if not form.is_valid() or (editing and (changes is None or not changes.is_valid())):
        if editing and changes is None:
            form.add_error("outcome", "This kind of proposal is not edited.")
        return render(
            request,
            "agents/review.html",
            {
                "rows": _review_rows(user, failed=proposal.pk, failed_form=changes),
                "error": _form_errors(form, changes),
                "failed": proposal.pk,
            },
            status=400,
        )
    d = form.cleaned_data
    try:
        reviewed = services.proposal_review(
            proposal_id=proposal.pk, reviewer=user, outcome=d["outcome"], reason=d["reason"],
            edited=changes.cleaned_data if changes is not None else None,
        )  # fmt: skip
    except REVIEW_ERRORS as exc:
        messages.error(request, f"Proposal #{proposal.pk}: {services.error_message(exc)}")
        return redirect("agents-review")
    assert reviewed.request is not None
    reviewed.request.refresh_from_db()
    if reviewed.request.status == ApprovalStatus.FAILED:
        messages.error(request, f"Proposal #{proposal.pk} was not carried out: {reviewed.request.failure_reason}")
    else:
        messages.success(request, f"Proposal #{proposal.pk}: {reviewed.get_review_display().lower()}.")
    return redirect("agents-review")
