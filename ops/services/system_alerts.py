"""The system watching itself: exceptions in its own machinery that need a person (an admin)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from audit.context import Actor, acting_as
from audit.models import AuditEvent
from audit.selectors import audit_seal_lag
from ops.models import OPEN_STATUSES, ResolutionCode, WorkItem
from ops.services.work_items import work_item_open, work_item_resolve_for_subject

QUEUE = "system_alert"


def audit_seal_watch(*, stall_seconds: int | None = None) -> WorkItem | None:
    """Open a system alert when a committed audit event has waited longer than
    ``AUDIT_SEAL_STALL_SECONDS`` to be sealed (a transaction left open holds the sealer back, or
    the sealer is not running), naming the oldest running transaction. One alert per waiting event;
    alerts whose event has since been sealed are resolved. Returns the open alert, if any."""
    limit = settings.AUDIT_SEAL_STALL_SECONDS if stall_seconds is None else stall_seconds
    with acting_as(Actor.system("audit-seal-watch")):
        _resolve_caught_up()
        lag = audit_seal_lag()
        if lag is None or lag.waiting_seconds < limit:
            return None
        with transaction.atomic():
            return work_item_open(
                queue=QUEUE,
                subject=lag.event,
                title=f"Audit chain not sealed for {int(lag.waiting_seconds)} s (event #{lag.event.pk} waiting)",
                risk_level="high",
                details={
                    "waiting_event": lag.event.pk,
                    "waiting_seconds": int(lag.waiting_seconds),
                    "oldest_running_transaction": lag.blocker,
                    "what_to_do": "end or cancel the transaction named here (pg_cancel_backend), or start Celery"
                    " beat if it is not running; then `manage.py audit_seal` and `manage.py audit_verify`",
                },
            )


def _resolve_caught_up() -> None:
    event_type = ContentType.objects.get_for_model(AuditEvent)
    waiting = WorkItem.objects.filter(queue__code=QUEUE, subject_type=event_type, status__in=OPEN_STATUSES)
    for item in waiting:
        event = AuditEvent.objects.filter(pk=int(item.subject_id), seal__isnull=False).first()
        if event is not None:
            work_item_resolve_for_subject(
                queue=QUEUE,
                subject=event,
                code=ResolutionCode.FIXED,
                note="The event has been sealed: the audit chain caught up.",
            )
