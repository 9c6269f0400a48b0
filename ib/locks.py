"""Row locks of the ib app, each in a fixed order."""

from __future__ import annotations

from ib.models import CommissionPlan, Partner


def partner_lock(partner_id: int) -> Partner:
    """The partner, locked: two sub-partners added under it at once get different paths."""
    return Partner.objects.select_for_update(of=("self",)).get(pk=partner_id)


def plan_lock(plan_id: int) -> CommissionPlan:
    """The plan, locked: two approved changes of one plan are carried out one after the other."""
    return CommissionPlan.objects.select_for_update(of=("self",)).get(pk=plan_id)


def partner_plan_lock(partner_id: int) -> Partner:
    """The partner whose plan changes, locked (one change of its plan at a time)."""
    return partner_lock(partner_id)


def keys_lock(*partner_ids: int | None) -> dict[int, Partner]:
    """The partners a move names (it, its old parent, its new parent), locked in id order."""
    ids = sorted({pk for pk in partner_ids if pk})
    return {p.pk: p for p in Partner.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",))}


def subtree_lock(partner: Partner) -> list[Partner]:
    """Everyone below ``partner`` (already locked, with its current path), locked in id order: a
    move rewrites the paths of the whole branch."""
    rows = Partner.objects.filter(path__startswith=partner.path).order_by("pk").select_for_update(of=("self",))
    return list(rows)
