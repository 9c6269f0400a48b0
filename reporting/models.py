"""Scheduled report snapshots: who subscribed to which report at which frequency, and every
snapshot made (its XLSX kept as sent, with the SHA-256 its audit event records)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ops.models import User


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class ReportSubscription(models.Model):
    """A staff member receives a report family's snapshot by e-mail at a frequency (sent only while
    they may still open that family)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="report_subscriptions")
    family = models.CharField(max_length=20)
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["family", "frequency", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "family", "frequency"], name="report_subscription_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} <- {self.family} ({self.frequency})"


class ReportSnapshot(models.Model):
    """One generated report for one period: kept as it was sent; ``sha256`` is the hash of
    ``content``, also written to the audit trail when the snapshot was made."""

    family = models.CharField(max_length=20)
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    summary = models.JSONField(default=dict)
    rows = models.PositiveIntegerField(default=0)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    recipients = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["family", "frequency", "period_start", "period_end"], name="report_snapshot_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family} {self.frequency} {self.period_start}..{self.period_end}"
