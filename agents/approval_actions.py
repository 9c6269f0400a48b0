"""What an agent may propose: each is a maker-checker action whose maker is the agent (an outside
maker, ``agent:<name>``) and whose handler calls the domain's own service as the person who
approved it, with that person's permissions checked again. The payload carries the agent's
rationale and evidence, under the payload hash, so the checker sees what the agent relied on."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts.models import Client
from agents.models import Agent
from kyc.models import Document, DocumentStatus, RejectionReason
from ops.approvals import ApprovalAction, Payload, register
from ops.errors import OpsError
from ops.models import RiskLevel, User, WorkItem
from ops.queues import QUEUES
from ops.roles import Role

KYC_DOCUMENT = "agents.kyc_document_decision"
WORK_ITEM = "agents.work_item_resolution"
RISK_LEVEL = "agents.risk_level"
CLIENT_REPLY = "agents.client_reply"
WITHDRAWAL = "agents.withdrawal_decision"
WORK_ITEM_ROUTING = "agents.work_item_routing"
ACTIONS = (KYC_DOCUMENT, WORK_ITEM, RISK_LEVEL, CLIENT_REPLY, WITHDRAWAL, WORK_ITEM_ROUTING)
AGENT_GRANT = "agents.agent_grant"


def _checker(request: Any) -> User:
    """The person whose approval carries the proposal out (the last level's checker)."""
    decision = request.decisions.order_by("-level").select_related("checker").first()
    assert decision is not None and decision.checker is not None
    checker: User = decision.checker
    return checker


def _common_show(payload: Payload) -> dict[str, str]:
    evidence = payload.get("evidence") or []
    return {
        "Agent's rationale": str(payload.get("rationale", "")),
        "Evidence it used": "; ".join(str(e) for e in evidence) if evidence else "none given",
    }


# --- a KYC document decision ------------------------------------------------------------------


def _validate_document(subject: models.Model, payload: Payload) -> None:
    document = Document.objects.get(pk=subject.pk)
    if document.status != DocumentStatus.PENDING:
        raise OpsError(f"The document is {document.get_status_display().lower()}, not pending review.")
    if payload.get("decision") not in ("accept", "reject"):
        raise OpsError("decision: accept or reject.")
    if payload["decision"] == "reject" and payload.get("reason_code") not in RejectionReason.values:
        raise OpsError("reason_code: a rejection needs one of " + ", ".join(RejectionReason.values) + ".")


def _execute_document(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from kyc.services.documents import document_review_apply

    accept = payload["decision"] == "accept"
    document = document_review_apply(
        document_id=subject.pk,
        reviewer=_checker(request),
        accept=accept,
        reason_code="" if accept else payload["reason_code"],
        note=f"{request.maker_label}'s proposal #{request.pk}, approved: {payload.get('note') or payload['rationale']}",
    )
    return {"document": document.pk, "status": document.status}


def _show_document(payload: Payload) -> dict[str, str]:
    decision = payload.get("decision", "")
    shown = {"Document": str(payload.get("document_label", payload.get("document", ""))), "Decision": decision}
    if decision == "reject":
        code = payload.get("reason_code", "")
        shown["Reason"] = str(RejectionReason(code).label) if code in RejectionReason.values else str(code)
    return shown | _common_show(payload)


register(
    ApprovalAction(
        key=KYC_DOCUMENT,
        label="An agent's proposed KYC document decision",
        subject_model=Document,
        maker_permission="ops.review_documents",
        policy=lambda subject, payload: [Role.COMPLIANCE],
        validate=_validate_document,
        execute=_execute_document,
        describe=lambda subject, payload: f"{str(payload.get('decision', '')).capitalize()} {subject}",
        outside_makers=True,
        show=_show_document,
        expires_after_hours=7 * 24,
    )
)


# --- a work item resolution --------------------------------------------------------------------


def _queue_role(item: WorkItem) -> Role:
    spec = next((q for q in QUEUES if q.code == item.queue.code), None)
    return spec.roles[0] if spec is not None and spec.roles else Role(item.queue.roles[0])


def _validate_work_item(subject: models.Model, payload: Payload) -> None:
    from ops.models import OPEN_STATUSES, ResolutionCode

    item = WorkItem.objects.get(pk=subject.pk)
    if item.status not in OPEN_STATUSES:
        raise OpsError("The work item is already resolved.")
    if payload.get("code") not in ResolutionCode.values:
        raise OpsError("code: one of " + ", ".join(ResolutionCode.values) + ".")


def _execute_work_item(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.work_items import work_item_resolve_approved

    item = work_item_resolve_approved(
        item_id=subject.pk,
        checker=_checker(request),
        code=payload["code"],
        note=f"{request.maker_label}'s proposal #{request.pk}, approved: {payload.get('note') or payload['rationale']}",
    )
    return {"item": item.pk, "status": item.status}


def _show_work_item(payload: Payload) -> dict[str, str]:
    from ops.models import ResolutionCode

    code = payload.get("code", "")
    return {
        "Work item": str(payload.get("item_title", payload.get("item", ""))),
        "Resolution": str(ResolutionCode(code).label) if code in ResolutionCode.values else str(code),
        "Note": str(payload.get("note", "")),
    } | _common_show(payload)


register(
    ApprovalAction(
        key=WORK_ITEM,
        label="An agent's proposed work item resolution",
        subject_model=WorkItem,
        maker_permission="ops.manage_queues",
        policy=lambda subject, payload: [_queue_role(WorkItem.objects.select_related("queue").get(pk=subject.pk))],
        validate=_validate_work_item,
        execute=_execute_work_item,
        describe=lambda subject, payload: f"Resolve work item #{subject.pk} as {payload.get('code')}",
        outside_makers=True,
        show=_show_work_item,
    )
)


# --- a client's risk level ---------------------------------------------------------------------


def _validate_risk(subject: models.Model, payload: Payload) -> None:
    if payload.get("level") not in RiskLevel.values:
        raise OpsError("level: one of " + ", ".join(RiskLevel.values) + ".")


def _execute_risk(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from kyc.services.risk import risk_level_set

    client = risk_level_set(
        client_id=subject.pk,
        level=payload["level"],
        actor=_checker(request),
        reason=f"{request.maker_label}'s proposal #{request.pk}, approved: {payload['rationale']}",
    )
    return {"client": client.pk, "risk_level": client.risk_level}


register(
    ApprovalAction(
        key=RISK_LEVEL,
        label="An agent's proposed client risk level",
        subject_model=Client,
        maker_permission="ops.set_risk_level",
        policy=lambda subject, payload: [Role.COMPLIANCE],
        validate=_validate_risk,
        execute=_execute_risk,
        describe=lambda subject, payload: f"Set the risk level of {subject} to {payload.get('level')}",
        outside_makers=True,
        show=lambda payload: (
            {"Client": str(payload.get("client", "")), "Risk level": str(payload.get("level", ""))}
            | _common_show(payload)
        ),
    )
)


# --- a reply to a client -----------------------------------------------------------------------


def reply_check(message: str) -> None:
    message = str(message or "").strip()
    if not message:
        raise OpsError("message: write the reply.")
    if len(message) > 4000:
        raise OpsError("message: at most 4000 characters.")


def reply_send(*, client_id: int, message: str) -> Any:
    """The reply, logged now and sent after commit (the client's own e-mail)."""
    from ops.services.interactions import client_notify

    client = Client.objects.get(pk=client_id)
    return client_notify(
        subject=client,
        recipient=client.email,
        template="agents.client_reply",
        context={"name": client.display_name, "message": message, "reference": client.reference},
    )


def _validate_reply(subject: models.Model, payload: Payload) -> None:
    reply_check(payload.get("message", ""))


def _execute_reply(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    interaction = reply_send(client_id=subject.pk, message=payload["message"])
    return {"interaction": interaction.pk}


register(
    ApprovalAction(
        key=CLIENT_REPLY,
        label="An agent's proposed reply to a client",
        subject_model=Client,
        maker_permission="ops.manage_clients",
        policy=lambda subject, payload: [Role.SUPPORT],
        validate=_validate_reply,
        execute=_execute_reply,
        describe=lambda subject, payload: f"Reply to {subject}",
        outside_makers=True,
        show=lambda payload: (
            {"Client": str(payload.get("client", "")), "Reply": str(payload.get("message", ""))} | _common_show(payload)
        ),
    )
)


# --- letting an agent run, or widening its scopes (an administrator asks, another approves) -----


def _validate_grant(subject: models.Model, payload: Payload) -> None:
    from agents.models import Scope

    unknown = sorted(set(payload.get("scopes") or []) - set(Scope.values))
    if unknown:
        raise OpsError(f"scopes: {', '.join(unknown)} is not a scope.")
    if not isinstance(payload.get("enable"), bool):
        raise OpsError("enable: true or false.")


def _execute_grant(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from agents.services import agent_grant_apply

    agent = agent_grant_apply(agent_id=subject.pk, scopes=payload["scopes"], enable=payload["enable"], request=request)
    return {"agent": agent.name, "enabled": agent.enabled, "scopes": agent.scopes}


register(
    ApprovalAction(
        key=AGENT_GRANT,
        label="Let an agent run, or widen what it may do",
        subject_model=Agent,
        maker_permission="ops.manage_configuration",
        policy=lambda subject, payload: [Role.ADMIN],
        validate=_validate_grant,
        execute=_execute_grant,
        describe=lambda subject, payload: (
            f"{'Run' if payload.get('enable') else 'Widen'} agent {payload.get('agent')}: "
            + (", ".join(payload.get("scopes") or []) or "no scopes")
        ),
        show=lambda payload: {
            "Agent": str(payload.get("agent", "")),
            "May": ", ".join(payload.get("scopes") or []) or "nothing",
            "Runs once approved": "yes" if payload.get("enable") else "as it does now",
        },
    )
)


# --- a withdrawal decision: approve one under review, or reject one before payout -----------------
#
# Approving: the person who accepts the proposal decides the withdrawal's own review request with it
# (``payments.withdrawal``, the next level), in the same transaction and with every check of the
# engine (not the person who entered it, not an earlier checker, that level's role); the
# withdrawal's controls run again first (``withdrawal_controls_now``). Rejecting: the person rejects
# it with the reason code the client is told (finance or compliance), and its review is withdrawn.

WITHDRAWAL_DECISIONS = ("approve", "reject")


def _withdrawal_model() -> type[models.Model]:
    from payments.models import Withdrawal

    return Withdrawal


def _withdrawal_get(pk: Any) -> Any:
    from payments.models import Withdrawal

    return Withdrawal.objects.select_related("client", "hold", "approval_request").get(pk=pk)


def withdrawal_decision_check(withdrawal: Any, decision: str, reason_code: str) -> None:
    """Whether ``decision`` can be carried out on the withdrawal now (a proposal, or a reviewer's
    own edited version): the withdrawal's own controls for an approval, its state for a rejection."""
    from payments.services.withdrawals import REJECT_REASONS, REJECTABLE, withdrawal_controls_now

    if decision not in WITHDRAWAL_DECISIONS:
        raise OpsError("decision: approve or reject.")
    if decision == "reject":
        if withdrawal.status not in REJECTABLE:
            raise OpsError(f"The withdrawal is {withdrawal.get_status_display().lower()}: too late to reject it.")
        if reason_code not in REJECT_REASONS:
            raise OpsError("reason_code: one of " + ", ".join(REJECT_REASONS) + ".")
        return
    if reason_code:
        raise OpsError("reason_code: only a rejection has a reason code.")
    review = withdrawal.approval_request
    if review is None or review.status != "pending":
        raise OpsError(f"Withdrawal {withdrawal.reference} has no review waiting for an approval.")
    withdrawal_controls_now(withdrawal)


def _decision(payload: Payload) -> str:
    """A request made before approvals could be proposed has no decision in its payload: a rejection."""
    return str(payload.get("decision", "reject"))


def _validate_withdrawal(subject: models.Model, payload: Payload) -> None:
    withdrawal_decision_check(_withdrawal_get(subject.pk), _decision(payload), payload.get("reason_code", ""))


def withdrawal_decide_as(*, withdrawal_id: int, person: User, decision: str, reason_code: str, note: str) -> Any:
    """Carry out a withdrawal decision as ``person``, inside the caller's transaction."""
    from ops.services.approvals import approval_decide_apply
    from payments.models import Withdrawal
    from payments.services.withdrawals import withdrawal_reject_apply

    if decision == "reject":
        return withdrawal_reject_apply(withdrawal_id=withdrawal_id, actor=person, reason_code=reason_code, note=note)
    withdrawal = _withdrawal_get(withdrawal_id)
    withdrawal_decision_check(withdrawal, "approve", "")
    review = approval_decide_apply(
        request_id=withdrawal.approval_request_id, checker=person, decision="approve", reason=note
    )
    if review.status == "failed":  # the withdrawal refused at its own final check: nothing is kept
        raise OpsError(review.failure_reason)
    return Withdrawal.objects.get(pk=withdrawal_id)


def _execute_withdrawal(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    withdrawal = withdrawal_decide_as(
        withdrawal_id=subject.pk,
        person=_checker(request),
        decision=_decision(payload),
        reason_code=payload.get("reason_code", ""),
        note=f"{request.maker_label}'s proposal #{request.pk}, accepted: {payload['rationale']}",
    )
    result = {"withdrawal": withdrawal.reference, "status": withdrawal.status}
    review = withdrawal.approval_request
    if _decision(payload) == "approve" and review is not None and review.status == "pending":
        result["waiting_for"] = review.required_roles[review.decisions.count()]  # the review's next level
    return result


def _withdrawal_levels(subject: models.Model, payload: Payload) -> list[Role]:
    """A rejection: finance. An approval: the role of the withdrawal review's next level."""
    if _decision(payload) != "approve":
        return [Role.FINANCE]
    review = _withdrawal_get(subject.pk).approval_request
    return [Role(review.required_roles[review.decisions.count()])]


def _withdrawal_checker(actor: User, request: Any) -> Any:
    from payments.services.withdrawals import withdrawal_can_approve, withdrawal_can_reject

    withdrawal = _withdrawal_get(request.subject_id)
    if _decision(request.payload) == "approve":
        return withdrawal_can_approve(actor, withdrawal)
    return withdrawal_can_reject(actor, withdrawal)


def _withdrawal_reason(code: str) -> str:
    from payments.services.withdrawals import REJECT_REASONS

    return f"{code.replace('_', ' ')}: {REJECT_REASONS[code]}" if code in REJECT_REASONS else code


def _show_withdrawal(payload: Payload) -> dict[str, str]:
    shown = {"Withdrawal": str(payload.get("withdrawal", "")), "Decision": _decision(payload)}
    if _decision(payload) == "reject":
        shown["Reason told to the client"] = _withdrawal_reason(str(payload.get("reason_code", "")))
    return shown | _common_show(payload)


register(
    ApprovalAction(
        key=WITHDRAWAL,
        label="An agent's proposed withdrawal decision",
        subject_model=_withdrawal_model(),
        maker_permission="ops.reject_withdrawals",
        policy=_withdrawal_levels,
        validate=_validate_withdrawal,
        execute=_execute_withdrawal,
        describe=lambda subject, payload: (
            f"Approve withdrawal {payload.get('withdrawal')}"
            if _decision(payload) == "approve"
            else f"Reject withdrawal {payload.get('withdrawal')} ({payload.get('reason_code')})"
        ),
        outside_makers=True,
        show=_show_withdrawal,
        checker_check=_withdrawal_checker,
    )
)


# --- routing a work item to another queue, or re-prioritising it ---------------------------------


def routing_check(item: WorkItem, *, queue: str, risk_level: str, due_at: str) -> None:
    """Whether a routing (a proposal, or a reviewer's own edited version) can be carried out now."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from ops.models import OPEN_STATUSES, Queue

    if item.status not in OPEN_STATUSES:
        raise OpsError("The work item is already resolved.")
    if not (queue or risk_level or due_at):
        raise OpsError("queue: say what changes: another queue, a risk level or a due time.")
    if queue:
        if not Queue.objects.filter(code=queue).exists():
            raise OpsError("queue: one of " + ", ".join(q.code for q in QUEUES) + ".")
        if queue == item.queue.code:
            raise OpsError(f"queue: the item is already in {item.queue.name}.")
    if risk_level and risk_level not in RiskLevel.values:
        raise OpsError("risk_level: one of " + ", ".join(RiskLevel.values) + ".")
    if due_at:
        when = parse_datetime(due_at)
        if when is None or when.tzinfo is None:
            raise OpsError("due_at: an ISO 8601 date and time with its offset (2026-01-31T17:00:00+00:00).")
        if when <= timezone.now():
            raise OpsError("due_at: the due time must be in the future.")


def work_item_route_as(*, item_id: int, person: User, queue: str, risk_level: str, due_at: str, note: str) -> WorkItem:
    from django.utils.dateparse import parse_datetime

    from ops.services.work_items import work_item_route

    return work_item_route(
        item_id=item_id, actor=person, reason=note, queue=queue, risk_level=risk_level,
        due_at=parse_datetime(due_at) if due_at else None,
    )  # fmt: skip


def _validate_routing(subject: models.Model, payload: Payload) -> None:
    item = WorkItem.objects.select_related("queue").get(pk=subject.pk)
    routing_check(
        item, queue=payload.get("queue", ""), risk_level=payload.get("risk_level", ""), due_at=payload.get("due_at", "")
    )


def _execute_routing(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    item = work_item_route_as(
        item_id=subject.pk, person=_checker(request), queue=payload.get("queue", ""),
        risk_level=payload.get("risk_level", ""), due_at=payload.get("due_at", ""),
        note=f"{request.maker_label}'s proposal #{request.pk}, accepted: {payload['rationale']}",
    )  # fmt: skip
    return {"item": item.pk, "queue": item.queue.code, "risk_level": item.risk_level, "due_at": item.due_at}


def _routing_checker(actor: User, request: Any) -> Any:
    from ops.services.work_items import work_item_can_route

    return work_item_can_route(actor, WorkItem.objects.select_related("queue").get(pk=request.subject_id))


def _queue_name(code: str) -> str:
    spec = next((q for q in QUEUES if q.code == code), None)
    return spec.name if spec is not None else code


def _show_routing(payload: Payload) -> dict[str, str]:
    shown = {"Work item": str(payload.get("item_title", payload.get("item", "")))}
    if payload.get("queue"):
        shown["Move to"] = f"{_queue_name(payload['queue'])} (from {_queue_name(payload.get('from_queue', ''))})"
    if payload.get("risk_level"):
        level = payload["risk_level"]
        shown["Risk level"] = str(RiskLevel(level).label) if level in RiskLevel.values else str(level)
    if payload.get("due_at"):
        shown["Due"] = str(payload["due_at"]).replace("T", " ")[:16] + " UTC"
    return shown | _common_show(payload)


def _describe_routing(subject: models.Model, payload: Payload) -> str:
    parts = []
    if payload.get("queue"):
        parts.append(f"move to {_queue_name(payload['queue'])}")
    if payload.get("risk_level"):
        parts.append(f"risk {payload['risk_level']}")
    if payload.get("due_at"):
        parts.append(f"due {str(payload['due_at'])[:16]}")
    return f"Work item #{subject.pk}: " + ", ".join(parts)


register(
    ApprovalAction(
        key=WORK_ITEM_ROUTING,
        label="An agent's proposed routing or priority of a work item",
        subject_model=WorkItem,
        maker_permission="ops.manage_queues",
        policy=lambda subject, payload: [_queue_role(WorkItem.objects.select_related("queue").get(pk=subject.pk))],
        validate=_validate_routing,
        execute=_execute_routing,
        describe=_describe_routing,
        outside_makers=True,
        show=_show_routing,
        checker_check=_routing_checker,
    )
)
