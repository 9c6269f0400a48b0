"""KYC documents and their review. Files live outside the web root (``KYC_STORAGE_ROOT``) through
Django's storage API and are served only by a permission-checked view."""

from __future__ import annotations

import os
import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.models import Client
from audit.history import AuditedHistoricalRecords
from ops.models import User


class DocumentKind(models.TextChoices):
    PROOF_OF_IDENTITY = "proof_of_identity", "Proof of identity"
    PROOF_OF_ADDRESS = "proof_of_address", "Proof of address"
    SUITABILITY = "suitability_questionnaire", "Suitability questionnaire"
    INCORPORATION = "certificate_of_incorporation", "Certificate of incorporation"
    SHAREHOLDER_REGISTER = "shareholder_register", "Shareholder register"
    DIRECTORS = "directors_register", "Register of directors"
    UBO_DECLARATION = "ubo_declaration", "Beneficial-ownership declaration"
    AUTHORISATION = "authorisation", "Authorisation (board resolution / mandate)"
    SOURCE_OF_FUNDS = "source_of_funds", "Source of funds"
    SOURCE_OF_WEALTH = "source_of_wealth", "Source of wealth"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Replaced"
    EXPIRED = "expired", "Expired"


class RejectionReason(models.TextChoices):
    BLURRED = "blurred", "Blurred or unreadable"
    EXPIRED = "expired", "Expired"
    ADDRESS_MISMATCH = "address_mismatch", "Address does not match"
    NAME_MISMATCH = "name_mismatch", "Name does not match"
    INCOMPLETE_CORPORATE = "incomplete_corporate", "Incomplete corporate information"
    OTHER = "other", "Other (see note)"


class KycStorage(FileSystemStorage):
    """Files under KYC_STORAGE_ROOT (read when used, so it follows the settings), with no URL:
    nothing serves them but the permission-checked view."""

    @property
    def base_location(self) -> str:
        return str(settings.KYC_STORAGE_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    @property
    def base_url(self) -> str:
        raise ValueError("KYC documents have no URL; they are served by the permission-checked view")


def _storage() -> FileSystemStorage:
    return KycStorage()


def _upload_to(instance: Any, filename: str) -> str:
    return f"{instance.client_id}/{uuid.uuid4().hex}"


class Document(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=40, choices=DocumentKind.choices)
    # The bytes as uploaded: the evidence (``sha256`` and ``size`` are theirs). Nothing serves them.
    file = models.FileField(storage=_storage, upload_to=_upload_to, max_length=200)
    # What reviewers open: an image re-encoded from its pixels (no metadata, nothing hidden beside the
    # picture). Empty for a PDF (the checked original is shown) and for documents stored before it.
    view_file = models.FileField(storage=_storage, upload_to=_upload_to, max_length=200, blank=True)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    number = models.CharField(max_length=60, blank=True, help_text="Document number, if it has one.")
    issue_date = models.DateField(null=True, blank=True)
    expiry_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    rejection_reason = models.CharField(max_length=30, choices=RejectionReason.choices, blank=True)
    review_note = models.TextField(blank=True)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.CharField(max_length=150)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # expiry reminders already sent (days before expiry -> when), so a rerun never repeats one
    reminders = models.JSONField(default=dict, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["client", "kind", "-uploaded_at"]
        indexes = [
            models.Index(fields=["client", "kind", "status"], name="document_client_kind_idx"),
            # the documents uploaded in a period (the compliance report), in upload order
            models.Index(fields=["uploaded_at", "id"], name="document_uploaded_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(issue_date__isnull=True)
                | models.Q(expiry_date__isnull=True)
                | models.Q(expiry_date__gt=models.F("issue_date")),
                name="document_expiry_after_issue",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="rejected") | ~models.Q(rejection_reason=""),
                name="document_rejection_has_reason",
            ),
            models.CheckConstraint(condition=models.Q(size__gt=0), name="document_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.client.reference}"

    def get_absolute_url(self) -> str:
        return reverse("document-review", args=[self.pk])


class RiskFactor(models.Model):
    """One configurable factor of the risk score (compliance tunes the points; history keeps every
    version)."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=120)
    points = models.PositiveSmallIntegerField()
    forces_edd = models.BooleanField(default=False, help_text="On its own, sends the client to enhanced due diligence.")
    is_active = models.BooleanField(default=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.label} ({self.points})"


class RiskAssessment(models.Model):
    """A scored assessment, with every factor's contribution, so a reviewer sees why."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="risk_assessments")
    score = models.PositiveSmallIntegerField()
    level = models.CharField(max_length=10)
    edd_required = models.BooleanField(default=False)
    factors = models.JSONField(default=list)
    assessed_at = models.DateTimeField(default=timezone.now)
    assessed_by = models.CharField(max_length=150)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-assessed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.level} ({self.score})"


# --- sanctions and PEP screening ---------------------------------------------------------------


class ListImportStatus(models.TextChoices):
    IMPORTING = "importing", "Importing"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"


class SanctionsListVersion(models.Model):
    """One import of a list file (OpenSanctions "targets.simple" CSV shape). The newest complete
    version is the one clients are screened against."""

    name = models.CharField(max_length=80)
    source_file = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=ListImportStatus.choices, default=ListImportStatus.IMPORTING)
    rows_read = models.PositiveIntegerField(default=0)
    entry_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    imported_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} v{self.pk} ({self.status})"


class SanctionsEntry(models.Model):
    """A list entry as imported. Reference data: written once per version, never edited."""

    version = models.ForeignKey(SanctionsListVersion, on_delete=models.CASCADE, related_name="entries")
    entry_id = models.CharField(max_length=120)
    schema = models.CharField(max_length=30)
    name = models.CharField(max_length=300)
    aliases = models.JSONField(default=list)
    birth_dates = models.JSONField(default=list)
    countries = models.JSONField(default=list)
    sanctions = models.TextField(blank=True)
    dataset = models.CharField(max_length=300, blank=True)
    data_hash = models.CharField(max_length=64, help_text="Changes when the entry's data changes.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "entry_id"], name="sanctions_entry_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.entry_id})"


class HitStatus(models.TextChoices):
    OPEN = "open", "Open"
    FALSE_POSITIVE = "false_positive", "False positive"
    TRUE_MATCH = "true_match", "True match"


class ScreeningHit(models.Model):
    """A client that matched a list entry. A false positive is not raised again for the same entry
    unless the entry's data changes (the data hash is part of the identity)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="screening_hits")
    version = models.ForeignKey(SanctionsListVersion, on_delete=models.PROTECT, related_name="+")
    entry_id = models.CharField(max_length=120)
    entry_data_hash = models.CharField(max_length=64)
    entry_name = models.CharField(max_length=300)
    matched_name = models.CharField(max_length=300)
    score = models.DecimalField(max_digits=5, decimal_places=2)
    name_score = models.DecimalField(max_digits=5, decimal_places=2)
    dob_match = models.BooleanField(null=True)
    country_match = models.BooleanField(null=True)
    status = models.CharField(max_length=16, choices=HitStatus.choices, default=HitStatus.OPEN)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "entry_id", "entry_data_hash"], name="screening_hit_once_per_entry_data"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_id} ~ {self.entry_name} ({self.score})"


# --- identity verification provider (kyc.identity) ----------------------------------------------


class IdentityCheckStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"  # queued for a worker to send to the provider
    SUBMITTED = "submitted", "Sent to the provider"  # the provider has it; its result is awaited
    COMPLETED = "completed", "Result received"
    PROVIDER_FAILED = "provider_failed", "Provider unavailable"  # retries exhausted: a work item


class IdentityResult(models.TextChoices):
    CLEAR = "clear", "Clear"
    MISMATCH = "mismatch", "Does not match the profile"
    FAILED = "failed", "Failed"


class IdentityCheck(models.Model):
    """One check of a document by the identity verification provider. The provider's evidence is
    kept here; the decision on the document stays with the reviewer."""

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="identity_checks")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="identity_checks")
    reference = models.CharField(max_length=40, unique=True, help_text="Ours; the provider's idempotency key.")
    provider = models.CharField(max_length=60)
    provider_check_id = models.CharField(max_length=120, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=IdentityCheckStatus.choices, default=IdentityCheckStatus.REQUESTED)
    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.CharField(max_length=150)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # the provider's evidence
    result = models.CharField(max_length=10, choices=IdentityResult.choices, blank=True)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    review_status = models.CharField(max_length=40, blank=True, help_text="The provider's own review status.")
    extracted = models.JSONField(default=dict, blank=True, help_text="What the provider read off the document.")
    reasons = models.JSONField(default=list, blank=True)
    # fields where what the document says differs from the profile: [{field, label, document, profile}]
    mismatches = models.JSONField(default=list, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["document", "-requested_at"], name="identity_check_document_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(risk_score__isnull=True) | models.Q(risk_score__lte=100),
                name="identity_check_score_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document}, check {self.provider_check_id or self.reference}"

    def get_absolute_url(self) -> str:
        return reverse("document-review", args=[self.document_id])

    @property
    def is_exception(self) -> bool:
        return self.result in (IdentityResult.MISMATCH, IdentityResult.FAILED) or bool(self.mismatches)


class IdentityInboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (no effect)"
    FAILED = "failed", "Failed"


class IdentityInboundResult(models.Model):
    """A verified result from the provider, stored as it arrived (the raw signed body and its
    signature) before it is processed; unique by the provider's check id, so a repeated delivery is
    counted and has no second effect."""

    provider = models.CharField(max_length=60)
    provider_check_id = models.CharField(max_length=120)
    event_id = models.CharField(max_length=120)
    body = models.TextField(help_text="The raw body as signed.")
    signature = models.CharField(max_length=300)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    deliveries = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=IdentityInboundStatus.choices, default=IdentityInboundStatus.RECEIVED
    )
    detail = models.CharField(max_length=300, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_check_id"], name="identity_result_once_per_check"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_check_id} ({self.status})"
