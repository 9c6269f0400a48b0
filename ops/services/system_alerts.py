"""The system watching itself: exceptions in its own machinery that need a person (an admin)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from audit.context import Actor, acting_as
from audit.models import AuditEvent
from audit.selectors import audit_seal_lag
from audit.services import audit_seal
from ops.models import OPEN_STATUSES, ResolutionCode, WorkItem
from ops.services.work_items import work_item_open, work_item_resolve_for_subject

QUEUE = "system_alert"


def audit_seal_watch(*, stall_seconds: int | None = None) -> WorkItem | None:
    """Seal what can be sealed, then look at what is still waiting. Opens a system alert when a
    committed audit event

    - is held back by a transaction (a session or a prepared transaction anywhere in the cluster)
      that has been open longer than ``AUDIT_SEAL_STALL_SECONDS``, naming it; or
    - could be sealed but sealing fails, and it has waited that long, with the error.

    One alert per waiting event; alerts whose event has since been sealed are resolved. Returns the
    open alert, if any."""
    limit = settings.AUDIT_SEAL_STALL_SECONDS if stall_seconds is None else stall_seconds
    with acting_as(Actor.system("audit-seal-watch")):
        try:
            audit_seal()
            seal_error = ""
        except Exception as exc:  # any failure: reporting it is the point
            seal_error = f"{type(exc).__name__}: {exc}"
        _resolve_caught_up()
        lag = audit_seal_lag()
        if lag is None:
            return None
        now = timezone.now()
        if lag.sealable:
            waited = (now - lag.event.occurred_at).total_seconds()
            title = f"Audit chain sealing fails: {seal_error or 'the event was not sealed'}"
        else:
            waited = (now - lag.blocker_since).total_seconds() if lag.blocker_since else 0.0
            title = f"Audit chain sealing held back {int(waited)} s by a transaction still open"
        if waited < limit:
            return None
        with transaction.atomic():
            return work_item_open(
                queue=QUEUE,
                subject=lag.event,
                title=title[:200],
                risk_level="high",
                details={
                    "waiting_event": lag.event.pk,
                    "waited_seconds": int(waited),
                    "sealing_error": seal_error,
                    "oldest_running_transaction": lag.blocker,
                    "what_to_do": "end the transaction named here (pg_cancel_backend / pg_terminate_backend,"
                    " or COMMIT/ROLLBACK PREPARED), or fix the sealing error; then `manage.py audit_seal`"
                    " and `manage.py audit_verify`",
                },
            )


def _resolve_caught_up() -> None:
    event_type = ContentType.objects.get_for_model(AuditEvent)
    subject_ids = WorkItem.objects.filter(
        queue__code=QUEUE, subject_type=event_type, status__in=OPEN_STATUSES
    ).values_list("subject_id", flat=True)
    for event in AuditEvent.objects.filter(pk__in=[int(i) for i in subject_ids], seal__isnull=False):
        work_item_resolve_for_subject(
            queue=QUEUE,
            subject=event,
            code=ResolutionCode.FIXED,
            note="The event has been sealed: the audit chain caught up.",
        )
