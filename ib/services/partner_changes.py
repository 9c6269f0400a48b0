"""Changes to a partner that move commissions, each a maker-checker action (``ib/plan_actions.py``):
which commission plan it follows (``ib.partner_plan_assign``) and where it sits in the hierarchy
(``ib.partner_move``). Support asks, finance approves; the check runs when asked and again, under
locks, when carried out.

A move rewrites the materialised paths of the partner and everyone below it (treebeard's
``move``). Commission lines already earned keep the tree they were computed with
(``CommissionLine.tree``), so a move changes only what later deals earn.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ib import errors
from ib.errors import PlanError
from ib.locks import keys_lock, partner_plan_lock, subtree_lock
from ib.models import CommissionPlan, Partner, PartnerPlan, PartnerStatus, PlanVersion
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny

PARTNER_PLAN_ASSIGN = "ib.partner_plan_assign"
PARTNER_MOVE = "ib.partner_move"


def _status(partner: Partner) -> str:
    return str(PartnerStatus(partner.status).label).lower()


# --- which plan a partner follows ----------------------------------------------------------------


def partner_plan_at(partner: Partner, day: date | None = None) -> PartnerPlan | None:
    """The plan ``partner`` follows on ``day`` (today by default): one or none."""
    day = day or timezone.localdate()
    return (
        PartnerPlan.objects.select_related("plan")
        .filter(partner=partner, valid_from__lte=day)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))
        .first()
    )


def partner_plan_can_request(actor: User, partner: Partner) -> Decision:
    """Ask for ``partner`` to follow another commission plan (finance approves)."""
    from ops.selectors import approval_pending
    from ops.services.approvals import approval_can_submit

    if not actor.is_authenticated or not actor.has_perm("ops.manage_commission_plans"):
        return deny(errors.NOT_ALLOWED_PLANS)
    may = approval_can_submit(actor, PARTNER_PLAN_ASSIGN)
    if not may:
        return may
    if partner.status == PartnerStatus.CLOSED:
        return deny(errors.PARTNER_NOT_ACTIVE.format(partner=partner.name, status=_status(partner)))
    if approval_pending(PARTNER_PLAN_ASSIGN, partner) is not None:
        return deny(errors.PARTNER_PLAN_PENDING.format(partner=partner.name))
    return ALLOWED


def version_in_force(plan: CommissionPlan, day: date) -> PlanVersion | None:
    return plan.versions.filter(valid_from__lte=day).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day)).first()


def partner_plan_check(partner: Partner, plan: CommissionPlan, valid_from: date) -> PartnerPlan | None:
    """What following ``plan`` from ``valid_from`` must satisfy, when asked and when approved.
    Returns the period it ends (the one in force or open on ``valid_from``), if any."""
    if partner.status == PartnerStatus.CLOSED:
        raise PlanError({"partner": errors.PARTNER_NOT_ACTIVE.format(partner=partner.name, status=_status(partner))})
    if valid_from < timezone.localdate():
        raise PlanError({"valid_from": errors.ASSIGN_IN_PAST.format(date=valid_from.isoformat())})
    if version_in_force(plan, valid_from) is None:
        raise PlanError({"plan": errors.PLAN_HAS_NO_VERSION.format(plan=plan.name, date=valid_from.isoformat())})
    latest = PartnerPlan.objects.select_related("plan").filter(partner=partner).order_by("-valid_from").first()
    if latest is None or (latest.valid_to is not None and latest.valid_to <= valid_from):
        return None
    if latest.valid_from >= valid_from:
        raise PlanError(
            {"valid_from": errors.ASSIGN_NOT_AFTER.format(
                partner=partner.name, plan=latest.plan.name, date=latest.valid_from.isoformat())}
        )  # fmt: skip
    if latest.plan_id == plan.pk:
        raise PlanError(
            {"plan": errors.ALREADY_FOLLOWS.format(
                partner=partner.name, plan=plan.name, date=latest.valid_from.isoformat())}
        )  # fmt: skip
    return latest


def _period(pp: PartnerPlan) -> dict[str, Any]:
    return {"plan": pp.plan.code, "from": pp.valid_from.isoformat(),
            "to": pp.valid_to.isoformat() if pp.valid_to else None}  # fmt: skip


@transaction.atomic
def partner_plan_assign(
    *, partner_id: int, plan: CommissionPlan, valid_from: date, request: ApprovalRequest
) -> PartnerPlan:
    """Carry out an approved change of plan (inside the engine's transaction, the partner locked):
    the period in force on ``valid_from`` ends that day and the new one starts it."""
    partner = partner_plan_lock(partner_id)
    ended = partner_plan_check(partner, plan, valid_from)
    reason = f"approval #{request.pk}: {request.reason}"
    try:
        with transaction.atomic():
            if ended is not None:
                before = _period(ended)
                ended.valid_to = valid_from
                ended._change_reason = reason  # type: ignore[attr-defined]
                ended.save(update_fields=["valid_to"])
                audit_record(
                    action=AuditAction.PARTNER_PLAN_ENDED, subject=partner, before=before, after=_period(ended),
                    reason=reason,
                )  # fmt: skip
            followed = PartnerPlan(partner=partner, plan=plan, valid_from=valid_from, approval=request)
            followed._change_reason = reason  # type: ignore[attr-defined]
            followed.save()
    except IntegrityError as exc:  # the exclusion constraint, behind partner_plan_check
        if "partner_plans_do_not_overlap" in str(exc):
            raise PlanError({"valid_from": "A partner follows one plan at a time."}) from None
        raise
    audit_record(action=AuditAction.PARTNER_PLAN_ASSIGNED, subject=partner, after=_period(followed), reason=reason)
    return followed


# --- moving a partner in the tree ----------------------------------------------------------------


def partner_can_request_move(actor: User, partner: Partner) -> Decision:
    """Ask for ``partner`` (and everyone below it) to move under another parent (finance approves)."""
    from ops.selectors import approval_pending
    from ops.services.approvals import approval_can_submit

    if not actor.is_authenticated or not actor.has_perm("ops.manage_partners"):
        return deny(errors.NOT_ALLOWED_MOVE)
    may = approval_can_submit(actor, PARTNER_MOVE)
    if not may:
        return may
    if partner.status == PartnerStatus.CLOSED:
        return deny(errors.MOVE_PARTNER_CLOSED.format(partner=partner.name))
    if approval_pending(PARTNER_MOVE, partner) is not None:
        return deny(errors.MOVE_PENDING.format(partner=partner.name))
    return ALLOWED


def parent_of(partner: Partner) -> Partner | None:
    return Partner.objects.get_parent(partner) if partner.depth > 1 else None


def partner_move_check(partner: Partner, parent: Partner | None) -> None:
    """A move must not make a cycle (the new parent is the partner itself or below it), must not
    go under a closed or suspended partner, and must change something. ``partner`` and ``parent``
    must be fresh rows (their paths are compared)."""
    if partner.status == PartnerStatus.CLOSED:
        raise PlanError({"partner": errors.MOVE_PARTNER_CLOSED.format(partner=partner.name)})
    current = parent_of(partner)
    if parent is None:
        if current is None:
            raise PlanError({"parent": errors.MOVE_ALREADY_TOP.format(partner=partner.name)})
        return
    if parent.pk == partner.pk:
        raise PlanError({"parent": errors.MOVE_TO_ITSELF})
    if parent.path.startswith(partner.path):
        raise PlanError({"parent": errors.MOVE_UNDER_DESCENDANT.format(parent=parent.name, partner=partner.name)})
    if parent.status != PartnerStatus.ACTIVE:
        raise PlanError({"parent": errors.PARENT_NOT_ACTIVE.format(partner=parent.name, status=_status(parent))})
    if current is not None and current.pk == parent.pk:
        raise PlanError({"parent": errors.MOVE_SAME_PARENT.format(partner=partner.name, parent=parent.name)})


@transaction.atomic
def partner_move(*, partner_id: int, parent_id: int | None, request: ApprovalRequest) -> Partner:
    """Carry out an approved move (inside the engine's transaction): the branch and both parents
    locked, checked again on the locked rows, then moved with treebeard (a sorted child of the new
    parent, or a sorted root)."""
    partner = Partner.objects.get(pk=partner_id)
    old_parent = parent_of(partner)
    keys = keys_lock(partner_id, old_parent.pk if old_parent else None, parent_id)
    partner = keys[partner_id]  # fresh: a move that waited for another sees the paths it left
    old_parent = parent_of(partner)
    parent = keys.get(parent_id) if parent_id else None
    if parent_id and parent is None:
        raise PlanError({"parent": "The new parent no longer exists."})
    subtree_lock(partner)
    partner_move_check(partner, parent)
    below = Partner.objects.filter(path__startswith=partner.path).exclude(pk=partner.pk).count()
    before = {"parent": old_parent.name if old_parent else None, "parent_code": old_parent.code if old_parent else None,
              "depth": partner.depth, "path": partner.path}  # fmt: skip
    if parent is not None:
        Partner.objects.move(partner, parent, "sorted-child")
    else:
        root = Partner.objects.get_root_nodes().exclude(pk=partner.pk).first()
        assert root is not None  # partner_move_check: a partner with a parent is not the only root
        Partner.objects.move(partner, root, "sorted-sibling")
    moved = Partner.objects.get(pk=partner_id)
    moved._change_reason = f"approval #{request.pk}: moved"
    moved.save()  # a history row of the partner at its new place
    after = {"parent": parent.name if parent else None, "parent_code": parent.code if parent else None,
             "depth": moved.depth, "path": moved.path, "moved_below": below}  # fmt: skip
    audit_record(
        action=AuditAction.PARTNER_MOVED, subject=moved, before=before, after=after,
        reason=f"approval #{request.pk}: {request.reason}",
    )  # fmt: skip
    return moved


# --- asking ---------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def partner_plan_request(
    *, actor: User, partner: Partner, plan: CommissionPlan, valid_from: date, reason: str
) -> ApprovalRequest:
    """Ask for ``partner`` to follow ``plan`` from ``valid_from`` (finance approves)."""
    from ops.services.approvals import approval_create

    partner_plan_can_request(actor, partner).require(PlanError)
    ended = partner_plan_check(partner, plan, valid_from)
    payload = {"plan": plan.pk, "valid_from": valid_from.isoformat(),
               "ends": f"{ended.plan.name} (followed since {ended.valid_from.isoformat()})" if ended else ""}  # fmt: skip
    return approval_create(action=PARTNER_PLAN_ASSIGN, subject=partner, payload=payload, maker=actor, reason=reason)


@transaction.atomic(durable=True)
def partner_move_request(*, actor: User, partner: Partner, parent: Partner | None, reason: str) -> ApprovalRequest:
    """Ask for ``partner`` and everyone below it to move under ``parent`` (None: to the top)."""
    from ops.services.approvals import approval_create

    partner_can_request_move(actor, partner).require(PlanError)
    partner = Partner.objects.get(pk=partner.pk)
    parent = Partner.objects.get(pk=parent.pk) if parent is not None else None
    partner_move_check(partner, parent)
    current = parent_of(partner)
    payload = {
        "parent": parent.pk if parent else None,
        "from_parent": current.pk if current else None,
        "moves_along": Partner.objects.filter(path__startswith=partner.path).exclude(pk=partner.pk).count(),
    }
    return approval_create(action=PARTNER_MOVE, subject=partner, payload=payload, maker=actor, reason=reason)
