"""The work queues and their SLAs — one table, loaded into ``ops.Queue`` by a data migration
(admins may then tune SLAs; every change is in the queue's history).

Every exception that needs a person lands in one of these queues (seed 004: "build queues, not
inboxes"). Each queue names the roles that work it and where overdue items escalate to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.roles import Role


@dataclass(frozen=True)
class QueueSpec:
    code: str
    name: str
    sla_minutes: int
    roles: tuple[Role, ...]
    escalates_to: str | None


QUEUES: list[QueueSpec] = [
    QueueSpec("kyc_review", "KYC review", 24 * 60, (Role.COMPLIANCE,), "compliance_escalation"),
    QueueSpec("kyc_exception", "KYC exception", 8 * 60, (Role.COMPLIANCE,), "compliance_escalation"),
    # The identity verification provider could not be reached for a document (retries exhausted):
    # re-request the check from the document page, or review the document without it.
    QueueSpec(
        "identity_check_failure",
        "Identity check not completed",
        8 * 60,
        (Role.COMPLIANCE,),
        "compliance_escalation",
    ),
    QueueSpec("edd", "Enhanced due diligence", 72 * 60, (Role.COMPLIANCE,), "compliance_escalation"),
    QueueSpec("screening_hit", "Screening hits", 4 * 60, (Role.COMPLIANCE,), "compliance_escalation"),
    QueueSpec("withdrawal_approval", "Withdrawal approval", 4 * 60, (Role.FINANCE,), "finance_escalation"),
    QueueSpec("withdrawal_exception", "Withdrawal exception", 8 * 60, (Role.FINANCE,), "finance_escalation"),
    QueueSpec("deposit_exception", "Deposit exception", 8 * 60, (Role.FINANCE, Role.COMPLIANCE), "finance_escalation"),
    # A card payment disputed (chargeback): due at the scheme's deadline for the response; disputes
    # the back office could not apply (an unknown payment) land here too.
    QueueSpec("chargeback", "Chargebacks", 7 * 24 * 60, (Role.FINANCE, Role.COMPLIANCE), "finance_escalation"),
    QueueSpec("reconciliation_break", "Reconciliation break", 24 * 60, (Role.FINANCE,), "finance_escalation"),
    QueueSpec("platform_sync_mismatch", "Platform sync mismatch", 4 * 60, (Role.RISK, Role.FINANCE), "ops_escalation"),
    QueueSpec("ib_dispute", "IB dispute", 72 * 60, (Role.FINANCE, Role.SUPPORT), "ops_escalation"),
    QueueSpec("risk_alert", "Risk alert", 60, (Role.RISK,), "ops_escalation"),
    # A monitoring rule met amounts in a currency with no rate into its own at their moment (they
    # compared as nothing), or exposure could not be converted: add the rate for the pair and day.
    QueueSpec("fx_rate_missing", "Missing FX rate", 4 * 60, (Role.FINANCE, Role.RISK), "finance_escalation"),
    # A client registered with the e-mail, phone, or name and date of birth of another: merge or dismiss.
    QueueSpec(
        "client_duplicate",
        "Possible duplicate clients",
        24 * 60,
        (Role.SUPPORT, Role.COMPLIANCE),
        "compliance_escalation",
    ),
    # The nightly CRM comparison: the CRM holds another value of a field the back office owns.
    QueueSpec("crm_mismatch", "CRM mismatch", 24 * 60, (Role.SUPPORT,), "ops_escalation"),
    QueueSpec("access_review", "Staff access review", 72 * 60, (Role.COMPLIANCE,), "compliance_escalation"),
    # The system's own integrity: e.g. the audit chain no longer being sealed.
    QueueSpec("system_alert", "System alert", 60, (Role.ADMIN,), "ops_escalation"),
    # Someone probing: repeated refused requests from one caller, password spraying (the security
    # log's alert rules). Compliance works it beside the admins: an admin may be the one probing.
    QueueSpec("security_alert", "Security alert", 60, (Role.ADMIN, Role.COMPLIANCE), "compliance_escalation"),
    # Deals of the trade feed (platform pull or deal report file) refused row by row: one item per batch.
    QueueSpec("trade_feed_exception", "Trade feed exception", 8 * 60, (Role.RISK, Role.FINANCE), "ops_escalation"),
    # An outbound webhook endpoint disabled by its receiver (410 Gone), or deliveries given up after
    # ~3 days of retries: an administrator contacts the receiver, fixes the endpoint, replays.
    QueueSpec("webhook_failure", "Webhook delivery failure", 24 * 60, (Role.ADMIN,), "ops_escalation"),
    # A client who did not act on a follow-up sequence's messages (e.g. documents requested, two
    # reminders, no upload): a person calls them (ops.followups).
    QueueSpec(
        "client_follow_up", "Client follow-up", 24 * 60, (Role.SUPPORT, Role.COMPLIANCE), "compliance_escalation"
    ),
    QueueSpec("compliance_escalation", "Compliance escalations", 4 * 60, (Role.COMPLIANCE,), None),
    QueueSpec("finance_escalation", "Finance escalations", 4 * 60, (Role.FINANCE,), None),
    QueueSpec("ops_escalation", "Operations escalations", 4 * 60, (Role.RISK, Role.FINANCE, Role.COMPLIANCE), None),
]


def sync_queues(apps: Any) -> None:
    """Create the queues of the table that do not exist yet (existing SLAs are left as tuned)."""
    queue_model = apps.get_model("ops", "Queue")
    for spec in QUEUES:
        queue_model.objects.get_or_create(
            code=spec.code,
            defaults={"name": spec.name, "sla_minutes": spec.sla_minutes, "roles": [r.value for r in spec.roles]},
        )
    for spec in QUEUES:
        if spec.escalates_to:
            queue = queue_model.objects.get(code=spec.code)
            if queue.escalation_target_id is None:
                queue.escalation_target = queue_model.objects.get(code=spec.escalates_to)
                queue.save(update_fields=["escalation_target"])
