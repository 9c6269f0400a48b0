"""The audit trail: append-only, hash-chained events.

Writers insert events with no hash, in parallel, inside the transaction of the change they record.
A sealer (``audit.services.audit_seal``, run by Celery beat every few seconds) then gives committed
events a chain position ``seq`` in id order and a SHA-256 hash over their content and the previous
hash. Postgres triggers make the table append-only: the only UPDATE allowed is that one-time seal,
and it may not touch the content.
"""

from __future__ import annotations

import pgtrigger
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from audit.actions import AuditAction
from audit.context import ActorKind

# Columns covered by the hash; the seal may not change any of them.
CONTENT_COLUMNS = (
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "subject_type",
    "subject_id",
    "before",
    "after",
    "reason",
    "request_id",
    "ip",
)
_old = ", ".join(f"OLD.{c}" for c in ("id", *CONTENT_COLUMNS))
_new = ", ".join(f"NEW.{c}" for c in ("id", *CONTENT_COLUMNS))

no_truncate = pgtrigger.Trigger(
    name="append_only_truncate",
    level=pgtrigger.Statement,
    when=pgtrigger.Before,
    operation=pgtrigger.Truncate,
    func="RAISE EXCEPTION 'append-only: cannot truncate table %', TG_TABLE_NAME;",
)


def append_only_triggers() -> list[pgtrigger.Trigger]:
    """Reject UPDATE, DELETE and TRUNCATE: for history tables and seal checkpoints."""
    return [
        pgtrigger.Protect(name="append_only_update", operation=pgtrigger.Update),
        pgtrigger.Protect(name="append_only_delete", operation=pgtrigger.Delete),
        no_truncate,
    ]


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=16, choices=[(k.value, k.name.title()) for k in ActorKind])
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # chain (set once by the sealer)
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL means "not sealed yet"
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["occurred_at"], name="audit_occurred_idx"),
            models.Index(fields=["subject_type", "subject_id"], name="audit_subject_idx"),
            models.Index(fields=["actor_label"], name="audit_actor_idx"),
            models.Index(fields=["action", "occurred_at"], name="audit_action_idx"),
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="audit_unsealed_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(actor_label="") & ~models.Q(actor_id=""),
                name="audit_actor_not_blank",
            ),
            models.CheckConstraint(
                condition=models.Q(actor_kind__in=[k.value for k in ActorKind]),
                name="audit_actor_kind_valid",
            ),
            models.CheckConstraint(
                condition=(models.Q(seq__isnull=True) & models.Q(hash__isnull=True))
                | (models.Q(seq__isnull=False) & models.Q(hash__isnull=False)),
                name="audit_seal_complete",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only_delete", operation=pgtrigger.Delete),
            no_truncate,
            # The one UPDATE allowed: sealing an unsealed row without touching its content.
            pgtrigger.Protect(
                name="seal_once_only",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    f"OLD.hash IS NOT NULL OR NEW.hash IS NULL OR ({_old}) IS DISTINCT FROM ({_new})"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.subject_type}:{self.subject_id} by {self.actor_label}"


class AuditSealBatch(models.Model):
    """A checkpoint per sealing run: the chain head after it. Lets verification notice a chain
    whose newest events were removed."""

    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField(unique=True)
    head_hash = models.CharField(max_length=64)
    event_count = models.IntegerField()
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seq"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"seal {self.first_seq}-{self.last_seq}"
