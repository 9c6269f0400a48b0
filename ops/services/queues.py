from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.actions import AuditAction
from audit.services import audit_configure
from ops import errors
from ops.errors import OpsError
from ops.models import Queue

CONFIGURABLE = ("name", "sla_minutes", "roles", "escalation_target", "lead")


@transaction.atomic  # composed: the Django admin wraps its change view in a transaction
def queue_configure(*, queue_id: int, changes: dict[str, Any], reason: str) -> Queue:
    """An administrator tunes a queue (SLA, roles, escalation target, lead). Audited."""
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    unknown = set(changes) - set(CONFIGURABLE)
    if unknown:
        raise OpsError(f"These queue settings cannot be changed: {', '.join(sorted(unknown))}.")
    queue = Queue.objects.select_for_update().get(pk=queue_id)
    audit_configure(queue, changes=changes, reason=reason, action=AuditAction.QUEUE_CONFIGURED, show=_plain)
    return queue


def _plain(value: Any) -> Any:
    return getattr(value, "pk", value)
