"""Agents: automations and AI models registered as actors with scopes and limits.

An agent reads what its scopes allow and proposes; every write it asks for is a maker-checker
request (``Proposal.request``) that a person decides. It has no staff user, so it can never be
anyone's checker. Its token is stored as a SHA-256 only; the whole token is shown once."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from ops.models import ApprovalRequest, User


class Scope(models.TextChoices):
    READ_QUEUES = "read:queues", "Read work queue items"
    READ_CLIENTS = "read:clients", "Read client summaries (no contact details)"
    READ_CLIENT_CONTACTS = "read:client_contacts", "Read clients' e-mail and phone"
    READ_DOCUMENTS = "read:documents", "Read document checklists and pre-checks"
    READ_WITHDRAWALS = "read:withdrawals", "Read withdrawals' pre-checks"
    PROPOSE_KYC_DOCUMENT = "propose:kyc_document", "Propose a KYC document decision"
    PROPOSE_WITHDRAWAL = "propose:withdrawal", "Propose a withdrawal decision (approve or reject)"
    PROPOSE_RISK_LEVEL = "propose:risk_level", "Propose a client risk level"
    PROPOSE_WORK_ITEM = "propose:work_item", "Propose a work item resolution"
    PROPOSE_WORK_ITEM_ROUTING = "propose:work_item_routing", "Propose routing or re-prioritising a work item"
    PROPOSE_CLIENT_REPLY = "propose:client_reply", "Propose a reply to a client"


class Agent(models.Model):
    name = models.SlugField(max_length=60, unique=True)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="agents_owned")
    purpose = models.TextField()
    model_name = models.CharField(max_length=100, blank=True, help_text="The model it runs, if any.")
    prompt_version = models.CharField(max_length=60, blank=True)
    scopes = ArrayField(models.CharField(max_length=40, choices=Scope.choices), default=list, blank=True)
    rate_per_minute = models.PositiveIntegerField(default=60)
    daily_budget = models.PositiveIntegerField(default=5000, help_text="Calls a day (reads and proposals).")
    minutes_saved_per_accepted = models.PositiveIntegerField(
        default=5, help_text="What one accepted proposal saves a person, for the oversight figures."
    )
    enabled = models.BooleanField(default=True)
    shadow = models.BooleanField(
        default=False,
        help_text="Shadow mode: proposals are kept and compared with what people decided, never submitted.",
    )
    builtin = models.BooleanField(default=False)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def maker_label(self) -> str:
        return f"agent:{self.name}"


class AgentSwitch(models.Model):
    """The stop button for every agent: one row (pk 1)."""

    stopped = models.BooleanField(default=False)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="agent_switch_single_row")]

    def __str__(self) -> str:
        return "All agents stopped" if self.stopped else "Agents running"


class CallOutcome(models.TextChoices):
    OK = "ok", "Done"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


class AgentCall(models.Model):
    """One call through the door (its audit event holds the same hashes, in the chain); counted for
    the rate limit, the daily budget and the oversight page."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="calls")
    tool = models.CharField(max_length=60)
    args_sha256 = models.CharField(max_length=64)
    result_sha256 = models.CharField(max_length=64)
    outcome = models.CharField(max_length=10, choices=CallOutcome.choices)
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["agent", "at"], name="agent_call_agent_at_idx")]

    def __str__(self) -> str:
        return f"{self.agent} {self.tool} ({self.outcome})"


class ReviewOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    EDITED = "edited", "Edited"
    REJECTED = "rejected", "Rejected"


class Proposal(models.Model):
    """A write an agent asked for: the maker-checker request it became (none in shadow mode), the
    rationale and the evidence it used."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="proposals")
    action = models.CharField(max_length=64)
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    rationale = models.TextField()
    evidence = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    request = models.OneToOneField(
        ApprovalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="agent_proposal"
    )
    shadow = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # set when a person reviews it on the agents' review page: "edited" means they rejected the
    # agent's version and carried out their own, changed (approvals decided elsewhere count by the
    # request)
    review = models.CharField(max_length=10, choices=ReviewOutcome.choices, blank=True)
    review_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "created_at"], name="proposal_agent_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(shadow=True, request__isnull=True) | models.Q(shadow=False, request__isnull=False),
                name="proposal_request_unless_shadow",
            ),
            models.CheckConstraint(condition=~models.Q(rationale=""), name="proposal_has_rationale"),
        ]

    def __str__(self) -> str:
        return f"{self.agent}'s proposal #{self.pk} ({self.action})"
