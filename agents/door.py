"""The tools behind the MCP door, as plain synchronous functions: each names the scope it needs,
passes ``agent_call`` (the gate and the record) and returns JSON-ready data.

What the back office holds that someone outside wrote — a document's file name and what the
identity provider read off it, a client's message — is returned under ``untrusted`` keys, as data:
nothing an agent reads can widen what a call may do, because the server decides each call from the
agent's scopes alone."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count

from agents import approval_actions as actions
from agents import errors
from agents.errors import AgentError
from agents.models import Agent, Scope
from agents.services import agent_call, proposal_make

QUEUE_LIMIT = 100


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _client(reference: str) -> Any:
    from accounts.models import Client

    client = Client.objects.filter(reference=str(reference).strip()).first()
    if client is None:
        raise AgentError(errors.NOT_FOUND.format(what="Client", ident=reference))
    return client


def _client_references(items: list[Any]) -> dict[int, str]:
    """Work item id -> its client's reference, for the items whose subject is a client."""
    from accounts.models import Client

    ids = {int(i.subject_id) for i in items if i.subject_type.model == "client" and i.subject_id.isdigit()}
    found = dict(Client.objects.filter(pk__in=ids).values_list("pk", "reference"))
    return {
        i.pk: found[int(i.subject_id)]
        for i in items
        if i.subject_type.model == "client" and i.subject_id.isdigit() and int(i.subject_id) in found
    }


def _pending_proposals(items: list[Any]) -> dict[int, list[str]]:
    """Work item id -> the agents' actions pending on it (so nobody proposes the same twice)."""
    from django.contrib.contenttypes.models import ContentType

    from ops.models import ApprovalRequest, ApprovalStatus, WorkItem

    found: dict[int, list[str]] = {}
    rows = ApprovalRequest.objects.filter(
        subject_type=ContentType.objects.get_for_model(WorkItem),
        subject_id__in=[str(i.pk) for i in items],
        status=ApprovalStatus.PENDING,
        action__in=actions.ACTIONS,
    ).values_list("subject_id", "action")
    for subject_id, action in rows:
        found.setdefault(int(subject_id), []).append(action)
    return found


# --- reads ----------------------------------------------------------------------------------------


def queue_items(*, agent_id: int, queue: str = "", limit: int = 20) -> dict[str, Any]:
    def run(agent: Agent) -> dict[str, Any]:
        from ops.models import OPEN_STATUSES, WorkItem

        size = max(1, min(int(limit), QUEUE_LIMIT))
        items = WorkItem.objects.filter(status__in=OPEN_STATUSES).select_related("queue", "owner")
        if queue:
            items = items.filter(queue__code=queue)
        page = list(items.select_related("subject_type")[:size])
        references = _client_references(page)
        pending = _pending_proposals(page)
        return {
            "items": [
                {
                    "id": item.pk,
                    "queue": item.queue.code,
                    "queue_name": item.queue.name,
                    "status": item.status,
                    "risk_level": item.risk_level,
                    "owner": item.owner.get_username() if item.owner else None,
                    "subject": f"{item.subject_type.app_label}.{item.subject_type.model}:{item.subject_id}",
                    "opened_at": item.created_at.isoformat(),
                    "due_at": item.due_at.isoformat() if item.due_at else None,
                    "client_reference": references.get(item.pk),
                    "proposals_pending": pending.get(item.pk, []),
                    "untrusted": {"title": item.title, "details": item.details},
                }
                for item in page
            ]
        }

    return agent_call(
        agent_id=agent_id, tool="queue_items", scope=Scope.READ_QUEUES, args={"queue": queue, "limit": limit}, run=run
    )


def client_summary(*, agent_id: int, client_reference: str) -> dict[str, Any]:
    def run(agent: Agent) -> dict[str, Any]:
        client = _client(client_reference)
        summary: dict[str, Any] = {
            "reference": client.reference,
            "kind": client.kind,
            "status": client.status,
            "risk_level": client.risk_level,
            "country": str(client.country) if getattr(client, "country", None) else None,
            "name": client.display_name,
        }
        if Scope.READ_CLIENT_CONTACTS in agent.scopes:  # contact details only with their own scope
            summary["email"] = client.email
            summary["phone"] = client.phone
        return summary

    return agent_call(
        agent_id=agent_id,
        tool="client_summary",
        scope=Scope.READ_CLIENTS,
        args={"client_reference": client_reference},
        run=run,
    )


def pending_documents(*, agent_id: int, limit: int = 20) -> dict[str, Any]:
    """Documents waiting for review that nobody (no agent either) has a pending proposal on."""

    def run(agent: Agent) -> dict[str, Any]:
        from django.contrib.contenttypes.models import ContentType

        from kyc.models import Document, DocumentStatus
        from ops.models import ApprovalRequest, ApprovalStatus

        proposed = ApprovalRequest.objects.filter(
            action=actions.KYC_DOCUMENT,
            status=ApprovalStatus.PENDING,
            subject_type=ContentType.objects.get_for_model(Document),
        ).values_list("subject_id", flat=True)
        shadowed = agent.proposals.filter(action=actions.KYC_DOCUMENT, shadow=True).values_list("subject_id", flat=True)
        documents = (
            Document.objects.filter(status=DocumentStatus.PENDING)
            .exclude(pk__in=[int(x) for x in proposed])
            .exclude(pk__in=[int(x) for x in shadowed])
            .select_related("client")
            .order_by("uploaded_at", "pk")
        )
        size = max(1, min(int(limit), QUEUE_LIMIT))
        return {
            "documents": [
                {"id": d.pk, "client_reference": d.client.reference, "kind": d.kind, "uploaded_at": d.uploaded_at}
                for d in documents[:size]
            ]
        }

    return agent_call(
        agent_id=agent_id, tool="pending_documents", scope=Scope.READ_DOCUMENTS, args={"limit": limit}, run=run
    )


def _image_facts(document: Any) -> dict[str, Any]:
    """Pixel size and whether the picture is blank (nearly one colour), read from the stored file."""
    from PIL import Image, ImageStat

    if not document.content_type.startswith("image/"):
        return {}
    stored = document.view_file or document.file
    try:
        with stored.open("rb") as handle, Image.open(handle) as image:
            width, height = image.size
            spread = max(ImageStat.Stat(image.convert("L")).stddev)
    except (OSError, ValueError):
        return {"unreadable": True}
    return {"width": width, "height": height, "pixel_spread": round(float(spread), 2)}


def document_checklist(*, agent_id: int, client_reference: str) -> dict[str, Any]:
    def run(agent: Agent) -> dict[str, Any]:
        from kyc.models import Document
        from kyc.requirements import REQUIRED
        from kyc.services.identity import identity_check_latest

        client = _client(client_reference)
        documents = list(client.documents.all().order_by("kind", "-uploaded_at"))
        hashes = {d.sha256 for d in documents}
        shared = dict(
            Document.objects.filter(sha256__in=hashes)
            .exclude(client=client)
            .values("sha256")
            .annotate(n=Count("client", distinct=True))
            .values_list("sha256", "n")
        )
        rows = []
        for d in documents:
            check = identity_check_latest(d)
            rows.append(
                {
                    "id": d.pk,
                    "kind": d.kind,
                    "status": d.status,
                    "number": d.number,
                    "issue_date": _iso(d.issue_date),
                    "expiry_date": _iso(d.expiry_date),
                    "content_type": d.content_type,
                    "size": d.size,
                    "sha256": d.sha256,
                    "same_file_other_clients": shared.get(d.sha256, 0),
                    "image": _image_facts(d),
                    "identity_check": {"result": check.result, "mismatches": check.mismatches} if check else None,
                    "untrusted": {
                        "file_name": d.original_name,
                        "extracted": check.extracted if check else {},
                    },
                }
            )
        return {
            "client_reference": client.reference,
            "profile": {
                "first_name": client.first_name,
                "last_name": client.last_name,
                "legal_name": getattr(client, "legal_name", ""),
                "date_of_birth": _iso(client.date_of_birth),
            },
            "required": list(REQUIRED[client.kind]),
            "documents": rows,
            "today": date.today().isoformat(),
        }

    return agent_call(
        agent_id=agent_id,
        tool="document_checklist",
        scope=Scope.READ_DOCUMENTS,
        args={"client_reference": client_reference},
        run=run,
    )


def withdrawal_prechecks(*, agent_id: int, withdrawal_reference: str) -> dict[str, Any]:
    def run(agent: Agent) -> dict[str, Any]:
        from payments.models import Withdrawal

        withdrawal = Withdrawal.objects.select_related("client").filter(reference=withdrawal_reference).first()
        if withdrawal is None:
            raise AgentError(errors.NOT_FOUND.format(what="Withdrawal", ident=withdrawal_reference))
        return {
            "reference": withdrawal.reference,
            "client_reference": withdrawal.client.reference,
            "status": withdrawal.status,
            "amount": str(withdrawal.amount),
            "currency": withdrawal.currency,
            "method": withdrawal.method,
            "approval": withdrawal.approval,
            "checks": withdrawal.checks,
            "flags": withdrawal.flags,
            "untrusted": {"destination_name": withdrawal.destination_name},
        }

    return agent_call(
        agent_id=agent_id,
        tool="withdrawal_prechecks",
        scope=Scope.READ_WITHDRAWALS,
        args={"withdrawal_reference": withdrawal_reference},
        run=run,
    )


# --- proposals ------------------------------------------------------------------------------------


def _proposed(proposal: Any) -> dict[str, Any]:
    if proposal.request is None:
        return {"proposal": proposal.pk, "shadow": True, "status": "kept in shadow mode, not submitted"}
    return {
        "proposal": proposal.pk,
        "approval_request": proposal.request.pk,
        "status": proposal.request.status,
        "decided_by": "a person, at /approvals/" + str(proposal.request.pk) + "/",
    }


def propose_kyc_document_decision(
    *,
    agent_id: int,
    document_id: int,
    decision: str,
    rationale: str,
    evidence: list[str],
    reason_code: str = "",
    note: str = "",
) -> dict[str, Any]:
    args = {
        "document_id": document_id,
        "decision": decision,
        "reason_code": reason_code,
        "note": note,
        "rationale": rationale,
        "evidence": evidence,
    }

    def run(agent: Agent) -> dict[str, Any]:
        from kyc.models import Document

        document = Document.objects.select_related("client").get(pk=int(document_id))
        payload = {
            "document": document.pk,
            "document_label": str(document),
            "decision": decision,
            "reason_code": reason_code,
            "note": note[:1000],
        }
        return _proposed(
            proposal_make(
                agent=agent,
                action=actions.KYC_DOCUMENT,
                subject=document,
                payload=payload,
                rationale=rationale,
                evidence=evidence,
            )
        )

    return agent_call(
        agent_id=agent_id, tool="propose_kyc_document_decision", scope=Scope.PROPOSE_KYC_DOCUMENT, args=args, run=run
    )


def propose_work_item_resolution(
    *, agent_id: int, item_id: int, code: str, note: str, rationale: str, evidence: list[str]
) -> dict[str, Any]:
    args = {"item_id": item_id, "code": code, "note": note, "rationale": rationale, "evidence": evidence}

    def run(agent: Agent) -> dict[str, Any]:
        from ops.models import WorkItem

        item = WorkItem.objects.get(pk=int(item_id))
        payload = {"item": item.pk, "item_title": item.title, "code": code, "note": note[:1000]}
        return _proposed(
            proposal_make(
                agent=agent,
                action=actions.WORK_ITEM,
                subject=item,
                payload=payload,
                rationale=rationale,
                evidence=evidence,
            )
        )

    return agent_call(
        agent_id=agent_id, tool="propose_work_item_resolution", scope=Scope.PROPOSE_WORK_ITEM, args=args, run=run
    )


def propose_risk_level(
    *, agent_id: int, client_reference: str, level: str, rationale: str, evidence: list[str]
) -> dict[str, Any]:
    args = {"client_reference": client_reference, "level": level, "rationale": rationale, "evidence": evidence}

    def run(agent: Agent) -> dict[str, Any]:
        client = _client(client_reference)
        payload = {"client": client.reference, "level": level}
        return _proposed(
            proposal_make(
                agent=agent,
                action=actions.RISK_LEVEL,
                subject=client,
                payload=payload,
                rationale=rationale,
                evidence=evidence,
            )
        )

    return agent_call(agent_id=agent_id, tool="propose_risk_level", scope=Scope.PROPOSE_RISK_LEVEL, args=args, run=run)


def propose_client_reply(
    *, agent_id: int, client_reference: str, message: str, rationale: str, evidence: list[str]
) -> dict[str, Any]:
    args = {"client_reference": client_reference, "message": message, "rationale": rationale, "evidence": evidence}

    def run(agent: Agent) -> dict[str, Any]:
        client = _client(client_reference)
        payload = {"client": client.reference, "message": message}
        return _proposed(
            proposal_make(
                agent=agent,
                action=actions.CLIENT_REPLY,
                subject=client,
                payload=payload,
                rationale=rationale,
                evidence=evidence,
            )
        )

    return agent_call(
        agent_id=agent_id, tool="propose_client_reply", scope=Scope.PROPOSE_CLIENT_REPLY, args=args, run=run
    )


def propose_withdrawal_decision(
    *,
    agent_id: int,
    withdrawal_reference: str,
    decision: str,
    rationale: str,
    evidence: list[str],
    reason_code: str = "",
) -> dict[str, Any]:
    """Approve a withdrawal under review, or reject one before payout with a reason code the client
    is told. Either way a person decides: an approval is carried out as that person's decision on the
    withdrawal's own review (its levels, its four eyes, its controls run again)."""
    args = {
        "withdrawal_reference": withdrawal_reference,
        "decision": decision,
        "reason_code": reason_code,
        "rationale": rationale,
        "evidence": evidence,
    }

    def run(agent: Agent) -> dict[str, Any]:
        from payments.models import Withdrawal

        withdrawal = Withdrawal.objects.filter(reference=str(withdrawal_reference)).first()
        if withdrawal is None:
            raise AgentError(errors.NOT_FOUND.format(what="Withdrawal", ident=withdrawal_reference))
        payload = {"withdrawal": withdrawal.reference, "decision": decision, "reason_code": reason_code}
        return _proposed(
            proposal_make(
                agent=agent,
                action=actions.WITHDRAWAL,
                subject=withdrawal,
                payload=payload,
                rationale=rationale,
                evidence=evidence,
            )
        )

    return agent_call(
        agent_id=agent_id, tool="propose_withdrawal_decision", scope=Scope.PROPOSE_WITHDRAWAL, args=args, run=run
    )


def propose_work_item_routing(
    *,
    agent_id: int,
    item_id: int,
    rationale: str,
    evidence: list[str],
    queue: str = "",
    risk_level: str = "",
    due_at: str = "",
) -> dict[str, Any]:
    """Move a work item to another queue, and/or change its risk level (its priority) or due time."""
    args = {
        "item_id": item_id,
        "queue": queue,
        "risk_level": risk_level,
        "due_at": due_at,
        "rationale": rationale,
        "evidence": evidence,
    }

    def run(agent: Agent) -> dict[str, Any]:
        from ops.models import WorkItem

        item = WorkItem.objects.select_related("queue").get(pk=int(item_id))
        payload = {
            "item": item.pk,
            "item_title": item.title,
            "from_queue": item.queue.code,
            "queue": str(queue).strip(),
            "risk_level": str(risk_level).strip(),
            "due_at": str(due_at).strip(),
        }
        return _proposed(
            proposal_make(
                agent=agent,
                action=actions.WORK_ITEM_ROUTING,
                subject=item,
                payload=payload,
                rationale=rationale,
                evidence=evidence,
            )
        )

    return agent_call(
        agent_id=agent_id,
        tool="propose_work_item_routing",
        scope=Scope.PROPOSE_WORK_ITEM_ROUTING,
        args=args,
        run=run,
    )
