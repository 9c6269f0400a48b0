from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol


class PspError(Exception):
    """The PSP refused the call; nothing was done on its side."""


class SignatureError(Exception):
    """A callback whose signature is missing, wrong or stale; the message says which
    (``payments.errors.SIGNATURE_*``)."""


@dataclass(frozen=True)
class ProviderEvent:
    """A verified callback in the back office's terms, as the inbox stores it.

    ``payload`` is the event as ``payments.services.webhooks`` applies it: ``{"id", "type",
    "created", "data": {"object": {...}}}`` with the types ``payment.succeeded`` /
    ``payment.failed`` (object: ``id``, ``order_reference`` = the deposit's reference, ``amount``,
    ``currency``, ``cardholder``, ``card_fingerprint`` or ``card_last4``, ``failure_code``,
    ``failure_message``) and ``payout.paid`` / ``payout.failed`` (object: ``id`` = the voucher,
    ``idempotency_key`` = the withdrawal's payout key, ``failure_code``), and the card scheme
    disputes ``dispute.opened`` (object: ``id`` = the PSP's dispute id, ``payment`` = the disputed
    payment's id, i.e. the card deposit's external id, ``amount``, ``currency``, ``reason_code``,
    ``reason``, ``network``, ``evidence_due_by`` = the scheme's deadline in Unix seconds) and
    ``dispute.closed`` (object: ``id``, ``status`` = ``won`` or ``lost``). An adapter whose PSP
    speaks otherwise translates into this."""

    event_id: str
    event_type: str
    object_id: str
    created: datetime | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class SettlementItem:
    """One line of a PSP's settlement report: money it settled to the broker in a batch (whose net
    the bank statement shows as one credit)."""

    batch_id: str
    psp_reference: str  # for a payment: the PSP's payment id, the card deposit's external id
    kind: str  # "payment" is checked against its card deposit; other kinds (refunds...) count in the batch
    gross: Decimal
    fee: Decimal
    currency: str
    settled_on: date


@dataclass(frozen=True)
class PaymentIntent:
    """A payment the PSP is ready to take: the payer pays it on the PSP's own checkout page at
    ``checkout_url``; the callbacks for it carry ``intent_id`` as the payment's id."""

    intent_id: str
    checkout_url: str


class PaymentProvider(Protocol):
    """What the back office needs from a payment service provider (one adapter per channel)."""

    # Stored on what the provider touches (inbox events, settlement lines, its clearing account),
    # and the path of its callbacks: /webhooks/<name>/.
    name: str
    # The HTTP header of a callback that carries its signature.
    signature_header: str

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        """Check the callback's signature and freshness; SignatureError says what is wrong."""
        ...

    def webhook_parse(self, body: bytes) -> ProviderEvent:
        """The verified body as an event; ValueError (or KeyError, TypeError) for a body that is not one."""
        ...

    def payment_intent_create(
        self,
        *,
        idempotency_key: str,
        order_reference: str,
        amount: Decimal,
        currency: str,
        return_url: str,
        customer_name: str,
        customer_email: str,
    ) -> PaymentIntent:
        """Ask the PSP for a checkout of ``amount`` for one of our deposits (``order_reference`` is
        the deposit's reference, which its callbacks carry); the payer is sent back to
        ``return_url`` once they paid or gave up. The same key returns the same intent, so a retry
        after a lost answer opens no second checkout. PspError: refused."""
        ...

    def payout_create(self, *, idempotency_key: str, amount: Decimal, currency: str, destination: str) -> str:
        """Ask the PSP to pay out; returns its payout id (the voucher). The same key returns the
        same payout, so a retry after a lost answer pays nothing twice. PspError: refused."""
        ...

    def refund_create(self, *, idempotency_key: str, payment_id: str, amount: Decimal, currency: str) -> str:
        """Give (part of) a card payment back to the card; returns the PSP's refund id. The same
        key returns the same refund. PspError: refused (unknown payment, more than is left...)."""
        ...

    def dispute_respond(self, *, idempotency_key: str, dispute_id: str, evidence: dict[str, Any]) -> str:
        """Send the response to a card dispute (the evidence pack, JSON-serialisable) before its
        deadline; returns the PSP's id of the submission. The same key returns the same submission.
        PspError: refused (unknown dispute, already closed, deadline passed...)."""
        ...

    def settlement_parse(self, data: bytes) -> list[SettlementItem]:
        """The lines of a settlement report file in the PSP's format; ValueError saying what (and
        which line) is wrong for a file that is not one."""
        ...
