"""The maker-checker actions of commission plans and partner changes, registered with the one
approval engine (``ops/approvals.py``). Support proposes, finance approves:

- ``ib.plan_change``: a new plan's first version, or a new version of a plan (subject: the plan).
  The checker sees, beside the rules, what they would have paid over the last full calendar month
  next to what the plan did pay (the ``panel``, computed when the page is shown).
- ``ib.partner_plan_assign``: the plan a partner follows from a date (subject: the partner).
- ``ib.partner_move``: the partner, and everyone below it, under another parent (subject: the partner).

Each payload is checked when the request is made and again when it is approved.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import models

from ib.errors import PlanError
from ib.models import CommissionPlan, Partner
from ib.services.partner_changes import PARTNER_MOVE, PARTNER_PLAN_ASSIGN, parent_of, partner_move_check
from ib.services.plans import PLAN_CHANGE, plan_fields_check, plan_version_check
from ops.approvals import ApprovalAction, Payload, register
from ops.roles import Role


def _plan(subject: models.Model) -> CommissionPlan:
    assert isinstance(subject, CommissionPlan)
    return CommissionPlan.objects.get(pk=subject.pk)


def _partner(subject: models.Model) -> Partner:
    assert isinstance(subject, Partner)
    return Partner.objects.get(pk=subject.pk)


def _day(payload: Payload, field: str) -> date:
    try:
        return date.fromisoformat(str(payload.get(field)))
    except ValueError:
        raise PlanError({field: "A date (YYYY-MM-DD)."}) from None


# --- ib.plan_change ------------------------------------------------------------------------------


def _validate_plan_change(subject: models.Model, payload: Payload) -> None:
    plan = _plan(subject)
    facts = payload.get("plan") or {}
    if payload.get("new_plan"):
        plan_fields_check(code=plan.code, name=plan.name, currency=plan.currency, hold_days=plan.hold_days, plan=plan)
    if facts.get("code") != plan.code or facts.get("currency") != plan.currency:
        raise PlanError({"plan": "The request names another plan than its subject."})
    plan_version_check(plan, payload)


def _execute_plan_change(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ib.services.plans import plan_version_add

    version = plan_version_add(plan_id=subject.pk, payload=payload, request=request)
    return {"plan": version.plan.name, "version": version.number, "from": version.valid_from.isoformat()}


def _show_plan_change(payload: Payload) -> dict[str, str]:
    from ib.selectors import rule_in_words

    facts = payload.get("plan") or {}
    currency = str(facts.get("currency", ""))
    shown = {
        "Plan": f"{facts.get('name', '')} ({facts.get('code', '')})"
        + (" — a new plan" if payload.get("new_plan") else ""),
        "Currency and hold": f"{currency}, commissions held {facts.get('hold_days', '')} days before they can be paid",
        "New version in force from": str(payload.get("valid_from", "")),
    }
    if payload.get("note"):
        shown["Note"] = str(payload["note"])
    for n, rule in enumerate(payload.get("rules") or [], start=1):
        try:
            shown[f"Rule {n}"] = rule_in_words(rule, currency)
        except Exception:  # a payload that no longer reads (a group removed): show it as it is
            shown[f"Rule {n}"] = str(rule)
    return shown


def _describe_plan_change(subject: models.Model, payload: Payload) -> str:
    facts = payload.get("plan") or {}
    if payload.get("new_plan"):
        return f"New commission plan {facts.get('name', subject)} from {payload.get('valid_from')}"
    return f"New version of {facts.get('name', subject)} from {payload.get('valid_from')}"


def _comparison_panel(request: Any) -> tuple[str, dict[str, Any]]:
    from ib.selectors import plan_change_comparison

    plan = request.subject
    if not isinstance(plan, CommissionPlan):
        return "ib/_plan_comparison.html", {"comparison": None}
    return "ib/_plan_comparison.html", {"comparison": plan_change_comparison(plan, request.payload.get("rules") or [])}


register(
    ApprovalAction(
        key=PLAN_CHANGE,
        label="Change a commission plan (new plan or new version)",
        subject_model=CommissionPlan,
        maker_permission="ops.manage_commission_plans",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate_plan_change,
        execute=_execute_plan_change,
        describe=_describe_plan_change,
        show=_show_plan_change,
        panel=_comparison_panel,
    )
)


# --- ib.partner_plan_assign ----------------------------------------------------------------------


def _plan_named(payload: Payload) -> CommissionPlan | None:
    pk = payload.get("plan")
    return CommissionPlan.objects.filter(pk=pk).first() if isinstance(pk, int) else None


def _assign_parsed(payload: Payload) -> tuple[CommissionPlan, date]:
    found = _plan_named(payload)
    if found is None:
        raise PlanError({"plan": "The request names no existing plan."})
    return found, _day(payload, "valid_from")


def _validate_assign(subject: models.Model, payload: Payload) -> None:
    from ib.services.partner_changes import partner_plan_check

    plan, valid_from = _assign_parsed(payload)
    partner_plan_check(_partner(subject), plan, valid_from)


def _execute_assign(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ib.services.partner_changes import partner_plan_assign

    plan, valid_from = _assign_parsed(payload)
    followed = partner_plan_assign(partner_id=subject.pk, plan=plan, valid_from=valid_from, request=request)
    return {"plan": plan.name, "from": followed.valid_from.isoformat()}


def _show_assign(payload: Payload) -> dict[str, str]:
    found = _plan_named(payload)
    shown = {
        "Plan": f"{found.name} ({found.code}, {found.currency})" if found else "(no longer exists)",
        "Follows it from": str(payload.get("valid_from", "")),
    }
    if payload.get("ends"):
        shown["Ends"] = str(payload["ends"])
    return shown


register(
    ApprovalAction(
        key=PARTNER_PLAN_ASSIGN,
        label="Change the commission plan a partner follows",
        subject_model=Partner,
        maker_permission="ops.manage_commission_plans",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate_assign,
        execute=_execute_assign,
        describe=lambda subject, payload: (
            f"{subject} follows {_show_assign(payload)['Plan']} from {payload.get('valid_from')}"
        ),
        show=_show_assign,
    )
)


# --- ib.partner_move -----------------------------------------------------------------------------


def _move_parsed(payload: Payload) -> Partner | None:
    parent_id = payload.get("parent")
    if parent_id is None:
        return None
    parent = Partner.objects.filter(pk=parent_id).first() if isinstance(parent_id, int) else None
    if parent is None:
        raise PlanError({"parent": "The new parent no longer exists."})
    return parent


def _validate_move(subject: models.Model, payload: Payload) -> None:
    partner = _partner(subject)
    current = parent_of(partner)
    if (current.pk if current else None) != payload.get("from_parent"):
        raise PlanError({"parent": f"{partner.name} has moved since the request: ask again."})
    partner_move_check(partner, _move_parsed(payload))


def _execute_move(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ib.services.partner_changes import partner_move

    parent = _move_parsed(payload)
    moved = partner_move(partner_id=subject.pk, parent_id=parent.pk if parent else None, request=request)
    return {"partner": moved.name, "parent": parent.name if parent else "none (a master partner)",
            "level": moved.depth}  # fmt: skip


def _name(pk: Any) -> str:
    found = Partner.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    return f"{found.name} ({found.code})" if found else "(no longer exists)"


def _show_move(payload: Payload) -> dict[str, str]:
    return {
        "From under": _name(payload["from_parent"]) if payload.get("from_parent") else "none (a master partner)",
        "To under": _name(payload["parent"]) if payload.get("parent") else "none: it becomes a master partner",
        "Moves along": str(payload.get("moves_along", "")) + " partner(s) below it",
    }


register(
    ApprovalAction(
        key=PARTNER_MOVE,
        label="Move a partner in the hierarchy",
        subject_model=Partner,
        maker_permission="ops.manage_partners",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate_move,
        execute=_execute_move,
        describe=lambda subject, payload: f"Move {subject} under {_show_move(payload)['To under']}",
        show=_show_move,
    )
)
