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
    # the audit trail itself
    AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
    # demo and benchmark data (only ever written in demo mode or in the benchmark's own database)
    DEMO_DATA_LOADED = "demo.data_loaded", "Demo data loaded"
    BENCHMARK_WRITE = "bench.write", "Benchmark write"
