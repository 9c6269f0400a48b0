"""The main navigation: one entry per area, each shown exactly when its can-function allows the
viewer in (the page itself asks the same function, so a link never leads to a refusal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ops.permissions import ALLOWED, Decision


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    can: Callable[[Any], Decision]


def _anyone(user: Any) -> Decision:
    return ALLOWED


def entries() -> list[NavEntry]:
    from accounts.selectors import client_can_list
    from agents.services import agents_can_view, proposals_can_review
    from audit.selectors import audit_trail_can_view, security_log_can_view
    from backoffice.admin_site import admin_can_use
    from ib.selectors import partner_can_view
    from kyc.services.screening import sanctions_list_can_view
    from ops.services.access_review import access_review_can_view
    from ops.services.api_keys import api_keys_can_manage
    from ops.services.approvals import approvals_can_view
    from ops.services.followups import followup_can_manage
    from ops.services.staff import staff_can_view
    from ops.services.webhooks import webhooks_can_view
    from ops.services.work_items import queues_can_view
    from payments.selectors import payments_can_view
    from reporting.selectors import reports_can_view
    from risk.sar import sar_can_view
    from risk.services import exposure_can_view

    return [
        NavEntry("Home", "home", _anyone),
        NavEntry("Clients", "clients", client_can_list),
        NavEntry("Queues", "queues", queues_can_view),
        NavEntry("Approvals", "approvals", approvals_can_view),
        NavEntry("Agent proposals", "agents-review", proposals_can_review),
        NavEntry("Follow-ups", "followups", followup_can_manage),
        NavEntry("Payments", "payments", payments_can_view),
        NavEntry("Partners", "partners", partner_can_view),
        NavEntry("Risk", "risk-dashboard", exposure_can_view),
        NavEntry("SARs", "risk-sars", sar_can_view),
        NavEntry("Reports", "reports", reports_can_view),
        NavEntry("Staff", "staff", staff_can_view),
        NavEntry("Access review", "access-review", access_review_can_view),
        NavEntry("API keys", "api-keys", api_keys_can_manage),
        NavEntry("Agents", "agents", agents_can_view),
        NavEntry("Lists", "sanctions-lists", sanctions_list_can_view),
        NavEntry("Audit trail", "audit-events", audit_trail_can_view),
        NavEntry("Security log", "security-log", security_log_can_view),
        NavEntry("Webhooks", "webhooks", webhooks_can_view),
        NavEntry("Admin", "admin:index", admin_can_use),
    ]


def nav_for(user: Any) -> list[NavEntry]:
    """The entries ``user`` may open, in order."""
    return [entry for entry in entries() if entry.can(user)]
