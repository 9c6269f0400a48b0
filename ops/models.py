from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from audit.history import AuditedHistoricalRecords
from audit.models import append_only_triggers
from ops.roles import PERMISSIONS, Role


class User(AbstractUser):
    """A staff member (partners get their own model with the partner API)."""

    lead = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="team", help_text="Team lead."
    )
    history = AuditedHistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["username"]

    @property
    def roles(self) -> list[Role]:
        """The role groups the user is in: for display and role administration only. What the user
        may do is read from permissions (``ops.selectors.user_holds_role`` and the can-functions)."""
        names = {g.name for g in self.groups.all()}
        return [r for r in Role if r.value in names]


class Capability(models.Model):
    """Holds the role permissions declared in :mod:`ops.roles` (no table)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(PERMISSIONS.items())

    def __str__(self) -> str:
        return "capability"


# --- work queues ------------------------------------------------------------------------------


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Queue(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    sla_minutes = models.PositiveIntegerField(help_text="Time allowed from opening to resolution.")
    roles = ArrayField(models.CharField(max_length=20, choices=Role.choices), help_text="Roles that work it.")
    escalation_target = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="escalated_from"
    )
    lead = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_queues",
        help_text="Notified on escalations.",
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(sla_minutes__gt=0), name="queue_sla_positive")]

    def __str__(self) -> str:
        return self.name


class WorkItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_ON_CLIENT = "waiting_on_client", "Waiting on client"
    RESOLVED = "resolved", "Resolved"


class ResolutionCode(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    FIXED = "fixed", "Fixed / corrected"
    FALSE_POSITIVE = "false_positive", "False positive"
    TRUE_MATCH = "true_match", "True match, actioned"
    DUPLICATE = "duplicate", "Duplicate"
    NO_ACTION = "no_action", "No action needed"
    CLIENT_UNRESPONSIVE = "client_unresponsive", "Client unresponsive"
    REFERRED = "referred", "Referred elsewhere"


OPEN_STATUSES = (WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS, WorkItemStatus.WAITING_ON_CLIENT)


class WorkItem(ConcurrentTransitionMixin, models.Model):
    """One exception that needs a person. Transitions are made by ``ops.services.work_items``."""

    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="items")
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    subject = GenericForeignKey("subject_type", "subject_id")
    title = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.LOW)
    amount_at_stake = models.DecimalField(
        max_digits=20, decimal_places=2, default=Decimal("0"), help_text="In the reporting currency."
    )
    status = FSMField(max_length=20, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN, protected=True)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="work_items")
    # SLA: due_at is NULL while the clock is paused (waiting on the client); the remaining time is kept.
    due_at = models.DateTimeField(null=True, blank=True)
    sla_paused_remaining = models.DurationField(null=True, blank=True)
    # The sort key: the due time brought forward by the item's risk and money at stake (see priority.py).
    urgency_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    resolution_code = models.CharField(max_length=30, choices=ResolutionCode.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = [models.F("urgency_at").asc(nulls_last=True), "id"]
        indexes = [
            # Also carries the columns the queue page filters on, so the page's item count is an
            # index-only scan whatever the filters (owner, overdue, status), not a heap visit per item.
            models.Index(
                models.F("queue"),
                models.F("urgency_at").asc(nulls_last=True),
                models.F("id"),
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                include=["owner", "due_at", "status"],
                name="workitem_queue_urgency_idx",
            ),
            # The queue page walks one of these in order and stops after a page (any queue mix).
            models.Index(
                models.F("urgency_at").asc(nulls_last=True),
                models.F("id"),
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="workitem_open_urgency_idx",
            ),
            models.Index(
                models.F("due_at").asc(nulls_last=True),
                models.F("id"),
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="workitem_open_due_idx",
            ),
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="workitem_open_created_idx",
            ),
            models.Index(fields=["owner", "status"], name="workitem_owner_idx"),
            # the items opened in a period (the operations report), in the order it lists them
            models.Index(fields=["created_at", "id"], name="workitem_created_idx"),
            models.Index(fields=["subject_type", "subject_id"], name="workitem_subject_idx"),
            models.Index(
                fields=["due_at"], condition=models.Q(status__in=["open", "in_progress"]), name="workitem_due_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "subject_type", "subject_id"],
                condition=~models.Q(status="resolved"),
                name="workitem_one_open_per_subject_and_queue",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="resolved") | ~models.Q(resolution_code=""),
                name="workitem_resolved_has_code",
            ),
            models.CheckConstraint(condition=models.Q(amount_at_stake__gte=0), name="workitem_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("work-item", args=[self.pk])

    # Transitions: conditions and side effects live in the services; these only move the status.
    @transition(
        field=status, source=[WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS], target=WorkItemStatus.IN_PROGRESS
    )
    def start(self) -> None:
        pass

    @transition(
        field=status, source=[WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS], target=WorkItemStatus.WAITING_ON_CLIENT
    )
    def hold(self) -> None:
        pass

    @transition(field=status, source=WorkItemStatus.WAITING_ON_CLIENT, target=WorkItemStatus.IN_PROGRESS)
    def resume(self) -> None:
        pass

    @transition(
        field=status,
        source=[WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS, WorkItemStatus.WAITING_ON_CLIENT],
        target=WorkItemStatus.RESOLVED,
    )
    def resolve(self) -> None:
        pass

    @transition(
        field=status,
        source=[WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS],
        target=RETURN_VALUE(WorkItemStatus.OPEN, WorkItemStatus.IN_PROGRESS),
    )
    def requeue(self, *, owned: bool) -> str:
        return WorkItemStatus.IN_PROGRESS if owned else WorkItemStatus.OPEN


class StaffNotification(models.Model):
    """An in-app notice for a staff member (escalations, approvals waiting)."""

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.title


class JobHeartbeat(models.Model):
    """When the scheduled-job pipeline (Celery beat, the broker, a worker) last ran its heartbeat
    task. Telemetry overwritten every minute, not a business fact: it keeps no history."""

    name = models.CharField(max_length=40, primary_key=True)
    last_seen_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} seen {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


# --- maker-checker ----------------------------------------------------------------------------


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"


_APPROVAL_FIXED = (
    "action",
    "subject_type_id",
    "subject_id",
    "payload",
    "payload_hash",
    "maker_id",
    "maker_label",
    "required_roles",
)


class ApprovalRequest(ConcurrentTransitionMixin, models.Model):
    """A sensitive action waiting for a second (and third...) person. What was asked — the action,
    its subject, the payload and its hash, the maker and the levels — cannot change once made.

    The maker is a staff member, or — for actions that allow it — someone outside the staff (a
    client asking for a withdrawal, an automation): then ``maker`` is empty and ``maker_label``
    names them as the audit trail does. No staff member is that maker, so any may check."""

    action = models.CharField(max_length=64)
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    subject = GenericForeignKey("subject_type", "subject_id")
    summary = models.CharField(max_length=300)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    payload_hash = models.CharField(max_length=64)
    maker = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="approvals_made")
    maker_label = models.CharField(max_length=150, help_text="Who asked, as the audit trail names them.")
    reason = models.TextField()
    required_roles = ArrayField(models.CharField(max_length=20, choices=Role.choices))
    status = FSMField(max_length=20, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    failure_reason = models.TextField(blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="approval_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "subject_type", "subject_id"],
                condition=models.Q(status="pending"),
                name="approval_one_pending_per_subject_and_action",
            ),
            models.CheckConstraint(condition=models.Q(required_roles__len__gte=1), name="approval_has_levels"),
            models.CheckConstraint(condition=~models.Q(maker_label=""), name="approval_maker_named"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="approval_request_is_fixed",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _APPROVAL_FIXED)
                ),
            ),
            pgtrigger.Protect(name="approval_request_no_delete", operation=pgtrigger.Delete),
            # Segregation of duties: nobody asks for something for themselves (a role grant).
            pgtrigger.Trigger(
                name="approval_maker_is_not_subject",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                func=(
                    "IF NEW.maker_id IS NOT NULL AND NEW.subject_id = NEW.maker_id::text AND NEW.subject_type_id = "
                    "(SELECT id FROM django_content_type WHERE app_label = 'ops' AND model = 'user') THEN "
                    "RAISE EXCEPTION 'maker-checker: staff user % cannot be the subject of their own request', "
                    "NEW.maker_id USING ERRCODE = 'check_violation'; END IF; RETURN NEW;"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.summary}"

    def get_absolute_url(self) -> str:
        return reverse("approval", args=[self.pk])

    @property
    def maker_name(self) -> str:
        return self.maker.get_username() if self.maker is not None else self.maker_label

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.EXPIRED)
    def expire(self) -> None:
        pass

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.EXECUTED)
    def mark_executed(self) -> None:
        pass

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.FAILED)
    def mark_failed(self) -> None:
        pass

    @transition(field=status, source=ApprovalStatus.PENDING, target=ApprovalStatus.APPROVED)
    def mark_approved(self) -> None:
        """For handlers that execute later, after commit (e.g. payouts)."""


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class ApprovalDecision(models.Model):
    """One checker's decision. The database refuses a decision by the maker, a second decision by
    the same checker on one request, and any change to a decision once made."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="decisions")
    level = models.PositiveSmallIntegerField()
    checker = models.ForeignKey(User, on_delete=models.PROTECT, related_name="approval_decisions")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.TextField()
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["request", "level"]
        constraints = [
            models.UniqueConstraint(fields=["request", "checker"], name="approval_checker_decides_once"),
            models.UniqueConstraint(fields=["request", "level"], name="approval_one_decision_per_level"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="approval_decision_has_reason"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="approval_checker_is_not_maker",
                operation=pgtrigger.Insert | pgtrigger.Update,
                when=pgtrigger.Before,
                func=(
                    "IF NEW.checker_id = (SELECT maker_id FROM ops_approvalrequest WHERE id = NEW.request_id) THEN "
                    "RAISE EXCEPTION 'maker-checker: the maker of approval request % cannot decide it', NEW.request_id "
                    "USING ERRCODE = 'check_violation'; END IF; RETURN NEW;"
                ),
            ),
            *append_only_triggers(),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.checker_id} on #{self.request_id}"


# --- customer notifications and the interaction log -------------------------------------------


class InteractionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    RECEIVED = "received", "Received from the client"
    RECORDED = "recorded", "Recorded (from another system)"


class InteractionChannel(models.TextChoices):
    """How a message travels: the channels the back office sends on (``ops.services.channels``),
    and the records other systems or staff hold."""

    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    IN_APP = "in_app", "In-app"
    NOTE = "note", "Staff note"
    CRM = "crm", "CRM record"


# The channels a template may be sent on (the others are records, not sends).
SEND_CHANNELS = (InteractionChannel.EMAIL, InteractionChannel.SMS, InteractionChannel.IN_APP)


class Interaction(models.Model):
    """Every message to or from a client: what was sent, from which template, when, by whom."""

    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    subject = GenericForeignKey("subject_type", "subject_id")
    channel = models.CharField(max_length=10, choices=InteractionChannel.choices, default=InteractionChannel.EMAIL)
    recipient = models.CharField(max_length=254, blank=True)
    template = models.CharField(max_length=60, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=InteractionStatus.choices, default=InteractionStatus.QUEUED)
    actor_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The delivery result a provider reported (an SMS delivery receipt), and the provider's id of
    # the message, by which its receipts and the client's replies find it.
    delivered_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=80, blank=True)
    # A reply from the client: the message it answers.
    in_reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies")
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "created_at"], name="interaction_subject_idx"),
            models.Index(
                fields=["channel", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="interaction_provider_id_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class SmsInboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class SmsInboundEvent(models.Model):
    """A callback of the SMS provider (a delivery result or a client's reply), stored once its
    signature is verified and before it is processed; unique by the provider's event id, so a
    repeated delivery is counted, not applied again."""

    event_id = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=SmsInboundStatus.choices, default=SmsInboundStatus.RECEIVED)
    result = models.CharField(max_length=300, blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    interaction = models.ForeignKey(Interaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(fields=["received_at"], condition=models.Q(status="received"), name="sms_inbound_waiting_idx")
        ]

    def __str__(self) -> str:
        return self.event_id


# --- follow-up sequences ------------------------------------------------------------------------


class FollowUpSequence(models.Model):
    """A declared follow-up sequence (``ops.followups.SEQUENCES``, loaded by a data migration):
    its steps run one after another for each enrolled client until the client acts (an event of
    ``stop_on``), a person stops it, or the last step (a work item for a person) has run."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    stop_on = ArrayField(
        models.CharField(max_length=60), default=list, blank=True, help_text="Events that end an enrollment."
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FollowUpStepAction(models.TextChoices):
    MESSAGE = "message", "Send a message"
    WORK_ITEM = "work_item", "Open a work item"


class FollowUpStep(models.Model):
    """One step, due ``after`` the enrollment started: a templated message on a channel, or a work
    item in a queue (the escalation to a person)."""

    sequence = models.ForeignKey(FollowUpSequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    after = models.DurationField(help_text="Due this long after the enrollment started.")
    action = models.CharField(max_length=10, choices=FollowUpStepAction.choices)
    channel = models.CharField(max_length=10, choices=InteractionChannel.choices, blank=True)
    template = models.CharField(max_length=60, blank=True)
    queue_code = models.CharField(max_length=60, blank=True)
    label = models.CharField(max_length=120)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="followup_step_position_unique"),
            models.CheckConstraint(
                condition=models.Q(action="message", queue_code="") & ~models.Q(template="") & ~models.Q(channel="")
                | models.Q(action="work_item", template="", channel="") & ~models.Q(queue_code=""),
                name="followup_step_message_or_work_item",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed (handed to a person)"
    STOPPED = "stopped", "Stopped"


class FollowUpEnrollment(models.Model):
    """One client in one sequence: the next step and when it is due. Beat claims the due ones
    (``ops.services.followups.followups_run_due``); the client's action, or a person with a reason,
    stops it."""

    sequence = models.ForeignKey(FollowUpSequence, on_delete=models.PROTECT, related_name="enrollments")
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    subject = GenericForeignKey("subject_type", "subject_id")
    subject_label = models.CharField(max_length=200, help_text="The client's name and reference, for the pages.")
    # Where messages go ({"email": ..., "sms": ...}; in-app needs no address) and what templates read.
    addresses = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE)
    started_at = models.DateTimeField(default=timezone.now)
    next_position = models.PositiveSmallIntegerField(default=0)
    next_due_at = models.DateTimeField(null=True, blank=True)
    last_step_at = models.DateTimeField(null=True, blank=True)
    work_item = models.ForeignKey(WorkItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=300, blank=True)
    ended_by = models.CharField(max_length=150, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["next_due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "subject_type", "subject_id"],
                condition=models.Q(status="active"),
                name="followup_one_active_enrollment",
            ),
            models.CheckConstraint(
                condition=models.Q(status="active", next_due_at__isnull=False, ended_at__isnull=True)
                | (~models.Q(status="active") & models.Q(next_due_at__isnull=True, ended_at__isnull=False)),
                name="followup_enrollment_due_while_active",
            ),
        ]
        indexes = [
            models.Index(fields=["next_due_at"], condition=models.Q(status="active"), name="followup_due_idx"),
            models.Index(fields=["subject_type", "subject_id"], name="followup_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_label} in {self.sequence}"


# --- the quarterly access review --------------------------------------------------------------


class AccessReview(models.Model):
    """One quarter's review of who holds what (``ops.selectors.access_review_rows``), opened by the
    scheduled job as a work item for compliance and signed off by a compliance reviewer. What the
    review found when it was signed off is kept with it (and in the audit trail)."""

    period = models.CharField(max_length=7, unique=True, help_text="The quarter, e.g. 2026-Q4.")
    opened_at = models.DateTimeField(default=timezone.now)
    signed_off_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    signed_off_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    findings = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-period"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_off_by__isnull=True, signed_off_at__isnull=True)
                | models.Q(signed_off_by__isnull=False, signed_off_at__isnull=False),
                name="access_review_signed_by_and_when",
            ),
        ]

    def __str__(self) -> str:
        return f"Access review {self.period}"

    def get_absolute_url(self) -> str:
        return reverse("access-review")


# --- API keys ----------------------------------------------------------------------------------


class ApiKeyOwnerKind(models.TextChoices):
    STAFF = "staff", "Staff member"
    PARTNER = "partner", "Partner (introducing broker)"
    CLIENT_AREA = "client_area", "The broker's client area"


class ApiKeyStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    ACTIVE = "active", "Active"
    REFUSED = "refused", "Not approved"
    REVOKED = "revoked", "Revoked"


class ApiKey(ConcurrentTransitionMixin, models.Model):
    """A machine's credential for the REST API (``ops.api_keys``). The secret is shown once and
    only its SHA-256 is kept; ``prefix`` is the visible, unique part that finds the row. A key works
    while it is active, not expired and (with an allow-list) called from an allowed address, for
    the scopes it holds. Its owner is whom every call is attributed to: a staff member, a partner
    (through the owner-kind registry, ``ops.api_keys.register_owner_kind``), or the client area."""

    name = models.CharField(max_length=100, help_text="What the key is for, as people read it.")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    owner_kind = models.CharField(max_length=20, choices=ApiKeyOwnerKind.choices)
    owner_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    owner_id = models.CharField(max_length=64, blank=True)
    owner = GenericForeignKey("owner_type", "owner_id")
    scopes = ArrayField(models.CharField(max_length=40))
    allowed_ips = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    rate_per_minute = models.PositiveIntegerField()
    status = FSMField(max_length=20, choices=ApiKeyStatus.choices, default=ApiKeyStatus.PENDING, protected=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by",
        help_text="The key this one rotated (it keeps working until its own expiry, the overlap).",
    )  # fmt: skip
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_keys_made")
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    revoke_reason = models.TextField(blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rate_per_minute__gt=0), name="apikey_rate_positive"),
            models.CheckConstraint(condition=models.Q(scopes__len__gte=1), name="apikey_has_scopes"),
            models.CheckConstraint(
                condition=(models.Q(owner_kind="client_area") & models.Q(owner_type__isnull=True))
                | (~models.Q(owner_kind="client_area") & models.Q(owner_type__isnull=False) & ~models.Q(owner_id="")),
                name="apikey_owner_matches_kind",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="revoked") | models.Q(revoked_at__isnull=False), name="apikey_revoked_when"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def owner_label(self) -> str:
        if self.owner_kind == ApiKeyOwnerKind.CLIENT_AREA:
            return "the client area"
        return str(self.owner) if self.owner is not None else "(owner no longer exists)"

    @transition(field=status, source=ApiKeyStatus.PENDING, target=ApiKeyStatus.ACTIVE)
    def activate(self) -> None:
        pass

    @transition(field=status, source=ApiKeyStatus.PENDING, target=ApiKeyStatus.REFUSED)
    def refuse(self) -> None:
        pass

    @transition(field=status, source=[ApiKeyStatus.PENDING, ApiKeyStatus.ACTIVE], target=ApiKeyStatus.REVOKED)
    def revoke(self) -> None:
        pass


# --- outbound webhooks: the outbox and its deliveries (ops.services.events, ops.services.webhooks) --


class OutboxEvent(models.Model):
    """Something other systems are told about, written by ``event_publish`` in the transaction of
    the change itself (commits or rolls back with it). Its id is the Standard Webhooks
    ``webhook-id`` of every delivery of it, on every attempt; ``GET /api/v1/events`` reads this
    table. ``fanned_out_at`` is set once a delivery exists for every endpoint subscribed then."""

    id = models.UUIDField(primary_key=True, editable=False)  # a UUIDv7: time-ordered (ops.services.events)
    type = models.CharField(max_length=64)  # a value of ops.events.EventType; not choices: a new type is one line
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=64)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="outbox_created_idx"),
            models.Index(fields=["type", "created_at"], name="outbox_type_created_idx"),
            models.Index(
                fields=["created_at"], name="outbox_not_fanned_out_idx", condition=models.Q(fanned_out_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookEndpoint(models.Model):
    """A receiver of outbound webhooks: where, which event types, and whether it is delivered to.
    Created and changed only by ``ops.services.webhooks`` (every change audited)."""

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=64), help_text="Values of ops.events.EventType.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(enabled=True) | ~models.Q(disabled_reason=""), name="webhook_disabled_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return self.description or self.url

    def get_absolute_url(self) -> str:
        return reverse("webhook-endpoint", args=[self.pk])


class WebhookSecret(models.Model):
    """A signing secret of an endpoint (``whsec_`` + base64, as Standard Webhooks). Every secret not
    yet expired signs each delivery: during a rotation the old one keeps signing beside the new one
    until ``expires_at``, so the receiver can switch at its own pace."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.secret[:10]}…"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retries exhausted)"


class WebhookDelivery(models.Model):
    """One event to one endpoint (fanned out from the outbox). A worker claims it (``lease_until``),
    posts it, and records the attempt; a failure schedules ``next_attempt_at`` from the retry
    schedule. Beat's sweep re-queues what is due and not claimed, so a delivery whose worker died is
    picked up again: at least once, always with the event's id."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last success or replay.")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When a task was last queued for it.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker is attempting it until then.")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "created_at"], name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the receiver answered, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
