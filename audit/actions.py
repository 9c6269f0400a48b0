from django.db import models


class AuditAction(models.TextChoices):
    """Every kind of recorded change. New capabilities add members here, never free strings."""

    # staff access
    STAFF_LOGIN = "staff.login", "Staff login"
    STAFF_LOGIN_FAILED = "staff.login_failed", "Staff login failed"
    STAFF_LOGOUT = "staff.logout", "Staff logout"
    STAFF_LOCKED_OUT = "staff.locked_out", "Staff sign-in locked out"
    STAFF_LOCKOUT_CLEARED = "staff.lockout_cleared", "Staff sign-in unlocked"
    STAFF_SECOND_FACTOR_ENROLLED = "staff.second_factor_enrolled", "Second factor enrolled"
    STAFF_SECOND_FACTOR_VERIFIED = "staff.second_factor_verified", "Second factor verified"
    STAFF_RECOVERY_CODE_USED = "staff.recovery_code_used", "Recovery code used"
    STAFF_SECOND_FACTOR_RESET = "staff.second_factor_reset", "Second factor reset"
    STAFF_USER_CREATED = "staff.user_created", "Staff user created"
    STAFF_USER_DEACTIVATED = "staff.user_deactivated", "Staff user deactivated"
    STAFF_ROLE_GRANTED = "staff.role_granted", "Staff role granted"
    STAFF_ROLE_REVOKED = "staff.role_revoked", "Staff role revoked"
    STAFF_OBJECT_PERMISSION_GRANTED = "staff.object_permission_granted", "Object permission granted"
    ACCESS_REVIEW_OPENED = "staff.access_review_opened", "Access review opened"
    ACCESS_REVIEW_SIGNED_OFF = "staff.access_review_signed_off", "Access review signed off"
    # work queues
    WORK_ITEM_OPENED = "work_item.opened", "Work item opened"
    WORK_ITEM_CLAIMED = "work_item.claimed", "Work item claimed"
    WORK_ITEM_ASSIGNED = "work_item.assigned", "Work item assigned"
    WORK_ITEM_REASSIGNED = "work_item.reassigned", "Work item reassigned"
    WORK_ITEM_RELEASED = "work_item.released", "Work item released"
    WORK_ITEM_HELD = "work_item.held", "Work item waiting on client"
    WORK_ITEM_RESUMED = "work_item.resumed", "Work item resumed"
    WORK_ITEM_RESOLVED = "work_item.resolved", "Work item resolved"
    WORK_ITEM_ESCALATED = "work_item.escalated", "Work item escalated"
    WORK_ITEM_ROUTED = "work_item.routed", "Work item moved to another queue or re-prioritised"
    QUEUE_CONFIGURED = "queue.configured", "Queue configured"
    # maker-checker
    APPROVAL_SUBMITTED = "approval.submitted", "Approval requested"
    APPROVAL_DECIDED = "approval.decided", "Approval decision"
    APPROVAL_REJECTED = "approval.rejected", "Approval rejected"
    APPROVAL_CANCELLED = "approval.cancelled", "Approval cancelled"
    APPROVAL_EXPIRED = "approval.expired", "Approval expired"
    APPROVAL_EXECUTED = "approval.executed", "Approved action executed"
    APPROVAL_FAILED = "approval.failed", "Approved action failed"
    # clients and trading accounts
    CLIENT_REGISTERED = "client.registered", "Client registered"
    CLIENT_UPDATED = "client.updated", "Client details updated"
    CLIENT_SUBMITTED = "client.submitted", "Client submitted for review"
    CLIENT_DOCUMENTS_REQUESTED = "client.documents_requested", "Additional documents requested"
    CLIENT_RESUBMITTED = "client.resubmitted", "Client back in review"
    CLIENT_APPROVED = "client.approved", "Client approved"
    CLIENT_RESTRICTED = "client.restricted", "Client restricted"
    CLIENT_UNFROZEN = "client.unfrozen", "Client restriction lifted"
    CLIENT_CLOSED = "client.closed", "Client closed"
    CLIENT_PSEUDONYMISED = "client.pseudonymised", "Client's personal data pseudonymised (retention period over)"
    CLIENT_LINKED = "client.linked", "Clients linked"
    CLIENT_PARTY_ADDED = "client.party_added", "Related party added"
    TRADING_ACCOUNT_REQUESTED = "trading_account.requested", "Trading account requested"
    TRADING_ACCOUNT_PROVISIONED = "trading_account.provisioned", "Trading account provisioned"
    TRADING_ACCOUNT_PROVISION_FAILED = "trading_account.provision_failed", "Trading account provisioning failed"
    TRADING_ACCOUNT_PUSHED = "trading_account.pushed", "Trading account pushed to platform"
    TRADING_ACCOUNT_LEVERAGE_CHANGED = "trading_account.leverage_changed", "Leverage changed"
    ACCOUNT_TYPE_CONFIGURED = "account_type.configured", "Account type configured"
    # KYC
    KYC_DOCUMENT_UPLOADED = "kyc.document_uploaded", "KYC document uploaded"
    KYC_DOCUMENT_ACCEPTED = "kyc.document_accepted", "KYC document accepted"
    KYC_DOCUMENT_REJECTED = "kyc.document_rejected", "KYC document rejected"
    KYC_DOCUMENT_VIEWED = "kyc.document_viewed", "KYC document viewed"
    KYC_RISK_ASSESSED = "kyc.risk_assessed", "Risk assessed"
    KYC_RISK_FACTOR_CONFIGURED = "kyc.risk_factor_configured", "Risk factor configured"
    KYC_DOCUMENT_EXPIRED = "kyc.document_expired", "KYC document expired"
    KYC_IDENTITY_CHECK_REQUESTED = "kyc.identity_check_requested", "Identity check requested"
    KYC_IDENTITY_CHECK_SUBMITTED = "kyc.identity_check_submitted", "Identity check sent to the provider"
    KYC_IDENTITY_CHECK_COMPLETED = "kyc.identity_check_completed", "Identity check result received"
    KYC_IDENTITY_CHECK_PROVIDER_FAILED = "kyc.identity_check_provider_failed", "Identity check: provider unavailable"
    SANCTIONS_LIST_IMPORTED = "kyc.sanctions_list_imported", "Sanctions/PEP list imported"
    SCREENING_HIT_RAISED = "kyc.screening_hit_raised", "Screening hit raised"
    SCREENING_HIT_DECIDED = "kyc.screening_hit_decided", "Screening hit decided"
    CLIENT_NOTIFIED = "client.notified", "Client notified"
    CLIENT_REPLIED = "client.replied", "Client replied"
    # follow-up sequences (ops.services.followups)
    FOLLOWUP_ENROLLED = "followup.enrolled", "Client enrolled in a follow-up sequence"
    FOLLOWUP_STEP_RUN = "followup.step_run", "Follow-up step run"
    FOLLOWUP_COMPLETED = "followup.completed", "Follow-up handed to a person"
    FOLLOWUP_STOPPED = "followup.stopped", "Follow-up stopped"
    # money
    DEPOSIT_INITIATED = "payments.deposit_initiated", "Deposit initiated"
    DEPOSIT_CREDITED = "payments.deposit_credited", "Deposit credited"
    DEPOSIT_FAILED = "payments.deposit_failed", "Deposit failed"
    DEPOSIT_HELD = "payments.deposit_held", "Deposit held for review"
    DEPOSIT_REFUNDED = "payments.deposit_refunded", "Deposit returned"
    DEPOSIT_REFUND_SENT = "payments.deposit_refund_sent", "Deposit refund sent to the PSP"
    CHARGEBACK_OPENED = "payments.chargeback_opened", "Chargeback opened"
    CHARGEBACK_RESPONDED = "payments.chargeback_responded", "Chargeback response submitted"
    CHARGEBACK_RESPONSE_SENT = "payments.chargeback_response_sent", "Chargeback response sent to the PSP"
    CHARGEBACK_WON = "payments.chargeback_won", "Chargeback won"
    CHARGEBACK_LOST = "payments.chargeback_lost", "Chargeback lost"
    STATEMENT_IMPORTED = "payments.statement_imported", "Bank statement imported"
    STATEMENT_LINE_MATCHED = "payments.statement_line_matched", "Statement line matched"
    STATEMENT_LINE_SUSPENSE = "payments.statement_line_suspense", "Statement line put in suspense"
    WITHDRAWAL_REQUESTED = "payments.withdrawal_requested", "Withdrawal requested"
    WITHDRAWAL_APPROVED = "payments.withdrawal_approved", "Withdrawal approved"
    WITHDRAWAL_REJECTED = "payments.withdrawal_rejected", "Withdrawal rejected"
    WITHDRAWAL_PAYOUT_SENT = "payments.withdrawal_payout_sent", "Withdrawal payout executed"
    WITHDRAWAL_PAID = "payments.withdrawal_paid", "Withdrawal paid"
    WITHDRAWAL_FAILED = "payments.withdrawal_failed", "Withdrawal payout failed"
    TRANSFER_POSTED = "payments.transfer_posted", "Internal transfer"
    ADJUSTMENT_POSTED = "payments.adjustment_posted", "Balance correction posted"
    WITHDRAWAL_POLICY_CHANGED = "payments.policy_changed", "Withdrawal policy changed"
    SETTLEMENT_IMPORTED = "payments.settlement_imported", "PSP settlement report imported"
    RECONCILIATION_BREAK = "payments.reconciliation_break", "Reconciliation break found"
    RECONCILIATION_RESOLVED = "payments.reconciliation_resolved", "Reconciliation break resolved"
    DEPOSIT_CHECKOUT_OPENED = "payments.deposit_checkout_opened", "Card deposit checkout opened at the PSP"
    DEPOSIT_BANK_INSTRUCTIONS = "payments.deposit_bank_instructions", "Bank deposit instructions given"
    ROUTING_RULE_ADDED = "payments.routing_rule_added", "PSP routing rule added"
    ROUTING_RULE_CHANGED = "payments.routing_rule_changed", "PSP routing rule changed"
    # introducing brokers
    PARTNER_CREATED = "partner.created", "Partner created"
    ATTRIBUTION_OPENED = "attribution.opened", "Client attributed to a partner"
    ATTRIBUTION_CLOSED = "attribution.closed", "Client's partner attribution ended"
    COMMISSIONS_POSTED = "commission.posted", "Partner commissions posted to the ledger"
    COMMISSIONS_RELEASED = "commission.released", "Partner commissions released (hold period over)"
    COMMISSION_PAID_OUT = "commission.paid_out", "Partner commissions paid out to the partner's wallet"
    COMMISSION_ADJUSTED = "commission.adjusted", "Partner commission adjusted (approved)"
    COMMISSION_CLAWED_BACK = "commission.clawed_back", "Partner commission clawed back (deposit reversed)"
    COMMISSION_RESTORED = "commission.restored", "Partner commission restored (chargeback won)"
    DISPUTE_RAISED = "ib_dispute.raised", "Commission dispute raised"
    DISPUTE_ADJUSTMENT_PROPOSED = "ib_dispute.adjustment_proposed", "Commission dispute: adjustment proposed"
    DISPUTE_REOPENED = "ib_dispute.reopened", "Commission dispute reopened (adjustment not approved)"
    DISPUTE_RESOLVED = "ib_dispute.resolved", "Commission dispute resolved"
    DEAL_BATCH_RECEIVED = "deal_batch.received", "Deal batch received (trade feed)"
    DEAL_BATCH_PROCESSED = "deal_batch.processed", "Deal batch processed (trade feed)"
    FX_RATE_ADDED = "payments.fx_rate_added", "FX rate added"
    PLAN_CREATED = "plan.created", "Commission plan created (no version yet)"
    PLAN_VERSION_ADDED = "plan.version_added", "Commission plan version added (approved)"
    PLAN_VERSION_ENDED = "plan.version_ended", "Commission plan version ended by the next one"
    PARTNER_PLAN_ASSIGNED = "partner.plan_assigned", "Partner follows a commission plan (approved)"
    PARTNER_PLAN_ENDED = "partner.plan_ended", "Partner's commission plan ended"
    PARTNER_MOVED = "partner.moved", "Partner moved in the hierarchy (approved)"
    COMMISSION_RUN_STARTED = "commission.run_started", "Commission run started"
    COMMISSION_RUN_FINISHED = "commission.run_finished", "Commission run finished"
    STATEMENT_ISSUED = "commission.statement_issued", "Commission statement issued"
    # outbound webhooks
    WEBHOOK_ENDPOINT_CREATED = "webhook.endpoint_created", "Webhook endpoint created"
    WEBHOOK_ENDPOINT_CHANGED = "webhook.endpoint_changed", "Webhook endpoint changed"
    WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled", "Webhook endpoint disabled"
    WEBHOOK_ENDPOINT_ENABLED = "webhook.endpoint_enabled", "Webhook endpoint enabled"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook signing secret rotated"
    WEBHOOK_DELIVERY_REPLAYED = "webhook.delivery_replayed", "Webhook delivery replayed"
    WEBHOOK_DELIVERY_GIVEN_UP = "webhook.delivery_given_up", "Webhook delivery given up after its retries"
    # CRM sync (accounts.services.crm*)
    CRM_CONTACT_SYNCED = "crm.contact_synced", "CRM sales stage and tags synchronised"
    CRM_COMMUNICATION_RECORDED = "crm.communication_recorded", "CRM communication record logged"
    CRM_PUSH_FAILED = "crm.push_failed", "Push to the CRM failed"
    CRM_MISMATCH_FOUND = "crm.mismatch_found", "CRM disagrees with the back office"
    CRM_MISMATCH_CLEARED = "crm.mismatch_cleared", "CRM agrees with the back office again"
    # the audit trail itself
    AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
    EVIDENCE_PACK_EXPORTED = "audit.evidence_pack_exported", "Evidence pack exported"
    # reports (reporting): who exported which report with which filters; each scheduled snapshot's hash
    REPORT_EXPORTED = "report.exported", "Report exported"
    REPORT_SNAPSHOT = "report.snapshot", "Scheduled report snapshot generated"
    REPORT_SUBSCRIBED = "report.subscribed", "Subscribed to a scheduled report"
    REPORT_UNSUBSCRIBED = "report.unsubscribed", "Unsubscribed from a scheduled report"
    # demo and benchmark data (only ever written in demo mode or in the benchmark's own database)
    DEMO_DATA_LOADED = "demo.data_loaded", "Demo data loaded"
    BENCHMARK_WRITE = "bench.write", "Benchmark write"
    # API keys (ops.api_keys)
    API_KEY_REQUESTED = "api_key.requested", "API key requested"
    API_KEY_ACTIVATED = "api_key.activated", "API key activated (approved)"
    API_KEY_REFUSED = "api_key.refused", "API key not approved"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    API_KEY_ROTATED = "api_key.rotated", "API key rotated"
    API_KEY_SCOPES_NARROWED = "api_key.scopes_narrowed", "API key scopes narrowed"
    API_KEY_SCOPES_WIDENED = "api_key.scopes_widened", "API key scopes widened (approved)"
    # risk and monitoring (risk)
    RISK_RULE_CREATED = "risk_rule.created", "Monitoring rule created (no version yet)"
    RISK_RULE_VERSION_ADDED = "risk_rule.version_added", "Monitoring rule version added (approved)"
    RISK_RULE_VERSION_ENDED = "risk_rule.version_ended", "Monitoring rule version ended by the next one"
    RISK_ALERT_RAISED = "risk_alert.raised", "Risk alert raised"
    RISK_ALERT_DISPOSED = "risk_alert.disposed", "Risk alert decided (true match, false positive or escalated)"
    EXPOSURE_LIMIT_SET = "exposure_limit.set", "Exposure limit set"
    SAR_DRAFTED = "sar.drafted", "Suspicious activity report drafted (prefilled from its case)"
    SAR_EDITED = "sar.edited", "Suspicious activity report draft edited"
    SAR_SUBMITTED = "sar.submitted", "Suspicious activity report submitted for a second compliance officer"
    SAR_REOPENED = "sar.reopened", "Suspicious activity report back to draft (approval not given)"
    SAR_APPROVED = "sar.approved", "Suspicious activity report approved (its content hash fixed)"
    SAR_EXPORTED = "sar.exported", "Suspicious activity report file downloaded"
    SAR_FILED = "sar.filed", "Suspicious activity report recorded as filed with the regulator"
    TRADING_ACCOUNT_BOOK_CHANGED = "trading_account.book_changed", "Trading account moved between books (approved)"
    TRADING_ACCOUNT_GROUP_CHANGED = (
        "trading_account.group_changed",
        "Trading account moved to another platform group (approved)",
    )
    # agents (agents): registered automations and AI models that read and propose through the MCP door
    AGENT_REGISTERED = "agent.registered", "Agent registered"
    AGENT_CHANGED = "agent.changed", "Agent changed"
    AGENT_STOPPED = "agent.stopped", "Agent stopped"
    AGENT_STARTED = "agent.started", "Agent started"
    AGENT_TOKEN_ROTATED = "agent.token_rotated", "Agent token rotated"
    AGENTS_STOPPED = "agent.all_stopped", "All agents stopped"
    AGENTS_STARTED = "agent.all_started", "All agents started again"
    AGENT_CALL = "agent.call", "Agent call"
    AGENT_CALL_REFUSED = "agent.call_refused", "Agent call refused"
    AGENT_RUBBER_STAMPING = "agent.rubber_stamping", "Agent proposals accepted without scrutiny (alert)"
    KYC_RISK_LEVEL_SET = "kyc.risk_level_set", "Client risk level set (approved proposal)"


# What the permissions report reads from the trail: administrator operations (by prefix), sensitive
# modifications (with their before and after) and role changes. ``audit.models`` keeps a partial
# index over exactly these, so the far more frequent other events do not pay for it on insert.
ADMIN_PREFIXES = ("staff.", "queue.", "account_type.", "api_key.", "webhook.", "kyc.risk_factor_configured",
                  "payments.policy_changed", "payments.routing_rule", "audit.exported", "report.")  # fmt: skip
SENSITIVE_ACTIONS = (
    AuditAction.CLIENT_UPDATED, AuditAction.TRADING_ACCOUNT_LEVERAGE_CHANGED, AuditAction.WITHDRAWAL_POLICY_CHANGED,
    AuditAction.ROUTING_RULE_CHANGED, AuditAction.KYC_RISK_FACTOR_CONFIGURED, AuditAction.ACCOUNT_TYPE_CONFIGURED,
    AuditAction.QUEUE_CONFIGURED, AuditAction.STAFF_ROLE_GRANTED, AuditAction.STAFF_ROLE_REVOKED,
    AuditAction.ADJUSTMENT_POSTED, AuditAction.PARTNER_MOVED,
)  # fmt: skip
ROLE_ACTIONS = (
    AuditAction.STAFF_ROLE_GRANTED,
    AuditAction.STAFF_ROLE_REVOKED,
    AuditAction.STAFF_OBJECT_PERMISSION_GRANTED,
)


def admin_operations_q() -> models.Q:
    q = models.Q()
    for prefix in ADMIN_PREFIXES:
        q |= models.Q(action__startswith=prefix)
    return q


def oversight_q() -> models.Q:
    """Administrator operations, sensitive modifications and role changes, as one condition (the
    partial index's, which a query naming these same parts can use)."""
    return admin_operations_q() | models.Q(action__in=SENSITIVE_ACTIONS) | models.Q(action__in=ROLE_ACTIONS)
