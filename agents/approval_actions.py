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
ACTIONS = (KYC_DOCUMENT, WORK_ITEM, RISK_LEVEL, CLIENT_REPLY)
AGENT_GRANT = "agents.agent_grant"
WITHDRAWAL = "agents.withdrawal_rejection"


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


def _validate_reply(subject: models.Model, payload: Payload) -> None:
    message = str(payload.get("message", "")).strip()
    if not message:
        raise OpsError("message: write the reply.")
    if len(message) > 4000:
        raise OpsError("message: at most 4000 characters.")


def _execute_reply(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.interactions import client_notify

    client = Client.objects.get(pk=subject.pk)
    interaction = client_notify(
        subject=client,
        recipient=client.email,
        template="agents.client_reply",
        context={"name": client.display_name, "message": payload["message"], "reference": client.reference},
    )
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


# --- a withdrawal's rejection (approving one is the withdrawal's own review request) ------------


def _validate_withdrawal(subject: models.Model, payload: Payload) -> None:
    from payments.models import Withdrawal
    from payments.services.withdrawals import REJECT_REASONS, REJECTABLE

    withdrawal = Withdrawal.objects.get(pk=subject.pk)
    if withdrawal.status not in REJECTABLE:
        raise OpsError(f"The withdrawal is {withdrawal.get_status_display().lower()}: too late to reject it.")
    if payload.get("reason_code") not in REJECT_REASONS:
        raise OpsError("reason_code: one of " + ", ".join(REJECT_REASONS) + ".")


def _execute_withdrawal(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from payments.services.withdrawals import withdrawal_reject_apply

    withdrawal = withdrawal_reject_apply(
        withdrawal_id=subject.pk,
        actor=_checker(request),
        reason_code=payload["reason_code"],
        note=f"{request.maker_label}'s proposal #{request.pk}, approved: {payload['rationale']}",
    )
    return {"withdrawal": withdrawal.reference, "status": withdrawal.status}


def _withdrawal_model() -> type[models.Model]:
    from payments.models import Withdrawal

    return Withdrawal


register(
    ApprovalAction(
        key=WITHDRAWAL,
        label="An agent's proposed withdrawal rejection",
        subject_model=_withdrawal_model(),
        maker_permission="ops.reject_withdrawals",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate_withdrawal,
        execute=_execute_withdrawal,
        describe=lambda subject, payload: (
            f"Reject withdrawal {payload.get('withdrawal')} ({payload.get('reason_code')})"
        ),
        outside_makers=True,
        show=lambda payload: (
            {
                "Withdrawal": str(payload.get("withdrawal", "")),
                "Reason": str(payload.get("reason_code", "")),
            }
            | _common_show(payload)
        ),
    )
)
