"""Who may open which report, and the report itself: ``report_build(family, filters)``."""

from __future__ import annotations

from typing import Any

from ops.permissions import ALLOWED, Decision, deny
from reporting import errors
from reporting.families import FAMILIES, Family


def report_can_view(actor: Any, family: str) -> Decision:
    """May open (and export) the reports of ``family``: the family's permission in the roles matrix."""
    found = FAMILIES.get(family)
    if found is None:
        return deny(errors.UNKNOWN_REPORT.format(family=family))
    if not actor.is_authenticated or not actor.has_perm(found.permission):
        return deny(errors.REPORT_NOT_ALLOWED.format(family=found.title.lower()))
    return ALLOWED


def reports_can_view(actor: Any) -> Decision:
    """May open the catalogue: at least one family is open to them."""
    if any(report_can_view(actor, code) for code in FAMILIES):
        return ALLOWED
    return deny(errors.REPORTS_NOT_ALLOWED)


def report_families_for(actor: Any) -> list[Family]:
    return [f for f in FAMILIES.values() if report_can_view(actor, f.code)]
