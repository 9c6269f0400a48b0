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


class NetDepositDay(models.Model):
    """One client's net-deposit postings (``reporting.metrics.net_deposit_postings``) of one day (in
    the reporting time zone), currency and channel, summed: the reports read these for the days
    ``SummaryMark`` says are summed, and the postings themselves after that. The postings are
    immutable, so a summed day stays right; ``net_deposit_days_refresh`` (hourly, by beat) sums the
    days up to yesterday and sums the last ``REDO_DAYS`` again, for a transaction that was still open
    when its day was first summed."""

    day = models.DateField()
    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    channel = models.CharField(max_length=8, blank=True)  # the deposit's or withdrawal's, "" for none
    deposits = models.DecimalField(max_digits=20, decimal_places=4)  # the postings' sum, credits < 0
    withdrawals = models.DecimalField(max_digits=20, decimal_places=4)
    postings = models.PositiveIntegerField()

    class Meta:
        ordering = ["day", "client", "currency", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["day", "client", "currency", "channel"], name="net_deposit_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} client {self.client_id} {self.currency} {self.channel}"


class SummaryMark(models.Model):
    """How far a summary table is summed: ``through`` is its last summed day (inclusive)."""

    name = models.CharField(max_length=40, unique=True)
    through = models.DateField(null=True, blank=True)  # empty: nothing summed yet
    refreshed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} through {self.through}"
