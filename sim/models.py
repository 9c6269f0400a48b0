"""The simulators' own state. These tables belong to the simulated outside systems, not to the back
office: the back office reaches them only through its protocols, so drift between the two is real
and detectable, and failures injected here (``*Fault``) are failures the back office really sees."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

# --- SimPay: a card PSP that signs and delivers its callbacks over HTTP like a real one ----------


def _money() -> models.DecimalField:
    return models.DecimalField(max_digits=20, decimal_places=4)


class SimPspPayment(models.Model):
    """A payment (a payment intent until it is paid: status ``pending``) at one of the simulated
    PSPs (``psp``: simpay or simpay2)."""

    payment_id = models.CharField(max_length=40, unique=True)
    order_reference = models.CharField(max_length=40, unique=True)
    amount = _money()
    currency = models.CharField(max_length=3)
    cardholder = models.CharField(max_length=200, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    status = models.CharField(max_length=12, default="pending")
    created_at = models.DateTimeField(default=timezone.now)
    psp = models.CharField(max_length=40, default="simpay")
    # the merchant's key of the intent (the same key returns the same intent), and where the payer goes back to
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    return_url = models.CharField(max_length=500, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.payment_id


class SimPspCallback(models.Model):
    """A callback the simulated PSP owes the merchant, written with the payment's outcome and sent
    over HTTP after commit (again by the beat job until the merchant answers 2xx)."""

    payment = models.ForeignKey(SimPspPayment, on_delete=models.CASCADE, related_name="callbacks")
    psp = models.CharField(max_length=40)
    event = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.psp} {self.event.get('type', '')} {self.payment_id}"


class SimPspPayout(models.Model):
    payout_id = models.CharField(max_length=40, unique=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    amount = _money()
    currency = models.CharField(max_length=3)
    destination = models.CharField(max_length=80)
    status = models.CharField(max_length=12, default="pending")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.payout_id


class SimPspRefund(models.Model):
    refund_id = models.CharField(max_length=40, unique=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    payment = models.ForeignKey(SimPspPayment, on_delete=models.PROTECT, related_name="refunds")
    amount = _money()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.refund_id


class SimPspDispute(models.Model):
    """A card scheme dispute of a payment at a simulated PSP: opened (the callback ``dispute.opened``
    is owed), answered by the merchant (``dispute_respond``: its evidence kept here), then decided
    (``dispute.closed``, won or lost)."""

    dispute_id = models.CharField(max_length=40, unique=True)
    payment = models.ForeignKey(SimPspPayment, on_delete=models.PROTECT, related_name="disputes")
    psp = models.CharField(max_length=40, default="simpay")
    amount = _money()
    currency = models.CharField(max_length=3)
    reason_code = models.CharField(max_length=20)
    reason = models.CharField(max_length=200)
    due_by = models.DateTimeField()
    status = models.CharField(max_length=20, default="needs_response")  # responded, won, lost
    response_key = models.CharField(max_length=80, blank=True)
    response_id = models.CharField(max_length=40, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.dispute_id


class SimPspFault(models.Model):
    """Tell SimPay to refuse (or to decline later) the next N calls of an operation."""

    operation = models.CharField(max_length=40, help_text="payout, refund, or * for any")
    mode = models.CharField(max_length=10, choices=[("fail", "Fail"), ("decline", "Decline later")])
    remaining = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.mode} {self.operation} x{self.remaining}"


# --- the simulated MT5-style trading platform ----------------------------------------------------


class SimPlatformAccount(models.Model):
    login = models.CharField(max_length=64, unique=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    group = models.CharField(max_length=80)
    leverage = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    trading_enabled = models.BooleanField(default=True)
    close_only = models.BooleanField(default=False)
    balance = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))
    equity = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.login


class SimPlatformPosition(models.Model):
    account = models.ForeignKey(SimPlatformAccount, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=20)
    volume = models.DecimalField(max_digits=12, decimal_places=2)
    margin = models.DecimalField(max_digits=20, decimal_places=2, default=Decimal("0"))
    open_price = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.symbol} {self.volume}"


class SimPlatformSymbol(models.Model):
    """A symbol the simulated platform trades: its contract (a lot is ``contract_size`` units of
    ``base``, priced in ``quote``; ``base`` is empty for an index) and the price it quotes now.
    Loaded from ``sim.platform.SYMBOLS`` by a data migration; ``SimulatedPlatform.set_price`` moves it."""

    symbol = models.CharField(max_length=20, unique=True)
    description = models.CharField(max_length=120, blank=True)
    contract_size = models.DecimalField(max_digits=20, decimal_places=4)
    base = models.CharField(max_length=3, blank=True)
    quote = models.CharField(max_length=3)
    bid = models.DecimalField(max_digits=20, decimal_places=8)
    ask = models.DecimalField(max_digits=20, decimal_places=8)
    quoted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return f"{self.symbol} {self.bid}/{self.ask}"


class SimPlatformBalanceOp(models.Model):
    """A deposit or withdrawal on the simulated platform, applied once per idempotency key."""

    account = models.ForeignKey(SimPlatformAccount, on_delete=models.CASCADE, related_name="balance_ops")
    idempotency_key = models.CharField(max_length=80, unique=True)
    amount = models.DecimalField(max_digits=20, decimal_places=2)
    comment = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount}"


class SimPlatformFault(models.Model):
    """Tell the simulated platform to fail or time out the next N calls of an operation."""

    operation = models.CharField(max_length=40, help_text="create_account, set_leverage, ... or * for any")
    mode = models.CharField(max_length=10, choices=[("fail", "Fail"), ("timeout", "Time out")])
    remaining = models.PositiveIntegerField(default=1)
    # For "timeout": whether the platform did the work before the answer was lost.
    applied = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.mode} {self.operation} x{self.remaining}"


class SimPlatformDeal(models.Model):
    """A deal closed on the simulated platform (made by ``sim.trading.simulate_trading``). ``ticket``
    is the platform's own sequence: its closed-deals feed reports deals in ticket order."""

    ticket = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(SimPlatformAccount, on_delete=models.CASCADE, related_name="deals")
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4)
    lots = models.DecimalField(max_digits=12, decimal_places=2)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField()
    spread = models.DecimalField(max_digits=20, decimal_places=2)
    commission = models.DecimalField(max_digits=20, decimal_places=2)
    swap = models.DecimalField(max_digits=20, decimal_places=2)
    profit = models.DecimalField(max_digits=20, decimal_places=2)
    currency = models.CharField(max_length=3)
    # What made it (the seed and the account's run), so generating the same run again adds nothing.
    run_key = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["ticket"]

    def __str__(self) -> str:
        return f"{self.ticket} {self.symbol} {self.lots}"


# --- a receiver of the back office's outbound webhooks (sim.webhooks) ----------------------------


class SimWebhookReceiver(models.Model):
    """A simulated receiving system: the secrets it verifies with (space-separated, as pasted from
    the endpoint page; several during a rotation) and how it answers."""

    class Mode(models.TextChoices):
        ACCEPT = "accept", "Accept (200)"
        FAIL = "fail", "Fail (500)"
        GONE = "gone", "Gone (410)"

    name = models.SlugField(max_length=50, unique=True)
    secrets = models.TextField(help_text="whsec_... secrets, space-separated")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ACCEPT)

    def __str__(self) -> str:
        return self.name


class SimWebhookReceipt(models.Model):
    """One request the simulated receiver got, verified or not, with what it answered."""

    receiver = models.ForeignKey(SimWebhookReceiver, on_delete=models.CASCADE, related_name="receipts")
    webhook_id = models.CharField(max_length=100, blank=True)
    webhook_timestamp = models.CharField(max_length=20, blank=True)
    signature = models.TextField(blank=True)
    body = models.TextField()
    verified = models.BooleanField()
    error = models.CharField(max_length=200, blank=True)
    answered = models.PositiveSmallIntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.webhook_id} ({self.answered})"


# --- the simulated CRM ---------------------------------------------------------------------------


class SimCrmContact(models.Model):
    crm_id = models.CharField(max_length=40, unique=True)
    external_id = models.CharField(max_length=40, unique=True, help_text="The back office's client reference.")
    fields = models.JSONField(default=dict, help_text="What the back office pushed, as it pushed it.")
    sales_stage = models.CharField(max_length=60, default="lead")
    tags = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.crm_id} ({self.external_id})"


class SimCrmUpsert(models.Model):
    """Every push the CRM accepted, by its idempotency key, with exactly what it received."""

    idempotency_key = models.CharField(max_length=80, unique=True)
    contact = models.ForeignKey(SimCrmContact, on_delete=models.CASCADE, related_name="upserts")
    received = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.idempotency_key


class SimCrmCommunication(models.Model):
    record_id = models.CharField(max_length=40, unique=True)
    contact = models.ForeignKey(SimCrmContact, on_delete=models.CASCADE, related_name="communications")
    kind = models.CharField(max_length=20, default="note")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    author = models.CharField(max_length=80, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.record_id


class SimCrmNotification(models.Model):
    """A change notification the CRM sends to the back office (its own webhook outbox)."""

    event_id = models.CharField(max_length=40, unique=True)
    contact = models.ForeignKey(SimCrmContact, on_delete=models.CASCADE, related_name="notifications")
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.event_id


class SimCrmFault(models.Model):
    """Tell the simulated CRM to fail the next N calls of an operation."""

    operation = models.CharField(max_length=40, help_text="upsert_contact, get_contact, list_changes, or * for any")
    remaining = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"fail {self.operation} x{self.remaining}"


# --- the simulated identity verification provider -----------------------------------------------


class SimIdvCheck(models.Model):
    """A check the simulated provider ran: what it was sent and the result it reached (decided from
    the document and the applicant, deterministically: see sim.idv.assess)."""

    check_id = models.CharField(max_length=40, unique=True)
    reference = models.CharField(max_length=40, unique=True, help_text="The back office's reference (idempotency key).")
    applicant = models.JSONField()
    document = models.JSONField(help_text="The document's kind, name, type, size and hash (not its bytes).")
    result = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.check_id} ({self.result.get('result', '')})"


class SimIdvNotification(models.Model):
    """A signed result the provider sends to the back office (its own webhook outbox)."""

    event_id = models.CharField(max_length=40, unique=True)
    idv_check = models.ForeignKey(SimIdvCheck, on_delete=models.CASCADE, related_name="notifications")
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.event_id


class SimIdvFault(models.Model):
    """Tell the simulated provider to fail the next N check requests: ``error`` (a 5xx) or
    ``timeout`` (no answer in time)."""

    mode = models.CharField(max_length=10, default="error", help_text="error or timeout")
    remaining = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.mode} x{self.remaining}"


# --- the simulated SMS provider (sim.sms) ---------------------------------------------------------


class SimSmsMessage(models.Model):
    """A text message the provider accepted, and its delivery result on the handset's side."""

    message_id = models.CharField(max_length=40, unique=True)
    reference = models.CharField(max_length=80, unique=True, help_text="The sender's idempotency key.")
    to = models.CharField(max_length=20)
    body = models.TextField()
    status = models.CharField(max_length=10, default="accepted")  # accepted, delivered, failed
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.message_id


class SimSmsCallback(models.Model):
    """A callback the provider sends to the back office: a delivery result or a client's reply."""

    event_id = models.CharField(max_length=40, unique=True)
    message = models.ForeignKey(SimSmsMessage, on_delete=models.CASCADE, related_name="callbacks")
    kind = models.CharField(max_length=10)  # delivery, reply
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.event_id
