"""Introducing brokers (partners): the hierarchy and the attribution of clients to them.

The hierarchy is a materialised path (django-treebeard's ``MP_Node``): everyone above a partner and
everyone below are each one indexed query on ``path``. A client's attribution is a history of
periods, never edited in place: a change closes the period in force and opens the next, and the
database refuses two periods of one client that overlap, so "who introduced this client at that
moment" always has one answer (commissions use it at the deal's time).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateRangeField, DateTimeRangeField, RangeBoundary, RangeOperators
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
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


# --- commission plans ----------------------------------------------------------------------------


class SymbolGroup(models.Model):
    """Symbols that a plan's rule treats alike (FX majors, metals, indices...)."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Symbol(models.Model):
    """A traded symbol and the one group it belongs to (a symbol in no group earns nothing: the
    recalculation lists such deals for review)."""

    name = models.CharField(max_length=32, unique=True)
    group = models.ForeignKey(SymbolGroup, on_delete=models.PROTECT, related_name="symbols")
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CommissionPlan(models.Model):
    """An agreement with partners. What it pays is in its versions; a partner follows one plan."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, help_text="Commissions are earned and paid in this currency.")
    hold_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days a commission stays pending (clawback window) before it can be paid."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DateRange(models.Func):
    function = "DATERANGE"
    output_field = DateRangeField()


class PlanVersion(models.Model):
    """What a plan pays from ``valid_from`` until ``valid_to`` (open: for now). Versions are made
    only by an approved change (``ib.plan_change``); a new version starts today or later and ends
    the one before it, so what was already earned never changes."""

    plan = models.ForeignKey(CommissionPlan, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    approval = models.ForeignKey("ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["plan_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="plan_version_number_unique"),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gt=models.F("valid_from")),
                name="plan_version_period_forward",
                violation_error_message="A plan version ends after it starts.",
            ),
            ExclusionConstraint(
                name="plan_versions_do_not_overlap",
                expressions=[
                    (DateRange("valid_from", "valid_to", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("plan", RangeOperators.EQUAL),
                ],
                violation_error_message="Two versions of one plan cannot be in force on the same day.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} v{self.number}"


class RuleKind(models.TextChoices):
    PER_LOT = "per_lot", "Amount per lot"
    SPREAD_PCT = "spread_pct", "% of spread / markup"
    COMMISSION_PCT = "commission_pct", "% of the broker's commission"
    CPA = "cpa", "CPA (once per qualifying client)"
    REVSHARE = "revshare", "Revenue share"


DEAL_RULE_KINDS = (RuleKind.PER_LOT, RuleKind.SPREAD_PCT, RuleKind.COMMISSION_PCT)


class PlanRule(models.Model):
    """One calculation of a plan version.

    Deal rules (per lot, % of spread, % of commission) apply to deals of one symbol group and make
    a *pool* per deal (``rate`` per lot, or ``rate`` % of the deal's spread or commission, capped
    per trade, per client and day, per client and month). ``client_rebate_pct`` % of the pool goes
    back to the client; the rest is split across the partner levels by ``tier_shares`` (percent,
    level 0 first = the partner who introduced the client, then its parent, ...; summing to 100;
    shares of levels above the top of the tree go to the top partner). Deals held less than
    ``min_hold_seconds`` earn nothing (anti-scalping).

    CPA pays ``rate`` once per client who is approved, deposits at least ``cpa_min_deposit`` first
    and trades ``cpa_min_lots`` within ``cpa_days`` days of approval. Revenue share pays ``rate`` %
    of the broker's net revenue from the partner's clients per month (commission and spread, less
    client profit and bonuses), losses carried forward. Both are split by ``tier_shares`` too.
    """

    version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="rules")
    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    symbol_group = models.ForeignKey(SymbolGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rate = models.DecimalField(max_digits=18, decimal_places=6)
    tier_shares = ArrayField(models.DecimalField(max_digits=7, decimal_places=4), default=list)
    client_rebate_pct = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal("0"))
    cap_per_trade = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cap_per_day = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cap_per_client = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, help_text="Per client and calendar month."
    )
    min_hold_seconds = models.PositiveIntegerField(default=0)
    cpa_min_deposit = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cpa_min_lots = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    cpa_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["version_id", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rate__gte=0), name="plan_rule_rate_not_negative"),
            models.CheckConstraint(
                condition=models.Q(client_rebate_pct__gte=0, client_rebate_pct__lte=100),
                name="plan_rule_rebate_is_percent",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=DEAL_RULE_KINDS) | models.Q(symbol_group__isnull=False),
                name="plan_rule_deal_rule_has_group",
            ),
            models.UniqueConstraint(
                fields=["version", "symbol_group"],
                condition=models.Q(kind__in=DEAL_RULE_KINDS),
                name="plan_rule_one_deal_rule_per_group",
                violation_error_message="A version has one deal rule per symbol group.",
            ),
            models.UniqueConstraint(
                fields=["version", "kind"],
                condition=models.Q(kind__in=[RuleKind.CPA, RuleKind.REVSHARE]),
                name="plan_rule_one_cpa_revshare",
            ),
        ]

    def __str__(self) -> str:
        group = f" on {self.symbol_group}" if self.symbol_group_id else ""
        return f"{RuleKind(self.kind).label}{group}"


class PartnerPlan(models.Model):
    """Which plan a partner follows from ``valid_from`` (history kept; the run uses the one in
    force at the deal's time)."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="plans")
    plan = models.ForeignKey(CommissionPlan, on_delete=models.PROTECT, related_name="partners")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    approval = models.ForeignKey(
        "ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The approved request (ib.partner_plan_assign) that made this period.",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["partner_id", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gt=models.F("valid_from")),
                name="partner_plan_period_forward",
                violation_error_message="A partner's plan ends after it starts.",
            ),
            ExclusionConstraint(
                name="partner_plans_do_not_overlap",
                expressions=[
                    (DateRange("valid_from", "valid_to", RangeBoundary()), RangeOperators.OVERLAPS),
                    ("partner", RangeOperators.EQUAL),
                ],
                violation_error_message="A partner follows one plan at a time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} follows {self.plan} from {self.valid_from}"


# --- the trade feed ------------------------------------------------------------------------------


class FeedSource(models.TextChoices):
    PLATFORM = "platform", "Trading platform feed"
    CSV = "csv", "Deal report file (CSV)"


class DealBatch(models.Model):
    """An inbound batch of deals, stored as received before any row is processed (invariant 6):
    a pull from the platform's closed-deals feed or an uploaded deal report file."""

    source = models.CharField(max_length=10, choices=FeedSource.choices)
    filename = models.CharField(max_length=200, blank=True)
    raw = models.TextField(help_text="The batch exactly as received (CSV text, or the feed's JSON).")
    sha256 = models.CharField(max_length=64)
    rows_total = models.PositiveIntegerField(default=0)
    rows_new = models.PositiveIntegerField(default=0)
    rows_duplicate = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, help_text='[{"row": n, "deal_id": "...", "error": "..."}]')
    received_by = models.CharField(max_length=150)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{FeedSource(self.source).label} {self.filename} at {self.received_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("deal-batch", args=[self.pk])


class DealSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class Deal(models.Model):
    """A closed deal on the trading platform, deduplicated by the platform's ``deal_id``.

    Money fields are in the trading account's ``currency``: ``spread`` is the broker's spread or
    markup revenue on the deal, ``commission`` the commission the broker charged the client."""

    id = models.BigAutoField(primary_key=True)
    deal_id = models.CharField(max_length=40, unique=True)
    login = models.CharField(max_length=32)
    trading_account = models.ForeignKey("accounts.TradingAccount", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT, related_name="deals")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=DealSide.choices)
    lots = models.DecimalField(max_digits=14, decimal_places=2)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField()
    spread = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    commission = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    swap = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    profit = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3)
    batch = models.ForeignKey(DealBatch, on_delete=models.PROTECT, related_name="deals")
    fingerprint = models.CharField(max_length=64, help_text="Hash of the values: a repeat with others is refused.")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["closed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(lots__gt=0), name="deal_lots_positive"),
            models.CheckConstraint(
                condition=models.Q(closed_at__gte=models.F("opened_at")), name="deal_closes_after_open"
            ),
            models.CheckConstraint(condition=models.Q(spread__gte=0), name="deal_spread_not_negative"),
            models.CheckConstraint(condition=models.Q(commission__gte=0), name="deal_commission_not_negative"),
        ]
        indexes = [
            models.Index(fields=["client", "closed_at"], name="deal_client_closed_idx"),
            models.Index(fields=["closed_at"], name="deal_closed_idx"),
        ]

    def __str__(self) -> str:
        return f"deal {self.deal_id}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("deal", args=[self.deal_id])


class FeedCursor(models.Model):
    """Where the pull of the platform's closed-deals feed has got to: the ``deal_id`` of the last
    deal of the last page stored (a batch). It moves in the transaction that stores the page, and
    the pull holds its row locked meanwhile, so no page is lost or stored twice."""

    name = models.CharField(max_length=32, unique=True)
    position = models.CharField(max_length=40, blank=True, help_text="Empty: from the platform's first deal.")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} after {self.position or '(start)'}"


# --- commission runs and lines -------------------------------------------------------------------


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CommissionRun(models.Model):
    """One calculation of the commissions earned by deals closed from ``period_start`` to
    ``period_end`` (dates, inclusive). Progress is counted in chunks of clients so the page can show a
    bar; a run killed midway is run again and adds only what is missing."""

    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    started_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="run_period_forward"
            )
        ]

    def __str__(self) -> str:
        return f"commissions {self.period_start} to {self.period_end}"


class LineKind(models.TextChoices):
    DEAL = "deal", "Deal commission"
    REBATE = "rebate", "Client rebate"
    CPA = "cpa", "CPA"
    REVSHARE = "revshare", "Revenue share"
    ADJUSTMENT = "adjustment", "Adjustment (approved)"
    CLAWBACK = "clawback", "Clawback"
    RESTORE = "restore", "Restored (chargeback won)"


class LineStatus(models.TextChoices):
    PENDING = "pending", "Pending (hold period)"
    AVAILABLE = "available", "Available"
    PAID = "paid", "Paid out"
    REVERSED = "reversed", "Reversed"


class CommissionLine(models.Model):
    """One amount earned by one beneficiary (a partner, or the client for a rebate), with what
    produced it: the deal (or the client for CPA / the month for revenue share), the plan version
    and rule, the FX rate and its time, and the tree as it was (``tree``: partner ids from the
    introducing partner up to the top). Unique per deal, beneficiary and plan version, so a rerun
    adds nothing twice."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=12, choices=LineKind.choices)
    run = models.ForeignKey(CommissionRun, null=True, blank=True, on_delete=models.PROTECT, related_name="lines")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.PROTECT, related_name="commission_lines")
    client = models.ForeignKey(
        "accounts.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="commission_lines",
        help_text="The client whose deal, CPA or rebate it is; empty for revenue share (a partner's month).",
    )  # fmt: skip
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="commission_lines",
        help_text="The beneficiary; empty for a rebate, whose beneficiary is the client.",
    )  # fmt: skip
    level = models.SmallIntegerField(help_text="0: the introducing partner, 1: its parent, ...; -1: client rebate.")
    plan_version = models.ForeignKey(PlanVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(PlanRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    earned_on = models.DateField(help_text="The deal's close day, the CPA's qualifying day, the month's last day.")
    period = models.DateField(null=True, blank=True, help_text="Revenue share: the first day of the month paid.")
    base_amount = models.DecimalField(max_digits=18, decimal_places=2, help_text="The pool, in the deal currency.")
    base_currency = models.CharField(max_length=3)
    fx_rate = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("1"))
    fx_at = models.DateTimeField(null=True, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    tree = ArrayField(models.BigIntegerField(), default=list)
    status = models.CharField(max_length=10, choices=LineStatus.choices, default=LineStatus.PENDING)
    available_on = models.DateField(null=True, blank=True)
    entry = models.ForeignKey(
        "payments.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    qualifying_deposit = models.ForeignKey(
        "payments.Deposit", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="CPA: the first deposit that qualified the client (its chargeback claws the CPA back).",
    )  # fmt: skip
    dispute = models.ForeignKey("ib.Dispute", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-earned_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "partner", "plan_version"],
                condition=models.Q(kind=LineKind.DEAL),
                name="commission_once_per_deal_partner_version",
            ),
            models.UniqueConstraint(
                fields=["deal", "plan_version"],
                condition=models.Q(kind=LineKind.REBATE),
                name="rebate_once_per_deal_version",
            ),
            models.UniqueConstraint(
                fields=["client", "partner", "plan_version"],
                condition=models.Q(kind=LineKind.CPA),
                name="cpa_once_per_client_partner_version",
            ),
            # per beneficiary, month, version and the partner whose clients' month it is (tree[0]):
            # a partner above two sub-partners earns a share of each one's month
            models.UniqueConstraint(
                "partner",
                "period",
                "plan_version",
                models.F("tree__0"),
                condition=models.Q(kind=LineKind.REVSHARE),
                name="revshare_once_per_partner_month_version",
            ),
            models.CheckConstraint(
                condition=models.Q(kind=LineKind.REVSHARE) | models.Q(client__isnull=False),
                name="commission_line_has_client",
            ),
            models.CheckConstraint(
                condition=models.Q(level=-1, partner__isnull=True) | models.Q(level__gte=0, partner__isnull=False),
                name="commission_line_has_one_beneficiary",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=[LineKind.DEAL, LineKind.REBATE]) | models.Q(deal__isnull=False),
                name="commission_deal_line_has_deal",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind=LineKind.CLAWBACK) | models.Q(reverses__isnull=False),
                name="clawback_reverses_a_line",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind=LineKind.RESTORE) | models.Q(reverses__isnull=False),
                name="restore_reverses_a_clawback",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "earned_on"], name="commission_partner_day_idx"),
            models.Index(fields=["client", "earned_on"], name="commission_client_day_idx"),
            # the lines earned in a period (the partners report), in the order it lists them
            models.Index(fields=["earned_on", "id"], name="commission_earned_idx"),
            models.Index(fields=["status", "available_on"], name="commission_status_idx"),
            # the run's "has this deal earned under this version already" check, one probe per deal
            models.Index(
                fields=["deal", "plan_version"],
                condition=models.Q(kind__in=[LineKind.DEAL, LineKind.REBATE]),
                name="commission_deal_version_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{LineKind(self.kind).label} {self.amount} {self.currency}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("ib-line", args=[self.pk])


class Statement(models.Model):
    """A partner's commission statement for a period: its lines, summed and hashed. The hash is of
    the lines' facts (not their ids or when they were written), so rerunning a closed period
    gives the same hash."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="statements")
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    lines_count = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=18, decimal_places=2)
    sha256 = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period_start", "partner_id"]

    def __str__(self) -> str:
        return f"{self.partner} statement {self.period_start} to {self.period_end}"


# --- disputes ------------------------------------------------------------------------------------


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    ADJUSTMENT_PENDING = "adjustment_pending", "Adjustment waiting for approval"
    RESOLVED = "resolved", "Resolved"


class DisputeResolution(models.TextChoices):
    ADJUSTED = "adjusted", "Adjusted (approved)"
    CORRECT_AS_PAID = "correct", "Correct as paid"
    OUTSIDE_PLAN = "outside_plan", "Outside the plan's terms"
    DUPLICATE = "duplicate", "Duplicate dispute"
    WITHDRAWN = "withdrawn", "Withdrawn by the partner"


class Dispute(ConcurrentTransitionMixin, models.Model):
    """A partner or staff member disputes a commission statement line (or a deal that earned
    nothing). It is a work item in the IB dispute queue with its SLA; an adjustment is a
    maker-checker action linked to it."""

    reference = models.CharField(max_length=20, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="disputes")
    line = models.ForeignKey(CommissionLine, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    claim = models.TextField()
    claimed_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    raised_by = models.CharField(max_length=150, help_text="The staff member or partner who raised it.")
    status = FSMField(default=DisputeStatus.OPEN, choices=DisputeStatus.choices, protected=True)
    resolution = models.CharField(max_length=16, choices=DisputeResolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    work_item = models.ForeignKey("ops.WorkItem", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approval = models.ForeignKey(
        "ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(line__isnull=False) | models.Q(deal__isnull=False), name="dispute_names_line_or_deal"
            )
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("ib-dispute", args=[self.reference])

    @transition(field=status, source=DisputeStatus.OPEN, target=DisputeStatus.ADJUSTMENT_PENDING)
    def propose_adjustment(self) -> None:
        pass

    @transition(field=status, source=DisputeStatus.ADJUSTMENT_PENDING, target=DisputeStatus.OPEN)
    def adjustment_refused(self) -> None:
        pass

    @transition(
        field=status, source=[DisputeStatus.OPEN, DisputeStatus.ADJUSTMENT_PENDING], target=DisputeStatus.RESOLVED
    )
    def resolve(self) -> None:
        pass
