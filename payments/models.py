"""The money: a double-entry ledger (accounts, immutable journal entries and postings, maintained
balances with holds) and the payment workflows on top of it (deposits, withdrawals, inbound PSP
callbacks, bank statements, reconciliation).

What the database itself guarantees, whatever the Python code does:
- postings of an entry sum to zero per currency, and an entry has at least two postings
  (deferred constraint triggers, checked at commit);
- a posting's currency is its account's currency;
- entries and postings are never updated or deleted (corrections are reversal entries);
- a non-negative account's available balance (ledger minus holds) never goes below zero, and
  holds are never negative (check constraints on the balance row).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Client, TradingAccount
from audit.history import AuditedHistoricalRecords
from audit.models import append_only_triggers
from ops.models import User


def money_field(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=20, decimal_places=4, **kwargs)


class AccountKind(models.TextChoices):
    CLIENT_WALLET = "client_wallet", "Client wallet"
    TRADING = "trading", "Client trading account"
    PSP_CLEARING = "psp_clearing", "PSP clearing"
    BANK = "bank", "Bank"
    FEES = "fees", "Fees"
    REVENUE = "revenue", "Revenue"
    SUSPENSE = "suspense", "Suspense"
    ADJUSTMENTS = "adjustments", "Balance adjustments"
    COMMISSION_EXPENSE = "commission_expense", "Partner commission expense"
    IB_PAYABLE_PENDING = "ib_payable_pending", "Partner commission payable (pending)"
    IB_PAYABLE = "ib_payable", "Partner commission payable (available)"
    # A card chargeback: what the client's wallet could not cover of the disputed amount (the client
    # owes it; one per client and currency), and what the broker lost when it could not recover it.
    CHARGEBACK_RECEIVABLE = "chargeback_receivable", "Chargeback receivable (owed by the client)"
    CHARGEBACK_LOSSES = "chargeback_losses", "Chargeback losses"


CLIENT_KINDS = (AccountKind.CLIENT_WALLET, AccountKind.TRADING)
# Assets and expenses grow with debits; what the broker owes (client money, suspense) and earns
# grows with credits. A balance is shown in its account's own direction.
DEBIT_NORMAL = (
    AccountKind.PSP_CLEARING,
    AccountKind.BANK,
    AccountKind.FEES,
    AccountKind.ADJUSTMENTS,
    AccountKind.COMMISSION_EXPENSE,
    AccountKind.CHARGEBACK_RECEIVABLE,
    AccountKind.CHARGEBACK_LOSSES,
)


class LedgerAccount(models.Model):
    code = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=24, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    name = models.CharField(max_length=200)
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts")
    trading_account = models.OneToOneField(
        TradingAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_account"
    )
    # e.g. the PSP's name for clearing accounts, the IBAN for bank accounts
    external_ref = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "currency"],
                condition=models.Q(kind="client_wallet"),
                name="ledger_one_wallet_per_currency",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=["client_wallet", "trading"]) | models.Q(client__isnull=False),
                name="ledger_client_account_has_client",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_client(self) -> bool:
        return self.kind in CLIENT_KINDS

    @property
    def sign(self) -> int:
        """The direction its balance moves with a posting (debit > 0): +1 for the debit-normal
        accounts (assets, expenses), -1 for the others (what the broker owes)."""
        return 1 if self.kind in DEBIT_NORMAL else -1


class Balance(models.Model):
    """The maintained balance of one ledger account, read in constant time. A client account's is
    updated only by the ledger service under a row lock (taken in account-id order); a house
    account's postings go to its ``BalanceBucket`` rows, which add to this row. ``ledger_verify``
    proves the sum equals the account's postings. Not history-tracked: the postings are its history."""

    account = models.OneToOneField(LedgerAccount, primary_key=True, on_delete=models.PROTECT, related_name="balance")
    currency = models.CharField(max_length=3)
    ledger = money_field(default=Decimal("0"))
    held = money_field(default=Decimal("0"))
    non_negative = models.BooleanField(default=False)
    # +1 for debit-normal accounts, -1 for credit-normal ones: ledger = sign * sum(postings)
    sign = models.SmallIntegerField(default=-1)
    postings_count = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(held__gte=0), name="balance_held_not_negative"),
            models.CheckConstraint(
                condition=models.Q(non_negative=False) | models.Q(ledger__gte=models.F("held")),
                name="balance_available_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.ledger} ({self.held} held)"

    @property
    def available(self) -> Decimal:
        return self.ledger - self.held


# How many balance rows each house account's balance is spread over (see BalanceBucket).
HOUSE_BALANCE_BUCKETS = 16


class BalanceBucket(models.Model):
    """A share of a house account's balance (PSP clearing, bank, fees, suspense...). Every payment
    posts to one of those few accounts, so one balance row each would be a lock every payment waits
    for. Each posting adds to one of the account's ``HOUSE_BALANCE_BUCKETS`` rows instead, one that no
    other open transaction holds (``payments.locks.house_balance_add``); the account's balance is its
    ``Balance`` row plus the sum of its buckets (``balance_of``, ``ledger_verify``). Client accounts
    have no buckets: their one row carries the non-negative check. Not history-tracked, like Balance."""

    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="balance_buckets")
    bucket = models.SmallIntegerField()
    ledger = money_field(default=Decimal("0"))  # in the account's own direction, like Balance.ledger
    postings_count = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "bucket"], name="balance_bucket_unique"),
            models.CheckConstraint(
                condition=models.Q(bucket__gte=0, bucket__lt=HOUSE_BALANCE_BUCKETS), name="balance_bucket_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}[{self.bucket}]: {self.ledger}"


class FxRate(models.Model):
    """The price of one ``base`` in ``quote`` from ``as_of`` (the latest rate at or before a moment
    is the rate at that moment). Commissions record the rate and its time they were converted at."""

    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=18, decimal_places=8)
    as_of = models.DateTimeField()
    source = models.CharField(max_length=40, default="manual")

    class Meta:
        ordering = ["base", "quote", "-as_of"]
        constraints = [
            models.UniqueConstraint(fields=["base", "quote", "as_of"], name="fx_rate_unique"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fx_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.rate} at {self.as_of:%Y-%m-%d %H:%M}"


class EntryKind(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    DEPOSIT_SUSPENSE = "deposit_suspense", "Deposit held in suspense"
    DEPOSIT_RELEASE = "deposit_release", "Deposit released from suspense"
    REFUND = "refund", "Refund"
    WITHDRAWAL = "withdrawal", "Withdrawal paid"
    TRANSFER = "transfer", "Internal transfer"
    ADJUSTMENT = "adjustment", "Balance correction"
    SETTLEMENT = "settlement", "PSP settlement"
    FEE = "fee", "Fee"
    REVERSAL = "reversal", "Reversal"
    OPENING = "opening", "Opening balance"
    COMMISSION = "commission", "Partner commission"
    COMMISSION_RELEASE = "commission_release", "Partner commission released"
    COMMISSION_PAYOUT = "commission_payout", "Partner commission paid out"
    CHARGEBACK = "chargeback", "Chargeback"
    CHARGEBACK_WRITE_OFF = "chargeback_loss", "Chargeback written off"


# Postings of an entry must sum to zero per currency, and there must be at least two, by commit.
BALANCED_ENTRY_SQL = """
    IF EXISTS (
        SELECT 1 FROM payments_posting p WHERE p.entry_id = NEW.entry_id
        GROUP BY p.currency HAVING SUM(p.amount) <> 0
    ) THEN
        RAISE EXCEPTION 'journal entry % does not balance', NEW.entry_id USING ERRCODE = '23514';
    END IF;
    IF (SELECT COUNT(*) FROM payments_posting p WHERE p.entry_id = NEW.entry_id) < 2 THEN
        RAISE EXCEPTION 'journal entry % has fewer than two postings', NEW.entry_id USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
"""

ENTRY_HAS_POSTINGS_SQL = """
    IF (SELECT COUNT(*) FROM payments_posting p WHERE p.entry_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'journal entry % has fewer than two postings', NEW.id USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
"""

POSTING_CURRENCY_SQL = """
    IF NEW.currency <> (SELECT a.currency FROM payments_ledgeraccount a WHERE a.id = NEW.account_id) THEN
        RAISE EXCEPTION 'posting currency % differs from its account''s', NEW.currency USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
"""


class JournalEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    # SHA-256 of what was asked, so a replayed key with a different body is told apart (422).
    request_hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    memo = models.CharField(max_length=300)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    # what caused it, e.g. "payments.deposit:42"
    source = models.CharField(max_length=80, blank=True, db_index=True)
    actor_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "journal entries"
        # a period's entries (the reports), and those made since a moment (client money as of a date)
        indexes = [models.Index(fields=["created_at"], name="entry_created_idx")]
        triggers = [
            *append_only_triggers(),
            pgtrigger.Trigger(
                name="entry_has_postings",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func=ENTRY_HAS_POSTINGS_SQL,
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.memo}"


class Posting(models.Model):
    id = models.BigAutoField(primary_key=True)
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    currency = models.CharField(max_length=3)
    amount = money_field()  # debit > 0, credit < 0 (assets' convention)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "id"], name="posting_account_idx")]
        constraints = [models.CheckConstraint(condition=~models.Q(amount=0), name="posting_amount_not_zero")]
        triggers = [
            *append_only_triggers(),
            pgtrigger.Trigger(
                name="posting_currency_matches_account",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func=POSTING_CURRENCY_SQL,
            ),
            pgtrigger.Trigger(
                name="entry_balanced",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func=BALANCED_ENTRY_SQL,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.currency}"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    CAPTURED = "captured", "Captured"


class Hold(models.Model):
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="holds")
    amount = money_field()
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default=HoldStatus.ACTIVE)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive")]

    def __str__(self) -> str:
        return f"hold {self.pk}: {self.amount} ({self.status})"


# ---------------------------------------------------------------------------------------------
# Deposits


class Channel(models.TextChoices):
    CARD = "card", "Card"
    BANK = "bank", "Bank transfer"


class DepositStatus(models.TextChoices):
    INITIATED = "initiated", "Initiated"
    CREDITED = "credited", "Credited"
    FAILED = "failed", "Failed"
    REVIEW = "review", "Held for review"
    REFUNDED = "refunded", "Refunded"


class Deposit(ConcurrentTransitionMixin, models.Model):
    reference = models.CharField(max_length=20, unique=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="deposits")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    amount = money_field()
    currency = models.CharField(max_length=3)
    status = FSMField(max_length=12, choices=DepositStatus.choices, default=DepositStatus.INITIATED, protected=True)
    # the PSP's payment id, or the bank statement line's id
    external_id = models.CharField(max_length=120, null=True, blank=True)  # noqa: DJ001 - unique when set
    trading_account = models.ForeignKey(
        TradingAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="deposits"
    )
    payer_name = models.CharField(max_length=200, blank=True)
    payer_account = models.CharField(max_length=80, blank=True)  # card fingerprint/last4, or IBAN
    name_score = models.PositiveSmallIntegerField(null=True, blank=True)
    review_reason = models.CharField(max_length=200, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    # A returned deposit: the PSP's refund id (card), or the reference the bank return's payment
    # order carries (RET-<deposit reference>), which the statement's debit line is matched by.
    refund_reference = models.CharField(max_length=80, blank=True)
    entry = models.ForeignKey(JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    # A card deposit: the PSP routing chose (its adapter's name; its callbacks must come from it),
    # the payment intent the PSP opened for it and the checkout page the payer pays on.
    provider = models.CharField(max_length=40, blank=True)
    psp_intent_id = models.CharField(max_length=80, blank=True)
    checkout_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="deposit_external_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="deposit_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["client", "created_at"], name="deposit_client_idx"),
            # the reports list a period's deposits in the order they started
            models.Index(fields=["created_at", "id"], name="deposit_created_idx"),
            # a client's credited deposits in time order (its first-time deposit, whether it has
            # deposited by a date), read from the index alone
            models.Index(
                fields=["client", "completed_at", "id"],
                include=["currency", "amount"],
                condition=models.Q(status="credited", completed_at__isnull=False),
                name="deposit_credited_idx",
            ),
            models.Index(
                fields=["refund_reference"], name="deposit_refund_ref_idx", condition=~models.Q(refund_reference="")
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return f"/payments/deposits/{self.pk}/"

    @transition(field=status, source=[DepositStatus.INITIATED, DepositStatus.REVIEW], target=DepositStatus.CREDITED)
    def credit(self) -> None:
        pass

    @transition(field=status, source=DepositStatus.INITIATED, target=DepositStatus.FAILED)
    def fail(self) -> None:
        pass

    @transition(field=status, source=DepositStatus.INITIATED, target=DepositStatus.REVIEW)
    def hold_for_review(self) -> None:
        pass

    @transition(field=status, source=DepositStatus.REVIEW, target=DepositStatus.REFUNDED)
    def refund(self) -> None:
        pass


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (no effect)"
    FAILED = "failed", "Failed (in a queue)"


class InboundEvent(models.Model):
    """A verified PSP callback, stored before it is processed; the (provider, event id) pair is
    unique, so a repeated delivery is recognised and has no second effect."""

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=120)
    event_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=120, blank=True)
    payload = models.JSONField()
    event_created = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    deliveries = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    result = models.CharField(max_length=300, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="inbound_event_unique")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} {self.event_type}"


# ---------------------------------------------------------------------------------------------
# Bank statements


class StatementImport(models.Model):
    bank_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="statements")
    format = models.CharField(max_length=10)
    filename = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True)
    statement_id = models.CharField(max_length=80, blank=True)
    lines_total = models.PositiveIntegerField(default=0)
    lines_new = models.PositiveIntegerField(default=0)
    # The bank's balances and their dates, as the file gives them (a file may give none): the import
    # checks that the lines lead from one to the other, and that the opening balance is the closing
    # balance of the account's statement before it.
    opening_balance = money_field(null=True, blank=True)
    opening_on = models.DateField(null=True, blank=True)
    closing_balance = money_field(null=True, blank=True)
    closing_on = models.DateField(null=True, blank=True)
    imported_by = models.CharField(max_length=150)
    imported_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.format})"


class LineStatus(models.TextChoices):
    NEW = "new", "New"
    MATCHED = "matched", "Matched"
    SUSPENSE = "suspense", "In suspense"
    IGNORED = "ignored", "Ignored"


class StatementLine(models.Model):
    bank_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="statement_lines")
    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="lines")
    external_id = models.CharField(max_length=120)
    booked_on = models.DateField()
    amount = money_field()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=500, blank=True)
    counterparty_name = models.CharField(max_length=200, blank=True)
    counterparty_account = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=10, choices=LineStatus.choices, default=LineStatus.NEW)
    matched_to = models.CharField(max_length=80, blank=True)  # e.g. "payments.deposit:12"
    match_rule = models.CharField(max_length=40, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["booked_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "external_id"], name="statement_line_unique"),
        ]
        indexes = [
            models.Index(fields=["matched_to"], name="statement_line_matched_idx", condition=~models.Q(matched_to=""))
        ]

    def __str__(self) -> str:
        return f"{self.booked_on} {self.amount} {self.currency} {self.reference[:40]}"

    def get_absolute_url(self) -> str:
        return f"/payments/statements/?line={self.pk}"


# ---------------------------------------------------------------------------------------------
# Withdrawals


class WithdrawalStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    UNDER_REVIEW = "under_review", "Under review"
    APPROVED = "approved", "Approved"
    PROCESSING = "processing", "Payout sent"
    PAID = "paid", "Paid"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Payout failed"


class Approval(models.TextChoices):
    AUTO = "auto", "Automatic"
    FINANCE = "finance", "One finance approval"
    FINANCE_COMPLIANCE = "finance_compliance", "Finance, then compliance"


class WithdrawalPolicy(models.Model):
    """The approval rule table, one row per currency. Admins change it through maker-checker
    (``payments.policy_change``); history keeps every version."""

    currency = models.CharField(max_length=3, unique=True)
    minimum = money_field()
    maximum = money_field()
    auto_approve_max = money_field(help_text="Low-risk repeat withdrawals up to this are automatic.")
    compliance_above = money_field(help_text="Above this, finance then compliance approve.")
    velocity_count_24h = models.PositiveIntegerField(default=3)
    velocity_amount_24h = money_field()
    quick_withdrawal_hours = models.PositiveIntegerField(
        default=48, help_text="A withdrawal this soon after a deposit, with no trading, needs review."
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["currency"]
        verbose_name_plural = "withdrawal policies"

    def __str__(self) -> str:
        return f"{self.currency} withdrawal policy"


class Withdrawal(ConcurrentTransitionMixin, models.Model):
    reference = models.CharField(max_length=20, unique=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="withdrawals")
    source = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="withdrawals")
    amount = money_field()
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=8, choices=Channel.choices)
    destination = models.CharField(max_length=80)  # card fingerprint or IBAN
    destination_name = models.CharField(max_length=200)
    status = FSMField(
        max_length=14, choices=WithdrawalStatus.choices, default=WithdrawalStatus.RECEIVED, protected=True
    )
    checks = models.JSONField(default=list)  # [{"check", "ok", "detail"}]
    flags = models.JSONField(default=list)  # soft findings that raise the approval level
    approval = models.CharField(max_length=20, choices=Approval.choices)
    # the maker-checker request (action ``payments.withdrawal``) while and after it is reviewed
    approval_request = models.ForeignKey(
        "ops.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="withdrawal")
    payout_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    voucher = models.CharField(max_length=120, blank=True)  # the PSP's payout id / bank payment reference
    executed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason_code = models.CharField(max_length=40, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    # the staff member who entered the request for the client (None: the client, through the API)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="withdrawal_amount_positive")]
        indexes = [
            models.Index(fields=["client", "created_at"], name="withdrawal_client_idx"),
            # the reports list a period's withdrawals in the order they started
            models.Index(fields=["created_at", "id"], name="withdrawal_created_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return f"/payments/withdrawals/{self.pk}/"

    @transition(field=status, source=WithdrawalStatus.RECEIVED, target=WithdrawalStatus.UNDER_REVIEW)
    def send_to_review(self) -> None:
        pass

    @transition(
        field=status,
        source=[WithdrawalStatus.RECEIVED, WithdrawalStatus.UNDER_REVIEW],
        target=WithdrawalStatus.APPROVED,
    )
    def approve(self) -> None:
        pass

    @transition(
        field=status,
        source=[WithdrawalStatus.RECEIVED, WithdrawalStatus.UNDER_REVIEW, WithdrawalStatus.APPROVED],
        target=WithdrawalStatus.REJECTED,
    )
    def reject(self) -> None:
        pass

    @transition(field=status, source=WithdrawalStatus.APPROVED, target=WithdrawalStatus.PROCESSING)
    def send_payout(self) -> None:
        pass

    @transition(field=status, source=WithdrawalStatus.PROCESSING, target=WithdrawalStatus.PAID)
    def mark_paid(self) -> None:
        pass

    @transition(field=status, source=WithdrawalStatus.PROCESSING, target=WithdrawalStatus.FAILED)
    def mark_failed(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# PSP settlement reports (reconciliation)


class SettlementLine(models.Model):
    """One line of a PSP settlement report: a payment or payout the PSP says it settled, in a
    batch that arrives on the bank statement as one credit (net of fees)."""

    provider = models.CharField(max_length=40)
    batch_id = models.CharField(max_length=80)
    psp_reference = models.CharField(max_length=120)
    kind = models.CharField(max_length=10)  # payment, payout, refund
    gross = money_field()
    fee = money_field(default=Decimal("0"))
    currency = models.CharField(max_length=3)
    settled_on = models.DateField()
    status = models.CharField(max_length=10, choices=LineStatus.choices, default=LineStatus.NEW)
    matched_to = models.CharField(max_length=80, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["settled_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "psp_reference", "kind"], name="settlement_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.psp_reference} {self.gross} {self.currency}"


class ReconciliationBreak(models.Model):
    """A difference between two sides that a person must look at; one per (kind, key) while open.
    The work item in ``reconciliation_break`` points at it and shows both sides."""

    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=160)
    ours = models.JSONField(default=dict)
    theirs = models.JSONField(default=dict)
    difference = money_field(default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True)
    found_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=models.Q(resolved_at__isnull=True), name="recon_break_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

    def get_absolute_url(self) -> str:
        return f"/payments/breaks/{self.pk}/"


class RoutingTable(models.Model):
    """The card routing table as one thing a change is asked for on: adding a rule is a
    maker-checker request on the table (``payments.routing_rule_add``), changing or disabling one a
    request on the rule (``payments.routing_rule_change``)."""

    channel = models.CharField(max_length=8, choices=Channel.choices, unique=True)

    def __str__(self) -> str:
        return f"{Channel(self.channel).label} routing"

    def get_absolute_url(self) -> str:
        return "/payments/routing/"


class RoutingRule(models.Model):
    """Which PSP takes a card deposit: enabled rules are tried by ``priority`` (lowest first, then
    oldest); the first whose currency, client country and amount range all match names the
    provider. An empty currency or country list matches any; amount bounds are in the rule's
    currency (a rule with bounds names one). Changed only through maker-checker."""

    priority = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, blank=True)
    countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    min_amount = money_field(null=True, blank=True)
    max_amount = money_field(null=True, blank=True)
    provider = models.CharField(max_length=40)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_amount__isnull=True)
                | models.Q(max_amount__isnull=True)
                | models.Q(min_amount__lte=models.F("max_amount")),
                name="routing_rule_min_le_max",
            ),
            models.CheckConstraint(
                condition=(models.Q(min_amount__isnull=True) & models.Q(max_amount__isnull=True))
                | ~models.Q(currency=""),
                name="routing_rule_bounds_need_currency",
            ),
        ]

    def __str__(self) -> str:
        return f"Routing rule {self.priority} → {self.provider}"

    def get_absolute_url(self) -> str:
        return "/payments/routing/"


# ---------------------------------------------------------------------------------------------
# Chargebacks


class ChargebackStatus(models.TextChoices):
    OPENED = "opened", "Opened"
    EVIDENCE_SUBMITTED = "evidence_submitted", "Response sent"
    WON = "won", "Won"
    LOST = "lost", "Lost"


CHARGEBACK_OPEN = (ChargebackStatus.OPENED, ChargebackStatus.EVIDENCE_SUBMITTED)


class ChargebackCase(ConcurrentTransitionMixin, models.Model):
    """A card scheme dispute of a credited card deposit, opened by the PSP's ``dispute.opened``
    callback (one case per PSP dispute id). Opening it takes the disputed amount back from the
    client (``opened_entry``: PSP clearing credited; the client's wallet debited as far as its
    available balance goes, the rest to the client's chargeback receivable) and stops the client's
    withdrawals until it closes. The response (the evidence pack) goes to the PSP through its
    adapter; the PSP's ``dispute.closed`` says won (the opening entry is reversed) or lost (what the
    receivable holds is written off)."""

    reference = models.CharField(max_length=20, unique=True)
    provider = models.CharField(max_length=40)
    dispute_id = models.CharField(max_length=120)
    deposit = models.ForeignKey(Deposit, on_delete=models.PROTECT, related_name="chargebacks")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="chargebacks")
    amount = money_field()
    currency = models.CharField(max_length=3)
    reason_code = models.CharField(max_length=20, blank=True)  # the scheme's, e.g. Visa 10.4
    reason = models.CharField(max_length=200, blank=True)
    network = models.CharField(max_length=20, blank=True)
    due_at = models.DateTimeField(help_text="The scheme's deadline for the response.")
    status = FSMField(max_length=20, choices=ChargebackStatus.choices, default=ChargebackStatus.OPENED, protected=True)
    from_wallet = money_field(default=Decimal("0"))
    to_receivable = money_field(default=Decimal("0"))
    opened_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="+")
    closing_entry = models.ForeignKey(JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # the response: the evidence pack as sent, its SHA-256, who sent it, and the PSP's receipt
    evidence = models.JSONField(default=dict, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    response_note = models.TextField(blank=True)
    response_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    response_id = models.CharField(max_length=120, blank=True)
    responded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    responded_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "dispute_id"], name="chargeback_dispute_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="chargeback_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(from_wallet__gte=0, to_receivable__gte=0)
                & models.Q(amount=models.F("from_wallet") + models.F("to_receivable")),
                name="chargeback_split_adds_up",
            ),
        ]
        indexes = [models.Index(fields=["client", "status"], name="chargeback_client_idx")]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return f"/payments/chargebacks/{self.pk}/"

    @property
    def is_open(self) -> bool:
        return self.status in CHARGEBACK_OPEN

    @transition(field=status, source=ChargebackStatus.OPENED, target=ChargebackStatus.EVIDENCE_SUBMITTED)
    def submit_evidence(self) -> None:
        pass

    @transition(field=status, source=list(CHARGEBACK_OPEN), target=ChargebackStatus.WON)
    def win(self) -> None:
        pass

    @transition(field=status, source=list(CHARGEBACK_OPEN), target=ChargebackStatus.LOST)
    def lose(self) -> None:
        pass
