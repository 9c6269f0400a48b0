"""Request plumbing that must be shared by every process: the staff API's idempotency keys.
(No domain models live here: an idempotency key records an HTTP exchange, not a business fact.)"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` of one caller: claimed (a row inserted and committed in its own
    transaction) before the write runs, completed with the response that write gave. The unique
    (caller, key) constraint is what decides a race: Postgres lets exactly one insert win."""

    caller = models.CharField(max_length=100, help_text='Who sent it: "user:<id>" or "credential:<kind>:<id>".')
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    # SHA-256 of method, path and the canonical body; and of each top-level body field, so a reused
    # key with another body is answered naming the fields that differ (no values are kept here).
    request_hash = models.CharField(max_length=64)
    field_hashes = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    locked_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_headers = models.JSONField(default=dict)
    response_body = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="idempotency_key_unique_per_caller"),
            models.CheckConstraint(
                condition=models.Q(completed_at__isnull=True) | models.Q(response_status__isnull=False),
                name="idempotency_key_completed_has_response",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created_idx")]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"
