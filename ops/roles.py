"""Staff roles and what each may do — the one table (seed 003, step four).

Roles are Django groups created by a data migration from this table; permissions are declared on
``ops.Capability``. Changing what a role may do means editing this table and adding a migration
that calls :func:`sync_roles` (a test fails while the database and this table disagree).
"""

from __future__ import annotations

from typing import Any

from django.db import models


class Role(models.TextChoices):
    SUPPORT = "support", "Customer support"
    COMPLIANCE = "compliance", "Compliance"
    FINANCE = "finance", "Finance"
    RISK = "risk", "Risk control"
    ADMIN = "admin", "Administrator"
    AUDITOR = "auditor", "Auditor"


# codename -> description; all live in the "ops" app label.
PERMISSIONS: dict[str, str] = {
    # support
    "view_client_status": "View client account status",
    "submit_ticket": "Submit support tickets",
    "view_review_progress": "View (and explain) KYC review progress",
    # clients (support registers and updates; compliance decides)
    "manage_clients": "Register clients and update their details",
    # compliance
    "review_documents": "Review KYC documents",
    "view_identity_documents": "Open identity documents' files (compliance and the auditor; others see the checklist)",
    "set_risk_level": "Set client risk levels",
    "restrict_account": "Restrict client accounts",
    "review_access": "Review staff access and sign off the quarterly access review",
    # client follow-ups (support and compliance)
    "manage_follow_ups": "See client follow-up sequences and stop a client's follow-up with a reason",
    # finance
    "handle_deposits": "Handle deposits",
    "handle_withdrawals": "Handle withdrawals",
    "handle_refunds": "Handle refunds",
    "handle_internal_transfers": "Handle internal transfers",
    "reject_withdrawals": "Reject withdrawals before payout (finance, and compliance at its review)",
    # payments pages (deposits, withdrawals, statements, reconciliation), read-only
    "view_payments": "View deposits, withdrawals, statements and reconciliation",
    "manage_psp_routing": "Ask for PSP routing changes (another finance officer approves)",
    "create_payment_links": "Make a payment link (card checkout or bank details) for a client to deposit",
    "handle_chargebacks": "Work chargebacks: send the evidence response to the PSP (finance and compliance)",
    "propose_fx_rates": "Propose a missing FX rate (another finance officer approves)",
    # risk
    "view_trading_risk": "View trading risk and exposure",
    "view_anomalies": "View account anomalies",
    "view_fund_flows": "View fund flows",
    "change_leverage": "Change trading account leverage (above the default: maker-checker)",
    # introducing brokers (partners)
    "view_partners": "See partners (introducing brokers), their hierarchy and attributed clients",
    "manage_partners": "Add partners and ask for a client's partner to change (finance approves)",
    "handle_ib_disputes": "Handle partner commission disputes and ask for commission adjustments (finance approves)",
    "import_deals": "Import deal report files (CSV) into the trade feed",
    "manage_commission_plans": "Propose commission plans and their versions, and which plan a partner follows (finance approves)",
    "run_commissions": "Run partner commissions for a period and issue statements (finance)",
    # admin
    "manage_configuration": "Configure system parameters",
    "manage_staff": "Manage staff users and roles",
    "access_admin": "Use the Django admin",
    "manage_queues": "Assign and reassign any work item; configure queues",
    "view_all_queues": "See every work queue (read-only unless the role works it)",
    # auditor (and admin)
    "view_audit_trail": "View the audit trail",
    "export_audit_trail": "Export the audit trail",
    # compliance and the auditor: one file for a regulator about one client
    "export_evidence_pack": "Export a client's evidence pack for a regulator (profile, documents, decisions, ledger, audit proof)",
    # admin, compliance and the auditor
    "view_security_log": "View the security log (refused requests, failed sign-ins, forged webhooks, alerts)",
    # outbound webhooks (admin): endpoints, secrets, deliveries and replays; the event log's API
    "manage_webhooks": "Manage outbound webhook endpoints, their secrets and deliveries",
    "view_events": "Read the outbound event log (GET /api/v1/events), to fill gaps in webhook deliveries",
    # what makes someone act in a role's name: work its queues and decide its approval levels
    "work_as_support": "Work the support queues",
    "work_as_compliance": "Work the compliance queues and decide compliance approval levels",
    "work_as_finance": "Work the finance queues and decide finance approval levels",
    "work_as_risk": "Work the risk queues and decide risk approval levels",
    "work_as_admin": "Work the administrator queues and decide administrator approval levels",
    # API keys for machines (creating or widening one: another administrator approves)
    "manage_api_keys": "Request, rotate and revoke API keys (another administrator approves a new or wider key)",
    # reports (reporting): one permission per report family; it opens the family's pages and exports
    "view_reports_accounts": "Open and export the accounts reports (registrations, approvals, funnel, FTDs)",
    "view_reports_payments": "Open and export the payments reports (success rates, processing times, net deposits)",
    "view_reports_compliance": "Open and export the compliance reports (expiry, risk, EDD, screening, time to KYC)",
    "view_reports_permissions": "Open and export the permissions reports (admin operations, sensitive changes, sign-ins)",
    "view_reports_partners": "Open and export the partner reports (attribution, commissions, hierarchy, disputes)",
    "view_reports_operations": "Open and export the operations reports (backlog, ageing, SLA breaches, resolved per person)",
    "view_reports_balances": "Open and export the balances reports (platform beside ledger, daily client money)",
}

# A queue names the roles that work it and an approval level the role that decides it; who acts in
# a role's name is whoever holds that role's duty permission (through the role's group, or granted
# directly) -- never a check of group names. The auditor works no queue and decides nothing.
ROLE_DUTY: dict[Role, str] = {
    Role.SUPPORT: "ops.work_as_support",
    Role.COMPLIANCE: "ops.work_as_compliance",
    Role.FINANCE: "ops.work_as_finance",
    Role.RISK: "ops.work_as_risk",
    Role.ADMIN: "ops.work_as_admin",
}

# Where each capability is exercised: the page (URL name and arguments) the home page links it to.
# A permission with no page yet (support tickets, refunds, internal transfers, trading risk,
# anomalies) stays in the role table for the features to come but is not offered on the home page.
CAPABILITY_PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "view_client_status": ("clients", ()),
    "view_review_progress": ("clients", ()),
    "manage_clients": ("client-new", ()),
    "review_documents": ("queue", ("kyc_review",)),
    "set_risk_level": ("clients", ()),
    "restrict_account": ("clients", ()),
    "handle_deposits": ("payments", ()),
    "handle_withdrawals": ("payments", ()),
    "view_fund_flows": ("payments", ()),
    "change_leverage": ("clients", ()),
    "manage_configuration": ("admin:index", ()),
    "manage_staff": ("staff", ()),
    "view_partners": ("partners", ()),
    "manage_psp_routing": ("payments-routing", ()),
    "manage_partners": ("partner-new", ()),
    "handle_ib_disputes": ("ib-disputes", ()),
    "import_deals": ("deal-import", ()),
    "manage_commission_plans": ("plans", ()),
    "run_commissions": ("commission-runs", ()),
    "access_admin": ("admin:index", ()),
    "manage_queues": ("queues", ()),
    "view_all_queues": ("queues", ()),
    "view_audit_trail": ("audit-events", ()),
    "review_access": ("access-review", ()),
    "export_audit_trail": ("audit-events", ()),
    "view_security_log": ("security-log", ()),
    "manage_api_keys": ("api-keys", ()),
    "manage_webhooks": ("webhooks", ()),
    "manage_follow_ups": ("followups", ()),
    "handle_chargebacks": ("chargebacks", ()),
    "propose_fx_rates": ("risk-fx-gaps", ()),
    "export_evidence_pack": ("clients", ()),
    **{
        f"view_reports_{family}": ("report", (family,))
        for family in ("accounts", "payments", "compliance", "permissions", "partners", "operations", "balances")
    },
}

_READ_ONLY = {
    "view_all_queues",
    "view_client_status",
    "view_review_progress",
    "view_trading_risk",
    "view_anomalies",
    "view_fund_flows",
    "view_payments",
    "view_partners",
    "view_audit_trail",
    "export_audit_trail",
    "export_evidence_pack",
    "view_security_log",
    "view_reports_accounts",
    "view_reports_payments",
    "view_reports_compliance",
    "view_reports_permissions",
    "view_reports_partners",
    "view_reports_operations",
    "view_reports_balances",
}

# Model permissions the admin role needs to browse the Django admin (read-only views).
ADMIN_MODEL_PERMISSIONS = frozenset({"ops.view_user", "auth.view_group", "audit.view_auditevent"})

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.SUPPORT: frozenset(
        {
            "view_client_status",
            "submit_ticket",
            "view_review_progress",
            "manage_clients",
            "view_partners",
            "manage_partners",
            "create_payment_links",
            "handle_ib_disputes",
            "manage_commission_plans",
            "manage_follow_ups",
            "work_as_support",
        }
    ),
    Role.COMPLIANCE: frozenset(
        {
            "view_client_status",
            "manage_clients",
            "view_review_progress",
            "review_documents",
            "view_identity_documents",
            "set_risk_level",
            "restrict_account",
            "view_payments",
            "reject_withdrawals",
            "view_partners",
            "review_access",
            "view_security_log",
            "manage_follow_ups",
            "work_as_compliance",
            "handle_chargebacks",
            "export_evidence_pack",
            "view_reports_accounts",
            "view_reports_compliance",
            "view_reports_permissions",
            "view_reports_operations",
        }
    ),
    Role.FINANCE: frozenset(
        {
            "view_client_status",
            "view_payments",
            "handle_deposits",
            "handle_withdrawals",
            "reject_withdrawals",
            "handle_refunds",
            "handle_internal_transfers",
            "view_partners",
            "manage_psp_routing",
            "create_payment_links",
            "handle_chargebacks",
            "handle_ib_disputes",
            "import_deals",
            "run_commissions",
            "propose_fx_rates",
            "work_as_finance",
            "view_reports_accounts",
            "view_reports_payments",
            "view_reports_partners",
            "view_reports_operations",
            "view_reports_balances",
        }
    ),
    Role.RISK: frozenset(
        {
            "view_client_status",
            "view_trading_risk",
            "view_anomalies",
            "view_fund_flows",
            "view_payments",
            "change_leverage",
            "view_partners",
            "import_deals",
            "propose_fx_rates",
            "work_as_risk",
            "view_reports_accounts",
            "view_reports_payments",
            "view_reports_balances",
        }
    ),
    Role.ADMIN: frozenset(
        {
            "view_client_status",
            "manage_configuration",
            "manage_staff",
            "manage_queues",
            "view_all_queues",
            "view_payments",
            "view_partners",
            "access_admin",
            "view_audit_trail",
            "export_audit_trail",
            "view_security_log",
            "work_as_admin",
            "manage_api_keys",
            "manage_webhooks",
            "view_events",
            "view_reports_permissions",
            "view_reports_operations",
        }
    )
    | ADMIN_MODEL_PERMISSIONS,
    # read-only everywhere, including the audit trail and the identity documents it refers to
    Role.AUDITOR: frozenset(_READ_ONLY | {"view_identity_documents"}),
}

# Roles whose grant is sensitive (issue 3 routes these through maker-checker).
SENSITIVE_ROLES = frozenset({Role.ADMIN})


# Segregation of duties: pairs of roles one person may not hold together, each with the reason the
# compliance function reads on the access review page. A grant that would make such a pair is
# refused when it is requested and again when it is approved; holders of a pair made before this
# table (or around it) are listed as findings of the quarterly access review.
INCOMPATIBLE_ROLES: dict[frozenset[Role], str] = {
    frozenset({Role.ADMIN, Role.FINANCE}): (
        "An administrator manages staff and configuration; with finance they could give themselves "
        "the means to approve payments and cover it."
    ),
    frozenset({Role.ADMIN, Role.COMPLIANCE}): (
        "Compliance checks the grants of administrators; an administrator in compliance would check their own kind."
    ),
    frozenset({Role.ADMIN, Role.RISK}): (
        "An administrator configures account types and their leverage limits; risk changes leverage within them."
    ),
    frozenset({Role.FINANCE, Role.COMPLIANCE}): (
        "Compliance approves clients and reviews withdrawals; finance pays them out. One person could "
        "onboard a client and pay them."
    ),
    frozenset({Role.FINANCE, Role.RISK}): (
        "Risk monitors fund flows and account anomalies; finance moves the funds it monitors."
    ),
    **{
        frozenset(
            {Role.AUDITOR, role}
        ): "The auditor is independent of the work audited: read-only, no role that writes."
        for role in (Role.SUPPORT, Role.COMPLIANCE, Role.FINANCE, Role.RISK, Role.ADMIN)
    },
}


def incompatible_with(role: str | Role) -> dict[Role, str]:
    """The roles that may not be held together with ``role``, each with the reason."""
    result: dict[Role, str] = {}
    for pair, reason in INCOMPATIBLE_ROLES.items():
        if role in pair:
            (other,) = pair - {Role(role)}
            result[other] = reason
    return dict(sorted(result.items(), key=lambda kv: list(Role).index(kv[0])))


def role_conflicts(roles: set[str] | set[Role] | list[str] | list[Role]) -> list[tuple[Role, Role, str]]:
    """The incompatible pairs within ``roles`` (role codes), in the order of the table of roles."""
    held = [r for r in Role if r.value in {str(x) for x in roles}]
    found = []
    for i, first in enumerate(held):
        for second in held[i + 1 :]:
            reason = INCOMPATIBLE_ROLES.get(frozenset({first, second}))
            if reason is not None:
                found.append((first, second, reason))
    return found


def sync_roles(apps: Any = None) -> None:
    """Make the role groups hold exactly the permissions of the table. Used by data migrations."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    from django.contrib.auth.management import create_permissions

    wanted = {name for names in ROLE_PERMISSIONS.values() for name in map(qualified, names)}
    for app_label in sorted({name.split(".")[0] for name in wanted}):
        app_config = apps.get_app_config(app_label)
        # Migration-state app configs have no models_module; create_permissions needs it truthy.
        had_module = getattr(app_config, "models_module", None)
        app_config.models_module = had_module or True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = had_module
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in permission_model.objects.select_related("content_type")
        if f"{p.content_type.app_label}.{p.codename}" in wanted
    }
    # A migration sees the models as they were at its point in history: permissions declared by a
    # later migration do not exist yet and are granted by the migration that syncs after it.
    # (tests/ops/test_roles.py checks the migrated database holds exactly this table.)
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role.value)
        group.permissions.set([by_name[q] for q in sorted(map(qualified, names)) if q in by_name])


def qualified(name: str) -> str:
    """'view_audit_trail' -> 'ops.view_audit_trail'; 'audit.view_auditevent' stays as it is."""
    return name if "." in name else f"ops.{name}"
