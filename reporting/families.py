"""The report families of the catalogue: each one's title, what it covers, the permission that
opens it, which filters of the bar apply and which staff member the "staff" filter means."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    code: str
    title: str
    description: str
    permission: str
    filters: tuple[str, ...]
    staff_label: str


_CLIENT = ("date_from", "date_to", "account_type", "country", "region", "staff")

FAMILIES: dict[str, Family] = {
    f.code: f
    for f in (
        Family(
            "accounts", "Accounts",
            "New registrations, approval rate, pending additional documents, closed accounts; the funnel "
            "registered → approved → first deposit → first trade, with first-time deposits.",
            "ops.view_reports_accounts", (*_CLIENT, "partner"), "Account manager",
        ),
        Family(
            "payments", "Payments",
            "Deposit success rate by channel, average and 90th-percentile withdrawal processing time, failed "
            "payments with their codes, refunds and chargebacks, net deposits.",
            "ops.view_reports_payments", (*_CLIENT, "channel", "currency", "partner"), "Account manager",
        ),
        Family(
            "compliance", "Compliance",
            "Document expiry ratio, high-risk clients, EDD cases, screening hits and their dispositions, "
            "time to KYC, rejection reasons.",
            "ops.view_reports_compliance", _CLIENT, "Reviewer",
        ),
        Family(
            "permissions", "Permissions",
            "Administrator operations, sensitive modifications (before and after), abnormal sign-ins and "
            "role changes, from the audit trail and the security log.",
            "ops.view_reports_permissions", ("date_from", "date_to", "staff"), "Staff member who acted",
        ),
        Family(
            "partners", "Partners",
            "Client attribution per introducing broker, commissions by period and level, the hierarchy, "
            "disputes (volume, age, outcomes).",
            "ops.view_reports_partners", (*_CLIENT, "currency", "partner"), "Account manager",
        ),
        Family(
            "operations", "Operations",
            "Queue backlog and ageing, SLA breaches, items resolved per staff member.",
            "ops.view_reports_operations", ("date_from", "date_to", "staff"), "Owner or resolver",
        ),
        Family(
            "balances", "Balances",
            "Every trading account's platform balance beside the ledger's, the difference and its open "
            "reconciliation item; the daily client-money report (owed to clients against safeguarded bank "
            "and PSP balances) with unmatched items aged.",
            "ops.view_reports_balances", ("date_to", "account_type", "country", "region", "staff", "currency"),
            "Account manager",
        ),
    )
}  # fmt: skip
