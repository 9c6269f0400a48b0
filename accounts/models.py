"""Clients, their lifecycle, account types and trading accounts.

Status changes go through ``accounts.services.clients`` (under a row lock, audited); the status
field is protected and saved compare-and-set on the old status (ConcurrentTransitionMixin).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower, Trim
from django.urls import reverse
from django.utils import timezone
from django_countries.fields import CountryField
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from audit.history import AuditedHistoricalRecords
from audit.models import append_only_triggers
from ops.models import RiskLevel, User


class ClientKind(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    CORPORATE = "corporate", "Corporate"


class ClientStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    PENDING_REVIEW = "pending_review", "Pending review"
    PENDING_DOCUMENTS = "pending_documents", "Pending additional documents"
    APPROVED = "approved", "Approved"
    RESTRICTED = "restricted", "Restricted"
    CLOSED = "closed", "Closed"


NOT_CLOSED = [s for s in ClientStatus.values if s != ClientStatus.CLOSED]


class AccountType(models.Model):
    """Configured by an admin (Standard, Pro, ECN, swap-free, Corporate...)."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=80)
    currencies = ArrayField(models.CharField(max_length=3), help_text="ISO 4217 codes the account may hold.")
    default_leverage = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    max_leverage = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    platform_group = models.CharField(max_length=80, help_text="The group on the trading platform.")
    min_deposit = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))
    swap_free = models.BooleanField(default=False)
    corporate_only = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_leverage__lte=models.F("max_leverage")),
                name="account_type_leverage_order",
                violation_error_message="The default leverage cannot be above the maximum.",
            ),
            models.CheckConstraint(condition=models.Q(min_deposit__gte=0), name="account_type_min_deposit"),
        ]

    def __str__(self) -> str:
        return self.name


class SourceOfFunds(models.TextChoices):
    SALARY = "salary", "Employment income"
    SAVINGS = "savings", "Savings"
    BUSINESS = "business", "Business income"
    INVESTMENTS = "investments", "Investments"
    INHERITANCE = "inheritance", "Inheritance or gift"
    OTHER = "other", "Other / not evidenced"


class Client(ConcurrentTransitionMixin, models.Model):
    reference = models.CharField(max_length=20, unique=True, editable=False)
    kind = models.CharField(max_length=12, choices=ClientKind.choices)
    status = FSMField(max_length=20, choices=ClientStatus.choices, default=ClientStatus.REGISTERED, protected=True)
    # individuals
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    nationality = CountryField(blank=True)
    # corporates
    legal_name = models.CharField(max_length=200, blank=True)
    registration_number = models.CharField(max_length=50, blank=True)
    # both
    country = CountryField(help_text="Residence (individual) or registration (corporate).")
    address_line = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +447911123456")
    segment = models.CharField(max_length=40, blank=True)
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    account_manager = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="clients")
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.LOW)
    source_of_funds = models.CharField(max_length=20, choices=SourceOfFunds.choices, blank=True)
    account_type = models.ForeignKey(AccountType, on_delete=models.PROTECT, related_name="clients")
    base_currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    # Set once the retention period after closing is over and the personal data was pseudonymised
    # (accounts.services.retention); such a client keeps its reference, ledger and history.
    pseudonymised_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="client_status_idx"),
            # clients registered in a period (the reports' cohorts), in registration order
            models.Index(fields=["created_at", "id"], name="client_created_idx"),
            models.Index(fields=["email"], name="client_email_idx"),
            models.Index(fields=["last_name", "first_name"], name="client_name_idx"),
            models.Index(fields=["legal_name"], name="client_legal_name_idx"),
            models.Index(fields=["country"], name="client_country_idx"),
            # the duplicate check at registration: normalised e-mail, phone, date of birth
            models.Index(Lower(Trim("email")), name="client_email_normalised_idx"),
            models.Index(fields=["phone"], name="client_phone_idx"),
            models.Index(fields=["date_of_birth"], name="client_date_of_birth_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="individual", date_of_birth__isnull=False)
                    & ~models.Q(first_name="")
                    & ~models.Q(last_name="")
                )
                | (models.Q(kind="corporate") & ~models.Q(legal_name="") & ~models.Q(registration_number=""))
                | models.Q(pseudonymised_at__isnull=False),
                name="client_kind_fields",
            ),
        ]
        permissions = [("view_client_record", "View one client (object permission for scoped staff and partners)")]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.reference})"

    def get_absolute_url(self) -> str:
        return reverse("client", args=[self.pk])

    @property
    def display_name(self) -> str:
        if self.kind == ClientKind.CORPORATE:
            return self.legal_name
        return f"{self.first_name} {self.last_name}".strip()

    # Transitions only move the status; who may make them, their conditions, reasons, audit and
    # platform pushes live in accounts.services.clients.
    @transition(field=status, source=ClientStatus.REGISTERED, target=ClientStatus.PENDING_REVIEW)
    def submit_for_review(self) -> None:
        pass

    @transition(field=status, source=ClientStatus.PENDING_REVIEW, target=ClientStatus.PENDING_DOCUMENTS)
    def request_documents(self) -> None:
        pass

    @transition(field=status, source=ClientStatus.PENDING_DOCUMENTS, target=ClientStatus.PENDING_REVIEW)
    def resubmit(self) -> None:
        pass

    @transition(field=status, source=ClientStatus.PENDING_REVIEW, target=ClientStatus.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=status, source=ClientStatus.APPROVED, target=ClientStatus.RESTRICTED)
    def restrict(self) -> None:
        pass

    @transition(field=status, source=ClientStatus.RESTRICTED, target=ClientStatus.APPROVED)
    def unfreeze(self) -> None:
        pass

    @transition(field=status, source=NOT_CLOSED, target=ClientStatus.CLOSED)
    def close(self) -> None:
        pass


class PartyRole(models.TextChoices):
    DIRECTOR = "director", "Director"
    SHAREHOLDER = "shareholder", "Shareholder"
    BENEFICIAL_OWNER = "beneficial_owner", "Beneficial owner"
    SIGNATORY = "signatory", "Authorised signatory"


class RelatedParty(models.Model):
    """A person or company behind a corporate client."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="parties")
    role = models.CharField(max_length=20, choices=PartyRole.choices)
    name = models.CharField(max_length=200)
    date_of_birth = models.DateField(null=True, blank=True)
    country = CountryField(blank=True)
    ownership_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    is_pep = models.BooleanField(default=False, help_text="Politically exposed person.")
    linked_client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["client", "role", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ownership_pct__isnull=True)
                | (models.Q(ownership_pct__gte=0) & models.Q(ownership_pct__lte=100)),
                name="party_ownership_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"


class LinkReason(models.TextChoices):
    SAME_UBO = "same_ubo", "Same beneficial owner"
    SAME_ADDRESS = "same_address", "Same address"
    SAME_PAYMENT_INSTRUMENT = "same_payment_instrument", "Same payment instrument"
    RELATED = "related", "Otherwise related"
    # set at registration (accounts.services.duplicates); a person merges or dismisses it from its queue
    POSSIBLE_DUPLICATE = "possible_duplicate", "Possible duplicate"


class ClientLink(models.Model):
    """Two clients are related, so risk can be seen across entities."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="links")
    other = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=30, choices=LinkReason.choices)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "other", "reason"], name="client_link_unique"),
            models.CheckConstraint(condition=~models.Q(client=models.F("other")), name="client_link_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} ~ {self.other_id} ({self.reason})"


class TradingAccountStatus(models.TextChoices):
    PENDING = "pending", "Being provisioned"
    ACTIVE = "active", "Active"
    CLOSE_ONLY = "close_only", "Close-only"
    DISABLED = "disabled", "Disabled"
    FAILED = "failed", "Provisioning failed"


class Book(models.TextChoices):
    """Where the broker routes a trading account's flow: passed on to a liquidity provider (A) or
    kept and taken as the counterparty (B)."""

    A = "a", "A-book (passed to liquidity providers)"
    B = "b", "B-book (the broker is the counterparty)"


class TradingAccount(models.Model):
    """The client's account on the trading platform, as the back office says it must be."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="trading_accounts")
    account_type = models.ForeignKey(AccountType, on_delete=models.PROTECT)
    currency = models.CharField(max_length=3)
    leverage = models.PositiveIntegerField()
    platform_group = models.CharField(max_length=80)
    # moved by risk through maker-checker (risk.account_routing); the platform has no book of its own
    book = models.CharField(max_length=1, choices=Book.choices, default=Book.B)
    status = models.CharField(max_length=12, choices=TradingAccountStatus.choices, default=TradingAccountStatus.PENDING)
    login = models.CharField(max_length=32, null=True, blank=True, unique=True)
    # Sent with every create call: a retry after a lost answer finds the account instead of making another.
    provision_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provision_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["client", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "account_type", "currency"], name="trading_account_unique"),
            models.CheckConstraint(condition=models.Q(leverage__gte=1), name="trading_account_leverage_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.login or 'pending'} ({self.account_type.code} {self.currency})"

    def get_absolute_url(self) -> str:
        return reverse("client", args=[self.client_id])  # trading accounts are shown on their client's page

    @property
    def trading_enabled(self) -> bool:
        return self.status in (TradingAccountStatus.ACTIVE, TradingAccountStatus.CLOSE_ONLY)

    @property
    def close_only(self) -> bool:
        return self.status == TradingAccountStatus.CLOSE_ONLY


# --- CRM sync (accounts.services.crm*) ----------------------------------------------------------
# The back office owns the client's status, KYC status, risk level and balances and pushes them;
# the CRM owns the sales stage, tags and communication records, which come back by webhook or poll.


class CrmLink(models.Model):
    """A client's contact in the CRM, and what the CRM owns of it as last synchronised. The row is
    also the per-client delivery lock of pushes (one delivery at a time, newest payload)."""

    client = models.OneToOneField(Client, on_delete=models.PROTECT, related_name="crm_link")
    crm_id = models.CharField(max_length=80, null=True, blank=True, unique=True)
    sales_stage = models.CharField(max_length=60, blank=True)
    tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    # The CRM's update time of the stage and tags applied here: an older notification changes nothing.
    crm_updated_at = models.DateTimeField(null=True, blank=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    last_pulled_at = models.DateTimeField(null=True, blank=True)
    # The payload of the last push the CRM accepted (the nightly comparison's "what we told it").
    last_pushed = models.JSONField(default=dict, blank=True)
    history = AuditedHistoricalRecords()

    def __str__(self) -> str:
        return f"{self.client_id} -> {self.crm_id or '(not yet in the CRM)'}"


class CrmPushStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SUPERSEDED = "superseded", "Superseded by a newer push"
    FAILED = "failed", "Failed"


class CrmPush(models.Model):
    """The CRM's delivery of one outbox event: what to push for a client is an ``ops.OutboxEvent``
    of type ``crm.contact_push`` (its data already reduced to CRM_PUSH_FIELDS), written in the
    transaction of the change; this row is the CRM consumer's state for it (as a WebhookDelivery is
    an endpoint's), delivered after commit by ``crm_push_deliver_task`` and by beat's resend should
    that task be lost."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="crm_pushes")
    event = models.OneToOneField("ops.OutboxEvent", on_delete=models.PROTECT, related_name="crm_push")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reason = models.CharField(max_length=120)
    status = models.CharField(max_length=12, choices=CrmPushStatus.choices, default=CrmPushStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        verbose_name = "CRM push"
        indexes = [
            models.Index(fields=["client", "id"], condition=models.Q(status="pending"), name="crm_push_pending_idx")
        ]

    def __str__(self) -> str:
        return f"CRM push: {self.reason} ({self.get_status_display().lower()})"

    def get_absolute_url(self) -> str:
        return reverse("client", args=[self.client_id])


class CrmInboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (no effect)"
    FAILED = "failed", "Failed"


class CrmInboundEvent(models.Model):
    """A verified CRM notification, stored before it is processed; the event id is unique, so a
    repeated delivery is recognised and has no second effect."""

    event_id = models.CharField(max_length=120, unique=True)
    event_type = models.CharField(max_length=80)
    crm_id = models.CharField(max_length=80, blank=True)
    payload = models.JSONField()
    event_created = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    deliveries = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=CrmInboundStatus.choices, default=CrmInboundStatus.RECEIVED)
    result = models.CharField(max_length=300, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"crm:{self.event_id} {self.event_type}"


class CrmCommunication(models.Model):
    """A CRM communication record, by the CRM's id, and its entry in the interaction log."""

    external_id = models.CharField(max_length=80, unique=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="crm_communications")
    interaction = models.OneToOneField("ops.Interaction", on_delete=models.PROTECT, related_name="crm_record")
    crm_updated_at = models.DateTimeField()
    history = AuditedHistoricalRecords()

    def __str__(self) -> str:
        return self.external_id


class CrmMismatch(models.Model):
    """One field on which the CRM disagreed with the back office at the nightly comparison: the
    subject of its work item (one open per client and field)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="crm_mismatches")
    field = models.CharField(max_length=40)
    back_office_value = models.JSONField(null=True)
    crm_value = models.JSONField(null=True)
    found_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        verbose_name = "CRM mismatch"
        constraints = [
            models.UniqueConstraint(
                fields=["client", "field"], condition=models.Q(closed_at__isnull=True), name="crm_mismatch_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"CRM disagrees on {self.field.replace('_', ' ')}"

    def get_absolute_url(self) -> str:
        return reverse("client", args=[self.client_id])


# --- client-area sign-ins ---------------------------------------------------------------------------


class SignInOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Signed in"
    FAILED = "failed", "Failed"


class DeviceSource(models.TextChoices):
    FINGERPRINT = "fingerprint", "The client area's device fingerprint"
    USER_AGENT = "user_agent", "A hash of the browser's user agent"


class ClientSignIn(models.Model):
    """One sign-in to the client area, successful or failed, as the portal reported it
    (``POST /api/v1/client-area/clients/{id}/sign-ins/``): when, from which IP address (and the
    country its edge placed it in, when it said), with which browser, and on which device (the
    portal's device fingerprint when it sends one, else a hash of the user agent). Append-only: the
    database refuses UPDATE and DELETE, except the retention job's pseudonymisation of the IP
    address, country, user agent and device (``accounts.services.retention``). Monitoring rules
    link clients through these rows (shared IP, shared device, new device, many countries)."""

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="sign_ins")
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=12, choices=SignInOutcome.choices)
    failure_reason = models.CharField(max_length=120, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    device_id = models.CharField(max_length=128, blank=True)
    device_source = models.CharField(max_length=12, choices=DeviceSource.choices, blank=True)
    # where the portal's edge placed the IP address (e.g. its CDN's country header), when it said
    country = CountryField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    # the API key the portal reported it with (its prefix), or "demo" for the demo seed
    reported_by = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["client", "at"], name="signin_client_at_idx"),
            models.Index(fields=["ip_address", "at"], name="signin_ip_at_idx"),
            models.Index(fields=["device_id", "at"], name="signin_device_at_idx"),
            models.Index(fields=["at"], name="signin_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome="failed") | models.Q(failure_reason=""),
                name="signin_failure_reason_only_when_failed",
            )
        ]
        triggers = append_only_triggers()

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.at:%Y-%m-%d %H:%M} from {self.ip_address or 'unknown'}"
