MISSING_ACTOR = "No acting actor: every recorded change needs a staff user, partner, system job or automation."
OUTSIDE_TRANSACTION = "Audit events are written inside the transaction of the change they record."
UNKNOWN_ACTION = "Unknown audit action: {action!r}."
EXPORT_TOO_LARGE = "The export has more than {limit} events; narrow the filters."
BAD_FILTER_DATE = "Enter a date as YYYY-MM-DD."
VIEW_NOT_ALLOWED = "Only auditors and administrators read the audit trail."
EXPORT_NOT_ALLOWED = "Only auditors and administrators export the audit trail."
SECURITY_LOG_NOT_ALLOWED = "Only administrators, compliance and auditors read the security log."


EVIDENCE_NOT_ALLOWED = "Your role may not export evidence packs."


class AuditError(Exception):
    """A change could not be recorded; the change itself must not happen either."""
