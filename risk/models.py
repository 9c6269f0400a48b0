"""Transaction-monitoring rules (versioned), the alerts they raise with their evidence and
disposition, and exposure limits per symbol.

A rule is a kind from the fixed library of ``risk/rules.py`` with parameters the kind validates.
Its terms live in versions, each in force over ``[valid_from, valid_to)``; two versions of one rule
never overlap (an exclusion constraint backs the service's check). An alert is raised once per rule
and key (the transaction, card or client that fired it), so re-running a rule never reopens it.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from audit.history import AuditedHistoricalRecords
from ib.models import TsTzRange


class RuleKind(models.TextChoices):
    VELOCITY = "velocity", "Velocity (many deposits or withdrawals in a window)"
    DEPOSIT_THEN_WITHDRAWAL = "deposit_then_withdrawal", "Deposit then immediate withdrawal, little trading"
    CARD_MANY_CLIENTS = "card_many_clients", "One card on many clients"
    CLIENT_MANY_CARDS = "client_many_cards", "Many cards on one client"
    STRUCTURING = "structuring", "Amounts structured just under a threshold"
    DORMANT_THEN_LARGE = "dormant_then_large", "Dormant, then a large movement"
    SHORT_HOLD = "short_hold", "Very short hold times (toxic flow)"
    LINKED_ADDRESS = "linked_address", "Accounts linked by address"
    LINKED_IP = "linked_ip", "Accounts linked by sign-in IP address"
    LINKED_DEVICE = "linked_device", "Accounts linked by sign-in device"
    LINKED_PARTNER = "linked_partner", "Clients of one partner sharing an IP address or device"
    SIGN_IN_MANY_IPS = "sign_in_many_ips", "Sign-ins from many IP addresses in a window"
    NEW_DEVICE_WITHDRAWAL = "new_device_withdrawal", "Sign-in from a new device, then a withdrawal"
    TRANSFER_ROUND_TRIP = "transfer_round_trip", "Money into a trading account and straight back out, little trading"
    SIGN_IN_MANY_COUNTRIES = "sign_in_many_countries", "Sign-ins from many countries in a window"
    SIGN_IN_COUNTRY_WITHDRAWAL = (
        "sign_in_country_withdrawal",
        "Sign-in from outside the country of residence, then a withdrawal",
    )


class RiskRule(models.Model):
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return f"/risk/rules/{self.pk}/"


class RiskRuleVersion(models.Model):
    rule = models.ForeignKey(RiskRule, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    params = models.JSONField()
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    approval = models.ForeignKey("ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["rule_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="risk_rule_version_number_unique"),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gt=models.F("valid_from")),
                name="risk_rule_version_period_forward",
                violation_error_message="A rule version ends after it starts.",
            ),
            ExclusionConstraint(
                name="risk_rule_versions_do_not_overlap",
                expressions=[
                    (TsTzRange("valid_from", "valid_to", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("rule", RangeOperators.EQUAL),
                ],
                violation_error_message="Two versions of one rule cannot be in force at the same time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} v{self.number}"


class AlertSource(models.TextChoices):
    RULE = "rule", "Monitoring rule"
    EXPOSURE_LIMIT = "exposure_limit", "Exposure limit"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    TRUE_MATCH = "true_match", "True match"
    FALSE_POSITIVE = "false_positive", "False positive"
    ESCALATED = "escalated", "Escalated"


class RiskAlert(models.Model):
    source = models.CharField(max_length=20, choices=AlertSource.choices, default=AlertSource.RULE)
    rule = models.ForeignKey(RiskRule, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    rule_version = models.ForeignKey(
        RiskRuleVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    # what fired it, unique per rule (a transaction, a card, a client and day) or per limit breach
    key = models.CharField(max_length=120)
    client = models.ForeignKey("accounts.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    symbol = models.CharField(max_length=32, blank=True)
    summary = models.CharField(max_length=300)
    # the rows that fired it, as they stood: [{"table": "deposit", "id": 1, "reference": ..., ...}]
    evidence = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    disposition_reason = models.TextField(blank=True)
    disposed_by = models.ForeignKey("ops.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    disposed_at = models.DateTimeField(null=True, blank=True)
    raised_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "rule", "key"], name="risk_alert_once_per_key"),
            models.CheckConstraint(
                condition=~models.Q(source="rule") | models.Q(rule__isnull=False, rule_version__isnull=False),
                name="risk_alert_rule_named",
            ),
        ]
        indexes = [models.Index(fields=["status", "raised_at"], name="risk_alert_status_idx")]

    def __str__(self) -> str:
        return f"Risk alert #{self.pk}"

    def get_absolute_url(self) -> str:
        return f"/risk/alerts/{self.pk}/"


class ExposureLimit(models.Model):
    """The most the broker holds net in a symbol (long or short, both books together): in lots, in
    notional (``max_net_notional`` in ``notional_currency``: lots x contract size x price, converted
    at the FX rate of the moment), or both; a breach of either opens a risk alert."""

    symbol = models.CharField(max_length=32, unique=True)
    max_net_lots = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    max_net_notional = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    notional_currency = models.CharField(max_length=3, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_net_lots__isnull=True) | models.Q(max_net_lots__gt=Decimal("0")),
                name="exposure_limit_positive",
                violation_error_message="An exposure limit is above zero.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_net_notional__isnull=True) | models.Q(max_net_notional__gt=Decimal("0")),
                name="exposure_limit_notional_positive",
                violation_error_message="An exposure limit is above zero.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_net_lots__isnull=False) | models.Q(max_net_notional__isnull=False),
                name="exposure_limit_lots_or_notional",
                violation_error_message="A limit in lots, in notional, or both.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_net_notional__isnull=True, notional_currency="")
                | (models.Q(max_net_notional__isnull=False) & ~models.Q(notional_currency="")),
                name="exposure_limit_notional_has_currency",
                violation_error_message="A notional limit names its currency.",
            ),
        ]

    def __str__(self) -> str:
        parts = []
        if self.max_net_lots is not None:
            parts.append(f"{self.max_net_lots} lots")
        if self.max_net_notional is not None:
            parts.append(f"{self.max_net_notional:,.2f} {self.notional_currency}")
        return f"{self.symbol} ≤ {' and '.join(parts)}"


class Instrument(models.Model):
    """A platform symbol's contract as the platform gateway reports it (``instruments()``) and its
    latest price (``quotes()``), refreshed with the open positions (``instruments_refresh``). One
    lot is ``contract_size`` units of ``base_currency`` (empty: an index, no currency), priced in
    ``quote_currency``."""

    symbol = models.CharField(max_length=32, unique=True)
    description = models.CharField(max_length=120, blank=True)
    contract_size = models.DecimalField(max_digits=20, decimal_places=4)
    base_currency = models.CharField(max_length=3, blank=True)
    quote_currency = models.CharField(max_length=3)
    bid = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    ask = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    priced_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=models.Q(contract_size__gt=0), name="instrument_contract_positive"),
            models.CheckConstraint(
                condition=models.Q(bid__isnull=True, ask__isnull=True, priced_at__isnull=True)
                | models.Q(bid__gt=0, ask__gte=models.F("bid"), priced_at__isnull=False),
                name="instrument_price_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.symbol

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


class Position(models.Model):
    """An account's open positions in a symbol as the platform last reported them
    (``open_positions``), refreshed by ``positions_refresh``: volume in lots, positive long, negative
    short; ``open_value`` the sum of each position's lots x open price (its floating P&L at a price
    p is (volume x p - open_value) x contract size), empty when the platform gave no open price."""

    trading_account = models.ForeignKey("accounts.TradingAccount", on_delete=models.CASCADE, related_name="+")
    symbol = models.CharField(max_length=32)
    volume = models.DecimalField(max_digits=14, decimal_places=2)
    margin = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))
    open_value = models.DecimalField(max_digits=28, decimal_places=8, null=True, blank=True)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trading_account", "symbol"], name="risk_position_unique")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.volume}"


class FxRateGap(models.Model):
    """A currency pair without a rate on a day something needed one: a monitoring rule comparing an
    amount in ``base`` with a threshold in ``quote``, or the dashboard and exposure limits
    converting into the reporting currency. Such amounts compare as nothing, so a person adds the
    rate: each gap is one work item (``fx_rate_missing``), opened once."""

    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    day = models.DateField()
    first_needed_at = models.DateTimeField(help_text="The earliest moment of that day a rate was needed.")
    transactions = models.PositiveIntegerField(default=0, help_text="The most amounts one run could not convert.")
    examples = models.JSONField(default=list, blank=True, help_text="A few of their references.")
    rules = models.ManyToManyField(RiskRule, blank=True, related_name="fx_gaps")
    for_exposure = models.BooleanField(default=False, help_text="Met converting exposure into the reporting currency.")
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "base", "quote"]
        constraints = [models.UniqueConstraint(fields=["base", "quote", "day"], name="fx_rate_gap_once_per_day")]

    def __str__(self) -> str:
        return f"No {self.base}/{self.quote} rate on {self.day:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return f"/risk/fx-gaps/{self.pk}/"


# --- suspicious activity reports -------------------------------------------------------------------


class SarSource(models.TextChoices):
    ALERT = "alert", "Risk alert"
    SCREENING_HIT = "screening_hit", "Screening hit"


class SarStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Waiting for a second compliance officer"
    APPROVED = "approved", "Approved, to be filed"
    FILED = "filed", "Filed with the regulator"


class SuspiciousActivityReport(ConcurrentTransitionMixin, models.Model):
    """A suspicious activity report, drafted by a compliance officer from a risk alert or a
    screening hit (prefilled: subject, transactions, what fired), approved by a second compliance
    officer (``risk.sar_file``) on the sha256 of its content, exported, then recorded as filed with
    the regulator's reference. The content is frozen from submission on."""

    source = models.CharField(max_length=16, choices=SarSource.choices)
    alert = models.ForeignKey(RiskAlert, null=True, blank=True, on_delete=models.PROTECT, related_name="sars")
    screening_hit = models.ForeignKey(
        "kyc.ScreeningHit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT, related_name="+")
    status = FSMField(max_length=20, choices=SarStatus.choices, default=SarStatus.DRAFT, protected=True)
    # the prefilled parts, as they stood when the draft was started
    subject = models.JSONField(default=dict)
    transactions = models.JSONField(default=list)
    fired = models.JSONField(default=dict)
    narrative = models.TextField(blank=True)
    no_transactions_reason = models.TextField(blank=True)
    created_by = models.ForeignKey("ops.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # set when approved: the hash of exactly what was approved (and is exported)
    content_sha256 = models.CharField(max_length=64, blank=True)
    approval = models.ForeignKey("ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT)
    approved_at = models.DateTimeField(null=True, blank=True)
    filed_at = models.DateTimeField(null=True, blank=True)
    filed_by = models.ForeignKey("ops.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    regulator_reference = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source="alert", alert__isnull=False, screening_hit__isnull=True)
                | models.Q(source="screening_hit", alert__isnull=True, screening_hit__isnull=False),
                name="sar_one_origin",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="filed")
                | (models.Q(filed_at__isnull=False) & ~models.Q(regulator_reference="")),
                name="sar_filed_with_reference",
            ),
            models.UniqueConstraint(
                fields=["alert"], condition=models.Q(alert__isnull=False), name="sar_once_per_alert"
            ),
            models.UniqueConstraint(
                fields=["screening_hit"], condition=models.Q(screening_hit__isnull=False), name="sar_once_per_hit"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return f"/risk/sars/{self.pk}/"

    @property
    def reference(self) -> str:
        return f"SAR-{self.pk:06d}" if self.pk else "SAR (new)"

    # transitions only move the status; who may, checks and audit live in risk.sar
    @transition(field=status, source=SarStatus.DRAFT, target=SarStatus.PENDING_APPROVAL)
    def submit(self) -> None:
        pass

    @transition(field=status, source=SarStatus.PENDING_APPROVAL, target=SarStatus.DRAFT)
    def reopen(self) -> None:
        pass

    @transition(field=status, source=SarStatus.PENDING_APPROVAL, target=SarStatus.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=status, source=SarStatus.APPROVED, target=SarStatus.FILED)
    def file(self) -> None:
        pass
