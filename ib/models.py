"""Introducing brokers (partners): the hierarchy and the attribution of clients to them.

The hierarchy is a materialised path (django-treebeard's ``MP_Node``): everyone above a partner and
everyone below are each one indexed query on ``path``. A client's attribution is a history of
periods, never edited in place: a change closes the period in force and opens the next, and the
database refuses two periods of one client that overlap, so "who introduced this client at that
moment" always has one answer (commissions use it at the deal's time).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, transition
from treebeard.mp_tree import MP_Node

if TYPE_CHECKING:
    from accounts.models import Client

from audit.history import AuditedHistoricalRecords


class PartnerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


class Partner(MP_Node):
    """An introducing broker. ``code`` is its referral code (in its referral links)."""

    # treebeard's MP_Node is untyped, so the stubs cannot infer these fields' types
    name: models.CharField[str, str] = models.CharField(max_length=200)
    code: models.CharField[str, str] = models.CharField(max_length=32, unique=True)
    email: models.EmailField[str, str] = models.EmailField(blank=True)
    status = FSMField(default=PartnerStatus.ACTIVE, choices=PartnerStatus.choices, protected=True)
    client: models.OneToOneField[Client | None, Client | None] = models.OneToOneField(
        "accounts.Client",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="partner_profile",
        help_text="The partner's own client record, when the partner also trades with the broker.",
    )
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now, editable=False)
    history = AuditedHistoricalRecords(excluded_fields=["numchild"])

    node_order_by = ["name"]

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("partner", args=[self.pk])

    @transition(field=status, source=[PartnerStatus.ACTIVE, PartnerStatus.SUSPENDED], target=PartnerStatus.CLOSED)
    def close(self) -> None:
        pass


class AttributionSource(models.TextChoices):
    REFERRAL = "referral", "Referral code at registration"
    STAFF = "staff", "Changed by staff (approved)"


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Attribution(models.Model):
    """``client`` was introduced by ``partner`` from ``valid_from`` until ``valid_to`` (open: now)."""

    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT, related_name="attributions")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="attributions")
    campaign = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=AttributionSource.choices)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    approval = models.ForeignKey("ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["client_id", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gt=models.F("valid_from")),
                name="attribution_period_forward",
                violation_error_message="An attribution ends after it starts.",
            ),
            ExclusionConstraint(
                name="attribution_periods_do_not_overlap",
                expressions=[
                    (TsTzRange("valid_from", "valid_to", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("client", RangeOperators.EQUAL),
                ],
                violation_error_message="A client is attributed to one partner at a time.",
            ),
        ]
        indexes = [models.Index(fields=["partner", "valid_from"], name="attribution_partner_idx")]

    def __str__(self) -> str:
        return f"{self.client} introduced by {self.partner}"
