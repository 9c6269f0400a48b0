"""Agents: registering and stopping them, and the gate every call through the MCP door passes.

Every call — a read or a proposal, done or refused — is recorded twice in the same transaction: an
``AgentCall`` row (counted for the rate limit, the daily budget and the oversight figures) and an
audit event with the agent as an ``automation`` actor, the tool, and the SHA-256 of the canonical
JSON of its arguments and of its result, sealed into the hash chain like every event."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from agents import errors
from agents.errors import AgentError
from agents.models import Agent, AgentCall, AgentSwitch, CallOutcome, Proposal, ReviewOutcome, Scope
from audit.actions import AuditAction
from audit.context import Actor, ActorKind, acting_as
from audit.services import audit_record
from ops.errors import OpsError
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny

log = logging.getLogger(__name__)

TOKEN_START = "agt_"  # noqa: S105 (the shape of a token, not a secret)
# How long a process trusts what it last read of the stop button (the stop takes effect within it).
SWITCH_CACHE_SECONDS = 1.0


# --- who may manage and see agents ----------------------------------------------------------------


def agents_can_manage(actor: User) -> Decision:
    """Register, change, stop and start agents: administrators (``manage_configuration``)."""
    if actor.has_perm("ops.manage_configuration"):
        return ALLOWED
    return deny(errors.NOT_ALLOWED.format(verb="manage agents"))


def agents_can_view(actor: User) -> Decision:
    """The agents pages and their oversight figures: administrators, compliance (who decide most
    proposals) and the auditor."""
    if (
        actor.has_perm("ops.manage_configuration")
        or actor.has_perm("ops.work_as_compliance")
        or actor.has_perm("ops.view_audit_trail")
    ):
        return ALLOWED
    return deny(errors.NOT_ALLOWED.format(verb="see agents"))


def proposals_can_review(actor: User) -> Decision:
    """The review page of agents' proposals: whoever decides requests (each proposal says whether
    it is theirs to decide: a finance officer a withdrawal, support a reply) and the auditor."""
    from ops.services.approvals import approvals_can_view

    return approvals_can_view(actor)


# --- tokens ---------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "backslashreplace")).hexdigest()


def _token_new() -> tuple[str, str, str]:
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
    return token, prefix, token_hash(token)


def agent_for_token(token: str) -> Agent | None:
    """The agent a bearer token belongs to (enabled or not: a stopped agent's calls are refused and
    recorded by the gate, not turned away unseen)."""
    if not token.startswith(TOKEN_START):
        return None
    return Agent.objects.filter(token_hash=token_hash(token)).first()


def _snapshot(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "owner": agent.owner.get_username(),
        "scopes": sorted(agent.scopes),
        "rate_per_minute": agent.rate_per_minute,
        "daily_budget": agent.daily_budget,
        "enabled": agent.enabled,
        "shadow": agent.shadow,
        "model": agent.model_name,
        "prompt_version": agent.prompt_version,
        "token_prefix": agent.token_prefix,
    }


def _clean_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise AgentError(errors.SCOPES_UNKNOWN.format(scopes=", ".join(unknown)))
    return sorted(set(scopes))


# --- managing agents ------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def agent_register(
    *,
    name: str,
    owner: User,
    purpose: str,
    scopes: list[str],
    actor: User,
    model_name: str = "",
    prompt_version: str = "",
    rate_per_minute: int = 60,
    daily_budget: int = 5000,
    shadow: bool = False,
    builtin: bool = False,
    minutes_saved_per_accepted: int = 5,
) -> tuple[Agent, str]:
    """A new agent and its token (shown once; only its hash is kept)."""
    agents_can_manage(actor).require(AgentError)
    if Agent.objects.filter(name=name).exists():
        raise AgentError(errors.NAME_TAKEN.format(name=name))
    token, prefix, hashed = _token_new()
    agent = Agent(
        name=name,
        owner=owner,
        purpose=purpose.strip(),
        scopes=_clean_scopes(scopes),
        model_name=model_name,
        prompt_version=prompt_version,
        rate_per_minute=rate_per_minute,
        daily_budget=daily_budget,
        shadow=shadow,
        builtin=builtin,
        minutes_saved_per_accepted=minutes_saved_per_accepted,
        token_hash=hashed,
        token_prefix=prefix,
        enabled=False,  # until another administrator approves it
    )
    try:
        agent.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise AgentError(errors.BAD_ARGUMENT.format(field=field, problem=messages[0])) from None
    agent.save()
    audit_record(action=AuditAction.AGENT_REGISTERED, subject=agent, after=_snapshot(agent), reason=purpose.strip())
    _grant_request(agent, scopes=agent.scopes, enable=True, maker=actor, reason=f"new agent: {purpose.strip()}")
    return agent, token


def _grant_request(agent: Agent, *, scopes: list[str], enable: bool, maker: User, reason: str) -> Any:
    """Letting an agent run, or widening what it may do, waits for another administrator."""
    from agents.approval_actions import AGENT_GRANT
    from ops.services.approvals import approval_create

    return approval_create(
        action=AGENT_GRANT,
        subject=agent,
        payload={"agent": agent.name, "scopes": sorted(scopes), "enable": enable},
        maker=maker,
        reason=reason,
    )


@transaction.atomic
def agent_grant_apply(*, agent_id: int, scopes: list[str], enable: bool, request: Any) -> Agent:
    """The approved grant (``agents.agent_grant``): the scopes, and running if asked."""
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    before = _snapshot(agent)
    agent.scopes = _clean_scopes(scopes)
    if enable:
        agent.enabled = True
    agent.save(update_fields=["scopes", "enabled"])
    audit_record(
        action=AuditAction.AGENT_STARTED if enable else AuditAction.AGENT_CHANGED,
        subject=agent,
        before=before,
        after=_snapshot(agent),
        reason=f"approval #{request.pk}: {request.reason}",
    )
    return agent


@transaction.atomic(durable=True)
def agent_rotate_token(*, agent_id: int, actor: User, reason: str) -> str:
    agents_can_manage(actor).require(AgentError)
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    token, prefix, hashed = _token_new()
    before = _snapshot(agent)
    agent.token_hash, agent.token_prefix = hashed, prefix
    agent.save(update_fields=["token_hash", "token_prefix"])
    audit_record(
        action=AuditAction.AGENT_TOKEN_ROTATED, subject=agent, before=before, after=_snapshot(agent), reason=reason
    )
    return token


@transaction.atomic(durable=True)
def agent_update(
    *,
    agent_id: int,
    actor: User,
    reason: str,
    scopes: list[str] | None = None,
    shadow: bool | None = None,
    rate_per_minute: int | None = None,
    daily_budget: int | None = None,
) -> Agent:
    """Change an agent's scopes, limits or shadow mode (a reason is kept with the change)."""
    agents_can_manage(actor).require(AgentError)
    if not reason.strip():
        raise AgentError(errors.BAD_ARGUMENT.format(field="reason", problem="say why."))
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    before = _snapshot(agent)
    if scopes is not None:
        wanted = _clean_scopes(scopes)
        if set(wanted) - set(agent.scopes):  # wider: another administrator approves
            _grant_request(agent, scopes=wanted, enable=False, maker=actor, reason=reason.strip())
        else:  # narrower (or the same): at once
            agent.scopes = wanted
    if shadow is not None:
        agent.shadow = shadow
    if rate_per_minute is not None:
        agent.rate_per_minute = rate_per_minute
    if daily_budget is not None:
        agent.daily_budget = daily_budget
    agent.save()
    audit_record(action=AuditAction.AGENT_CHANGED, subject=agent, before=before, after=_snapshot(agent), reason=reason)
    return agent


@transaction.atomic(durable=True)
def agent_set_enabled(*, agent_id: int, enabled: bool, actor: User, reason: str) -> Agent:
    """Stop one agent, at once (its pending proposals stay for people to decide); or ask for it to
    run again, which another administrator approves."""
    agents_can_manage(actor).require(AgentError)
    if not reason.strip():
        raise AgentError(errors.BAD_ARGUMENT.format(field="reason", problem="say why."))
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    if enabled:
        if not agent.enabled:
            _grant_request(agent, scopes=agent.scopes, enable=True, maker=actor, reason=reason.strip())
        return agent
    before = _snapshot(agent)
    agent.enabled = enabled
    agent.save(update_fields=["enabled"])
    audit_record(
        action=AuditAction.AGENT_STARTED if enabled else AuditAction.AGENT_STOPPED,
        subject=agent,
        before=before,
        after=_snapshot(agent),
        reason=reason.strip(),
    )
    return agent


def _switch() -> AgentSwitch:
    switch, _ = AgentSwitch.objects.get_or_create(pk=1)
    return switch


@transaction.atomic(durable=True)
def agents_stop_all(*, actor: User, reason: str, stopped: bool = True) -> AgentSwitch:
    """The stop button: every agent's next call is refused (within ``SWITCH_CACHE_SECONDS``);
    pending proposals stay for people. ``stopped=False`` starts them again."""
    agents_can_manage(actor).require(AgentError)
    if not reason.strip():
        raise AgentError(errors.BAD_ARGUMENT.format(field="reason", problem="say why."))
    _switch()
    switch = AgentSwitch.objects.select_for_update().get(pk=1)
    before = {"stopped": switch.stopped}
    switch.stopped = stopped
    switch.changed_at = timezone.now()
    switch.changed_by = actor
    switch.reason = reason.strip()
    switch.save()
    transaction.on_commit(lambda: _switch_seen.update(at=0.0))  # this process sees it at once
    audit_record(
        action=AuditAction.AGENTS_STOPPED if stopped else AuditAction.AGENTS_STARTED,
        subject=switch,
        before=before,
        after={"stopped": stopped},
        reason=reason.strip(),
    )
    return switch


_switch_seen: dict[str, float | bool] = {"at": 0.0, "stopped": False}


def agents_stopped() -> bool:
    """Is the stop button pressed? Read from the database at most once a second per process."""
    now = time.monotonic()
    if now - float(_switch_seen["at"]) >= SWITCH_CACHE_SECONDS:
        _switch_seen["stopped"] = AgentSwitch.objects.filter(pk=1, stopped=True).exists()
        _switch_seen["at"] = now
    return bool(_switch_seen["stopped"])


# --- the gate every call passes -------------------------------------------------------------------


def canonical_sha256(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def agent_actor(agent: Agent) -> Actor:
    return Actor(ActorKind.AUTOMATION, f"agent:{agent.pk}", agent.maker_label)


def _refusal(agent: Agent, scope: str) -> str:
    if agents_stopped():
        return errors.AGENTS_STOPPED
    if not agent.enabled:
        return errors.AGENT_DISABLED
    if scope not in agent.scopes:
        return errors.SCOPE_MISSING.format(scope=scope)
    now = timezone.now()
    if AgentCall.objects.filter(agent=agent, at__gte=now - timedelta(minutes=1)).count() >= agent.rate_per_minute:
        return errors.RATE_LIMITED.format(limit=agent.rate_per_minute)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if AgentCall.objects.filter(agent=agent, at__gte=midnight).count() >= agent.daily_budget:
        return errors.BUDGET_SPENT.format(limit=agent.daily_budget)
    return ""


def _record(agent: Agent, *, tool: str, args: dict[str, Any], result: Any, outcome: str, detail: str = "") -> None:
    args_hash, result_hash = canonical_sha256(args), canonical_sha256(result)
    AgentCall.objects.create(
        agent=agent, tool=tool, args_sha256=args_hash, result_sha256=result_hash, outcome=outcome, detail=detail[:300]
    )
    audit_record(
        action=AuditAction.AGENT_CALL if outcome == CallOutcome.OK else AuditAction.AGENT_CALL_REFUSED,
        subject=agent,
        after={"tool": tool, "args_sha256": args_hash, "result_sha256": result_hash, "outcome": outcome},
        reason=detail[:300],
        actor=agent_actor(agent),
    )


DOMAIN_ERRORS: tuple[type[Exception], ...] = (OpsError, ObjectDoesNotExist, ValidationError)


def domain_errors() -> tuple[type[Exception], ...]:
    from kyc.errors import KycError
    from payments.errors import PaymentError

    return (*DOMAIN_ERRORS, KycError, PaymentError)


def agent_call(
    *, agent_id: int, tool: str, scope: str, args: dict[str, Any], run: Callable[[Agent], dict[str, Any]]
) -> dict[str, Any]:
    """Run one tool for an agent: refuse it (stopped, disabled, outside its scopes, over its rate or
    budget) or run it as the agent, and record the call either way. A refusal or a domain error
    raises ``AgentError`` with a message meant for the agent; nothing of the refused call remains."""
    agent = Agent.objects.select_related("owner").get(pk=agent_id)
    with acting_as(agent_actor(agent)):
        refusal = _refusal(agent, scope)
        if refusal:
            with transaction.atomic():
                _record(agent, tool=tool, args=args, result={"refused": refusal}, outcome=CallOutcome.REFUSED,
                        detail=refusal)  # fmt: skip
            raise AgentError(refusal)
        try:
            with transaction.atomic():
                result = run(agent)
                _record(agent, tool=tool, args=args, result=result, outcome=CallOutcome.OK)
        except domain_errors() as exc:
            message = error_message(exc)
            with transaction.atomic():
                _record(agent, tool=tool, args=args, result={"failed": message}, outcome=CallOutcome.REFUSED,
                        detail=message)  # fmt: skip
            raise AgentError(message) from None
        except Exception:  # a fault of ours: recorded, logged, and not described to the agent
            log.exception("agent %s: tool %s failed", agent.name, tool)
            with transaction.atomic():
                _record(agent, tool=tool, args=args, result={"failed": "internal"}, outcome=CallOutcome.FAILED,
                        detail="internal error")  # fmt: skip
            raise AgentError(errors.INTERNAL) from None
    return result


def error_message(exc: Exception) -> str:
    if isinstance(exc, ObjectDoesNotExist):
        return "Not found."
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or exc.__class__.__name__


# --- proposals ------------------------------------------------------------------------------------


def proposal_make(
    *,
    agent: Agent,
    action: str,
    subject: models.Model,
    payload: dict[str, Any],
    rationale: str,
    evidence: list[str],
) -> Proposal:
    """An agent asks for a write: a maker-checker request with the agent as its (outside) maker,
    inside the call's transaction. In shadow mode the proposal is checked and kept, not submitted:
    it is later compared with what people decided."""
    from ops.approvals import get_action
    from ops.services.approvals import approval_create

    rationale = rationale.strip()
    if not rationale:
        raise AgentError(errors.RATIONALE_REQUIRED)
    payload = payload | {"rationale": rationale[:2000], "evidence": [str(e)[:500] for e in evidence][:20]}
    if agent.shadow:
        get_action(action).validate(subject, payload)
        return Proposal.objects.create(
            agent=agent,
            action=action,
            subject_type=ContentType.objects.get_for_model(subject),
            subject_id=str(subject.pk),
            payload=payload,
            rationale=rationale,
            evidence=payload["evidence"],
            shadow=True,
        )
    request = approval_create(
        action=action, subject=subject, payload=payload, maker=None, maker_label=agent.maker_label, reason=rationale
    )
    return Proposal.objects.create(
        agent=agent,
        action=action,
        subject_type=request.subject_type,
        subject_id=request.subject_id,
        payload=request.payload,
        rationale=rationale,
        evidence=payload["evidence"],
        request=request,
    )


# --- a person reviews a proposal ------------------------------------------------------------------


@transaction.atomic(durable=True)
def proposal_review(
    *, proposal_id: int, reviewer: User, outcome: str, reason: str, edited: dict[str, str] | None = None
) -> Proposal:
    """Accept, reject, or edit a proposal, with a reason. Accepting and rejecting are the
    maker-checker decision itself (the same checks as on the approvals page). Editing refuses the
    agent's version and carries out the reviewer's own, changed version (``agents.edits``) in the
    same transaction: both happen, or neither. An accepted proposal the engine could not carry out
    (the subject's own controls refused it) is kept as failed, with the reason, on its request."""
    from agents.edits import EDITS, proposed_values
    from ops.models import Decision as ApprovalDecisionKind
    from ops.services.approvals import approval_decide_apply

    if outcome not in ReviewOutcome.values:
        raise AgentError(errors.BAD_ARGUMENT.format(field="outcome", problem="accept, edit or reject."))
    reason = reason.strip()
    if not reason:
        raise AgentError(errors.BAD_ARGUMENT.format(field="reason", problem="say why."))
    proposal = Proposal.objects.select_related("request", "agent").get(pk=proposal_id)
    if proposal.request is None:
        raise AgentError(errors.BAD_ARGUMENT.format(field="proposal", problem="a shadow proposal is not decided."))
    if outcome != ReviewOutcome.EDITED:
        kind = ApprovalDecisionKind.APPROVE if outcome == ReviewOutcome.ACCEPTED else ApprovalDecisionKind.REJECT
        approval_decide_apply(request_id=proposal.request.pk, checker=reviewer, decision=kind, reason=reason)
    else:
        edit = EDITS.get(proposal.action)
        if edit is None:
            raise AgentError(
                errors.BAD_ARGUMENT.format(field="outcome", problem="this kind of proposal is not edited.")
            )
        proposed = proposed_values(proposal.action, proposal.request.payload)
        values = {f: str((edited or {}).get(f) or "").strip() for f in edit.fields}
        if values == proposed:
            raise AgentError(errors.EDIT_UNCHANGED)
        edit.check(proposal.subject_id, values)
        approval_decide_apply(
            request_id=proposal.request.pk, checker=reviewer, decision=ApprovalDecisionKind.REJECT,
            reason=f"edited: {reason}",
        )  # fmt: skip
        note = f"{proposal.agent.maker_label}'s proposal #{proposal.request.pk}, edited: {reason}"
        edit.apply(proposal.subject_id, values, reviewer, note)
    Proposal.objects.filter(pk=proposal.pk).update(review=outcome, review_reason=reason, reviewed_by=reviewer)
    proposal.refresh_from_db()
    return proposal


# --- the built-in agents --------------------------------------------------------------------------


def builtin_token(name: str) -> str:
    """A built-in agent's token, derived from the secret key, so the worker that runs it needs no
    stored copy (only its hash is in the database, as for any agent)."""
    from django.conf import settings

    digest = hmac.new(settings.SECRET_KEY.encode(), f"agents.builtin:{name}".encode(), hashlib.sha256).hexdigest()
    return f"{TOKEN_START}{digest[:8]}_{digest[8:]}"


BUILTIN: dict[str, dict[str, Any]] = {
    "document-precheck": {
        "purpose": "Pre-checks pending KYC documents (expiry, name and date of birth against the profile, the same "
        "file used by another client, an image too small or blank) and proposes accepting or rejecting each.",
        "scopes": [Scope.READ_DOCUMENTS, Scope.PROPOSE_KYC_DOCUMENT],
        "minutes_saved_per_accepted": 6,
    },
    "triage": {
        "purpose": "Ranks open work items by risk and due time; for new items about a client, proposes raising the "
        "item's risk level to the client's and routing a high-risk client's follow-up to compliance; proposes closing "
        "the obvious ones (a KYC review item whose client is no longer waiting for a decision).",
        "scopes": [Scope.READ_QUEUES, Scope.READ_CLIENTS, Scope.PROPOSE_WORK_ITEM, Scope.PROPOSE_WORK_ITEM_ROUTING],
        "minutes_saved_per_accepted": 2,
    },
}


def builtin_agents_ensure(*, owner: User, actor: User) -> list[Agent]:
    """Register the built-in agents that are not registered yet (the demo, a fresh install)."""
    agents = []
    for name, spec in BUILTIN.items():
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            agent, _ = agent_register(
                name=name,
                owner=owner,
                purpose=spec["purpose"],
                scopes=[str(s) for s in spec["scopes"]],
                actor=actor,
                model_name="rules (no model)",
                prompt_version="builtin-1",
                builtin=True,
                minutes_saved_per_accepted=spec["minutes_saved_per_accepted"],
            )
            Agent.objects.filter(pk=agent.pk).update(token_hash=token_hash(builtin_token(name)), token_prefix="builtin")  # noqa: S106
            agent.refresh_from_db()
        else:
            _builtin_widen(agent, [str(s) for s in spec["scopes"]], actor=actor)
        agents.append(agent)
    return agents


def _builtin_widen(agent: Agent, scopes: list[str], *, actor: User) -> None:
    """A built-in agent registered by an earlier version that may now do more: the wider scopes
    wait for another administrator, like any widening (once: not while a grant is pending)."""
    from agents.approval_actions import AGENT_GRANT
    from ops.models import ApprovalRequest, ApprovalStatus

    missing = sorted(set(scopes) - set(agent.scopes))
    pending = ApprovalRequest.objects.filter(
        action=AGENT_GRANT, subject_id=str(agent.pk), status=ApprovalStatus.PENDING
    )
    if not missing or pending.exists():
        return
    with transaction.atomic():
        _grant_request(
            agent, scopes=sorted(set(agent.scopes) | set(missing)), enable=False, maker=actor,
            reason=f"the built-in agent {agent.name} now also needs: {', '.join(missing)}",
        )  # fmt: skip


# --- rubber-stamping ------------------------------------------------------------------------------


def rubber_stamp_watch() -> list[int]:
    """Agents whose proposals people accepted almost always over the window: an item each in the
    security alert queue (administrators and compliance), so someone looks at how they are reviewed."""
    from django.conf import settings

    from agents.selectors import agent_figures_window
    from ops.services.work_items import work_item_open

    opened = []
    for agent in Agent.objects.all():
        figures = agent_figures_window(agent, days=settings.AGENTS_RUBBER_STAMP_WINDOW_DAYS)
        rate = figures.acceptance_rate
        if figures.decided < settings.AGENTS_RUBBER_STAMP_MIN_DECIDED or rate is None:
            continue
        if rate * 100 <= settings.AGENTS_RUBBER_STAMP_SHARE:
            continue
        with transaction.atomic(), acting_as(Actor.system("agents.rubber_stamp_watch")):
            item = work_item_open(
                queue="security_alert",
                subject=agent,
                title=f"Possible rubber-stamping: {figures.acceptance_percent} of {agent.name}'s proposals accepted",
                risk_level="medium",
                details={
                    "agent": agent.name,
                    "accepted": figures.accepted,
                    "decided": figures.decided,
                    "window_days": settings.AGENTS_RUBBER_STAMP_WINDOW_DAYS,
                },
            )
            audit_record(
                action=AuditAction.AGENT_RUBBER_STAMPING,
                subject=agent,
                after={"accepted": figures.accepted, "decided": figures.decided, "item": item.pk},
            )
        opened.append(item.pk)
    return opened
