from django.db import models


class AuditAction(models.TextChoices):
    """Every kind of recorded change. New capabilities add members here, never free strings."""

    # staff access
    STAFF_LOGIN = "staff.login", "Staff login"
    STAFF_LOGIN_FAILED = "staff.login_failed", "Staff login failed"
    STAFF_LOGOUT = "staff.logout", "Staff logout"
    STAFF_USER_CREATED = "staff.user_created", "Staff user created"
    STAFF_USER_DEACTIVATED = "staff.user_deactivated", "Staff user deactivated"
    STAFF_ROLE_GRANTED = "staff.role_granted", "Staff role granted"
    STAFF_ROLE_REVOKED = "staff.role_revoked", "Staff role revoked"
    STAFF_OBJECT_PERMISSION_GRANTED = "staff.object_permission_granted", "Object permission granted"
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
    CLIENT_NOTIFIED = "client.notified", "Client notified"
    # the audit trail itself
    AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
    # demo and benchmark data (only ever written in demo mode or in the benchmark's own database)
    DEMO_DATA_LOADED = "demo.data_loaded", "Demo data loaded"
    BENCHMARK_WRITE = "bench.write", "Benchmark write"
