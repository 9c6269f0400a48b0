"""What a reviewer may change in an agent's proposal before carrying it out ("edited").

Editing refuses the agent's request (the maker-checker decision, with the reviewer's reason) and
carries out the reviewer's own version in the same transaction, through the same domain service the
accepted proposal would have used, as the reviewer and with that service's checks. It is the
decision the reviewer could have made without the agent (a document review, a resolution, a risk
level, a reply, a rejection, a routing); a withdrawal approval stays the reviewer's decision on the
withdrawal's own review, with its levels and four eyes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents import approval_actions as actions
from kyc.models import RejectionReason
from ops.errors import OpsError
from ops.models import ResolutionCode, RiskLevel, User, WorkItem

Values = dict[str, str]


@dataclass(frozen=True)
class Edit:
    fields: tuple[str, ...]  # the payload keys a reviewer may change
    check: Callable[[str, Values], None]  # (subject id, values): raises OpsError naming the field
    apply: Callable[[str, Values, User, str], Any]  # (subject id, values, reviewer, note)
    defaults: Callable[[dict[str, Any]], Values] | None = None  # the proposal's values, when not the payload's


def _document_check(subject_id: str, values: Values) -> None:
    if values["decision"] not in ("accept", "reject"):
        raise OpsError("decision: accept or reject the document.")
    if values["decision"] == "reject" and values["reason_code"] not in RejectionReason.values:
        raise OpsError("reason_code: a rejection needs one of " + ", ".join(RejectionReason.values) + ".")
    if values["decision"] == "accept" and values["reason_code"]:
        raise OpsError("reason_code: only a rejection has a reason code.")


def _document_apply(subject_id: str, values: Values, reviewer: User, note: str) -> Any:
    from kyc.services.documents import document_review_apply

    accept = values["decision"] == "accept"
    return document_review_apply(
        document_id=int(subject_id), reviewer=reviewer, accept=accept,
        reason_code="" if accept else values["reason_code"], note=note,
    )  # fmt: skip


def _resolution_check(subject_id: str, values: Values) -> None:
    if values["code"] not in ResolutionCode.values:
        raise OpsError("code: one of " + ", ".join(ResolutionCode.values) + ".")
    if not values["note"].strip():
        raise OpsError("note: write the resolution.")
    if len(values["note"]) > 1000:
        raise OpsError("note: at most 1000 characters.")


def _resolution_apply(subject_id: str, values: Values, reviewer: User, note: str) -> Any:
    from ops.services.work_items import work_item_resolve_approved

    return work_item_resolve_approved(
        item_id=int(subject_id), checker=reviewer, code=values["code"], note=values["note"].strip()
    )


def _risk_check(subject_id: str, values: Values) -> None:
    if values["level"] not in RiskLevel.values:
        raise OpsError("level: one of " + ", ".join(RiskLevel.values) + ".")


def _risk_apply(subject_id: str, values: Values, reviewer: User, note: str) -> Any:
    from kyc.services.risk import risk_level_set

    return risk_level_set(client_id=int(subject_id), level=values["level"], actor=reviewer, reason=note)


def _reply_check(subject_id: str, values: Values) -> None:
    actions.reply_check(values["message"])


def _reply_apply(subject_id: str, values: Values, reviewer: User, note: str) -> Any:
    return actions.reply_send(client_id=int(subject_id), message=values["message"].strip())


def _withdrawal_check(subject_id: str, values: Values) -> None:
    withdrawal = actions._withdrawal_get(int(subject_id))
    reason_code = values["reason_code"] if values["decision"] == "reject" else ""
    actions.withdrawal_decision_check(withdrawal, values["decision"], reason_code)


def _withdrawal_apply(subject_id: str, values: Values, reviewer: User, note: str) -> Any:
    return actions.withdrawal_decide_as(
        withdrawal_id=int(subject_id), person=reviewer, decision=values["decision"],
        reason_code=values["reason_code"] if values["decision"] == "reject" else "", note=note,
    )  # fmt: skip


def _routing_check(subject_id: str, values: Values) -> None:
    item = WorkItem.objects.select_related("queue").get(pk=int(subject_id))
    actions.routing_check(item, queue=values["queue"], risk_level=values["risk_level"], due_at=values["due_at"])


def _routing_apply(subject_id: str, values: Values, reviewer: User, note: str) -> Any:
    return actions.work_item_route_as(
        item_id=int(subject_id), person=reviewer, queue=values["queue"], risk_level=values["risk_level"],
        due_at=values["due_at"], note=note,
    )  # fmt: skip


EDITS: dict[str, Edit] = {
    actions.KYC_DOCUMENT: Edit(("decision", "reason_code"), _document_check, _document_apply),
    actions.WORK_ITEM: Edit(("code", "note"), _resolution_check, _resolution_apply),
    actions.RISK_LEVEL: Edit(("level",), _risk_check, _risk_apply),
    actions.CLIENT_REPLY: Edit(("message",), _reply_check, _reply_apply),
    actions.WITHDRAWAL: Edit(
        ("decision", "reason_code"),
        _withdrawal_check,
        _withdrawal_apply,
        defaults=lambda payload: {
            "decision": actions._decision(payload),
            "reason_code": payload.get("reason_code", ""),
        },
    ),
    actions.WORK_ITEM_ROUTING: Edit(("queue", "risk_level", "due_at"), _routing_check, _routing_apply),
}


def proposed_values(action: str, payload: dict[str, Any]) -> Values:
    """The values the agent proposed, in the edit's terms (what the reviewer starts from)."""
    edit = EDITS[action]
    if edit.defaults is not None:
        return edit.defaults(payload)
    return {f: str(payload.get(f) or "") for f in edit.fields}


def editable(action: str) -> bool:
    return action in EDITS
