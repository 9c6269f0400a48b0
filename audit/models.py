"""The audit trail: append-only, hash-chained events.

Writers insert an event (a plain INSERT) inside the transaction of the change they record, in
parallel; they never update anything. Each event carries the id of the
transaction that wrote it. A sealer (``audit.services.audit_seal``, run by Celery beat every few
seconds) takes the events of every transaction that has ended (ids below the oldest still running,
``pg_snapshot_xmin``) that have no seal yet, in id order, and appends, for each, an ``AuditSeal``
row: its chain position, the previous link's hash and a SHA-256 over the event's content and that
previous hash. An event whose transaction commits late simply gets a later chain position. Postgres triggers make events, seals and checkpoints append-only: UPDATE,
DELETE and TRUNCATE raise, from any connection that has not disabled the triggers.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit.actions import AuditAction, oversight_q
from audit.context import ActorKind

no_truncate = pgtrigger.Trigger(
    name="append_only_truncate",
    level=pgtrigger.Statement,
    when=pgtrigger.Before,
    operation=pgtrigger.Truncate,
    func="RAISE EXCEPTION 'append-only: cannot truncate table %', TG_TABLE_NAME;",
)


def append_only_triggers() -> list[pgtrigger.Trigger]:
    """Reject UPDATE, DELETE and TRUNCATE."""
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
    # Values of AuditAction; not a choices field, so adding an action needs no migration.
    action = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # The writing transaction's id (pg_current_xact_id(), set by the database): the sealer seals an
    # event once this transaction has ended. Not part of the hashed content.
    txid = models.BigIntegerField(db_default=RawSQL("(pg_current_xact_id()::text::bigint)", [], BigIntegerField()))

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Every audited transaction pays for each index here: keep them few. Time grows with
            # the id, so a BRIN index serves date ranges at almost no write cost; the action filter
            # rides on it. The sealer scans by transaction id: a btree (its newest pages are the
            # ones the sealer reads, which a BRIN index leaves unsummarized, i.e. scans whole).
            BrinIndex(fields=["occurred_at"], name="audit_occurred_brin"),
            models.Index(fields=["txid"], name="audit_txid_idx"),
            models.Index(fields=["subject_type", "subject_id"], name="audit_subject_idx"),
            models.Index(fields=["actor_label"], name="audit_actor_idx"),
            # a client's first approval (the funnel, time-to-KYC): read from the index alone; partial,
            # so it costs nothing on the other events' inserts
            models.Index(
                fields=["subject_id", "occurred_at"],
                name="audit_client_approved_idx",
                condition=models.Q(subject_type="accounts.client", action="client.approved"),
            ),
            # a period's closings (the accounts report), partial like the one above
            models.Index(
                fields=["occurred_at"],
                include=["subject_id"],
                name="audit_client_closed_idx",
                condition=models.Q(subject_type="accounts.client", action="client.closed"),
            ),
            # the permissions report: a period's administrator operations, sensitive modifications and
            # role changes counted from the index alone, and listed in time order without a sort
            models.Index(
                fields=["occurred_at", "id"],
                include=["action", "actor_label"],
                name="audit_oversight_idx",
                condition=oversight_q(),
            ),
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
        ]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.subject_type}:{self.subject_id} by {self.actor_label}"

    @property
    def action_label(self) -> str:
        try:
            return str(AuditAction(self.action).label)
        except ValueError:
            return self.action


class AuditSeal(models.Model):
    """An event's link in the chain."""

    # No foreign key constraint: both tables are append-only, and audit_verify (which joins them)
    # is what proves every link; the writer and sealer paths stay free of constraint checks.
    event = models.OneToOneField(
        AuditEvent, primary_key=True, on_delete=models.DO_NOTHING, related_name="seal", db_constraint=False
    )
    seq = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"seal #{self.seq} of event {self.event_id}"


class AuditSealBatch(models.Model):
    """A checkpoint per sealing run: the chain head after it. Lets verification notice a chain
    whose newest events were removed."""

    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField(unique=True)
    head_hash = models.CharField(max_length=64)
    event_count = models.IntegerField()
    # Every event of a transaction whose id is below this was sealed by this batch or before it
    # (the sealer's horizon when it left nothing behind). Verification calls an unsealed event
    # below it an orphan; the next sealer starts its scan here.
    horizon = models.BigIntegerField(default=0)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seq"]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"seal {self.first_seq}-{self.last_seq}"


class SecurityEventKind(models.TextChoices):
    """What the security log records: refused requests, failed sign-ins, forged callbacks, and the
    alerts raised from them."""

    REFUSED = "refused", "Refused (403)"
    UNAUTHENTICATED = "unauthenticated", "Not authenticated (401)"
    NOT_FOUND = "not_found", "Not found in scope (404)"
    RATE_LIMITED = "rate_limited", "Rate limited (429)"
    LOGIN_FAILED = "login_failed", "Failed sign-in"
    OTP_FAILED = "otp_failed", "Failed second factor"
    WEBHOOK_REJECTED = "webhook_rejected", "Forged or invalid webhook"
    ALERT_REFUSALS = "alert_refusals", "Alert: repeated refusals"
    ALERT_SPRAYING = "alert_spraying", "Alert: password spraying"


ALERT_KINDS = (SecurityEventKind.ALERT_REFUSALS, SecurityEventKind.ALERT_SPRAYING)


class SecurityEvent(models.Model):
    """One line of the security log: a sensitive request refused, a failed sign-in or second
    factor, a webhook whose signature did not hold, or an alert raised from them. Written by the
    request's edge after the response (``backoffice.middleware.SecurityLogMiddleware``), outside
    the transaction of the refused request, in one INSERT; append-only like the audit trail (not
    hash-chained: it records what was refused, not changes to regulated objects)."""

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=32, choices=SecurityEventKind.choices)
    # No database constraint: the log outlives the row it names, and is never cascaded.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # The signed-in user's name, or the one tried at a failed sign-in.
    username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            BrinIndex(fields=["occurred_at"], name="security_occurred_brin"),
            models.Index(fields=["ip", "occurred_at"], name="security_ip_idx"),
            models.Index(fields=["username"], name="security_username_idx"),
        ]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        who = self.username or (self.ip or "unknown caller")
        return f"{self.get_kind_display()} — {who}"

    def get_absolute_url(self) -> str:
        """The security log, filtered to this event's caller (a signed-in user, else the address)."""
        if self.actor_id and self.username:
            query = {"user": self.username}
        elif self.ip:
            query = {"ip": self.ip}
        else:
            query = {"kind": SecurityEventKind.LOGIN_FAILED.value if self.kind in ALERT_KINDS else self.kind}
        return f"{reverse('security-log')}?{urlencode(query)}"
