"""Starting a deposit — what the client area's API and the staff payment-link page call.

Card: the deposit is recorded (pending, ``initiated``) with the PSP routing chose, then the PSP is
asked for a payment intent — outside any transaction, as every call to an outside system — and the
intent's id and checkout URL are stored on the deposit. The payer pays on the PSP's checkout page;
the PSP's signed callback (``/webhooks/<provider>/``) credits the wallet. The same idempotency key
returns the same deposit and the same checkout, even after a crash between the two steps (the PSP's
own idempotency key is the deposit's).

Bank: the deposit is recorded with its reference (``D-nnnnnnn``), which is what the client writes on
the transfer and what the statement matcher (``payments.services.bank``) looks for first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from accounts.capabilities import Capability, CapabilityDenied, client_require
from accounts.models import Client, TradingAccount
from audit.actions import AuditAction
from audit.services import audit_record
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny
from payments import errors
from payments.currencies import money_parse, money_str
from payments.errors import PaymentError
from payments.locks import deposit_lock
from payments.models import Channel, Deposit, DepositStatus
from payments.providers import PaymentIntent, PspError, provider_named
from payments.selectors import client_visible
from payments.services.deposits import deposit_fail, deposit_initiate
from payments.services.routing import psp_route


def deposit_can_create_link(actor: User, client: Client | None) -> Decision:
    """May make a payment link for the client (support and finance, for a client they work on):
    a card checkout or the bank details to pay to, which the client pays themselves. With no
    client: whether the actor's role may make payment links at all."""
    if not actor.is_authenticated or not actor.has_perm("ops.create_payment_links"):
        return deny(errors.PAYMENT_LINK_NOT_ALLOWED)
    if client is not None and not client_visible(actor, client.pk):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def _check_actor(requested_by: User | None, client: Client) -> None:
    if requested_by is not None:
        decision = deposit_can_create_link(requested_by, client)
        if not decision:
            raise PaymentError(decision.reason, status=403)


def _check_may_deposit(client: Client) -> None:
    try:
        client_require(client, Capability.DEPOSIT)
    except CapabilityDenied as exc:
        raise PaymentError(errors.DEPOSIT_NOT_ALLOWED.format(why=exc), field="client", status=409) from None


def _check_return_url(return_url: str) -> str:
    url = (return_url or "").strip()
    parts = urlsplit(url)
    if len(url) > 500 or parts.scheme not in ("http", "https") or not parts.netloc:
        raise PaymentError(errors.RETURN_URL_INVALID, field="return_url")
    return url


@transaction.atomic(durable=True)
def _card_deposit_open(
    *,
    client: Client,
    amount: Decimal,
    currency: str,
    trading_account: TradingAccount | None,
    idempotency_key: str,
) -> Deposit:
    """The deposit of this key: the one already started (same request), or a new one routed to a PSP."""
    existing = Deposit.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:  # deposit_initiate returns it, or refuses a different request with the key
        return deposit_initiate(
            client=client, channel=Channel.CARD, amount=amount, currency=currency, trading_account=trading_account,
            idempotency_key=idempotency_key, provider=existing.provider,
        )  # fmt: skip
    _check_may_deposit(client)
    provider = psp_route(client=client, amount=amount, currency=currency)
    return deposit_initiate(
        client=client, channel=Channel.CARD, amount=amount, currency=currency, trading_account=trading_account,
        idempotency_key=idempotency_key, provider=provider.name,
    )  # fmt: skip


@transaction.atomic(durable=True)
def _intent_record(*, deposit_id: int, intent: PaymentIntent, requested_by: User | None) -> Deposit:
    deposit = deposit_lock(deposit_id)
    if not deposit.psp_intent_id:
        deposit.psp_intent_id = intent.intent_id[:80]
        deposit.checkout_url = intent.checkout_url[:500]
        deposit.save(update_fields=["psp_intent_id", "checkout_url"])
        audit_record(
            action=AuditAction.DEPOSIT_CHECKOUT_OPENED, subject=deposit, before={"psp_intent_id": ""},
            after={"provider": deposit.provider, "psp_intent_id": deposit.psp_intent_id,
                   "checkout_url": deposit.checkout_url, "amount": str(deposit.amount), "currency": deposit.currency,
                   "payment_link_by": requested_by.get_username() if requested_by else None},
        )  # fmt: skip
    return deposit


@transaction.atomic(durable=True)
def _intent_refused(*, deposit_id: int, why: str) -> Deposit:
    deposit = deposit_lock(deposit_id)
    if deposit.status == DepositStatus.INITIATED and not deposit.psp_intent_id:
        deposit_fail(deposit=deposit, external_id="", failure_code="psp_refused", failure_message=why)
    return deposit


def deposit_start_card(
    *,
    client: Client,
    amount: object,
    currency: str,
    trading_account: TradingAccount | None = None,
    return_url: str,
    idempotency_key: str,
    requested_by: User | None = None,
) -> tuple[Deposit, str]:
    """Start a card deposit: returns the deposit (pending) and the PSP checkout URL to send the
    payer to. ``requested_by``: the staff member making a payment link (None: the client area).
    Refused (PaymentError naming the field, nothing stored) for a client whose status does not
    allow deposits (409), a bad amount or currency, a bad return URL, no PSP to route to (422);
    a PSP that refuses the intent fails the deposit and answers 502. Not to be called inside a
    transaction: the PSP is called between two of its own."""
    if not (idempotency_key or "").strip():
        raise PaymentError(errors.IDEMPOTENCY_KEY_REQUIRED, field="idempotency_key")
    key = idempotency_key.strip()[:120]
    _check_actor(requested_by, client)
    value = money_parse(amount, currency)
    code = currency.strip().upper()
    url = _check_return_url(return_url)
    deposit = _card_deposit_open(client=client, amount=value, currency=code, trading_account=trading_account,
                                 idempotency_key=key)  # fmt: skip
    if deposit.checkout_url:
        return deposit, deposit.checkout_url
    if deposit.status != DepositStatus.INITIATED:
        raise PaymentError(
            errors.DEPOSIT_ALREADY_FINAL.format(
                reference=deposit.reference, status=deposit.get_status_display().lower()
            ),
            status=409,
        )
    adapter = provider_named(deposit.provider)
    if adapter is None:  # the PSP it was routed to is no longer configured
        _intent_refused(deposit_id=deposit.pk, why=errors.PROVIDER_UNKNOWN.format(provider=deposit.provider))
        raise PaymentError(errors.PROVIDER_UNKNOWN.format(provider=deposit.provider), status=502)
    try:
        intent = adapter.payment_intent_create(
            idempotency_key=f"deposit:{deposit.pk}:intent",
            order_reference=deposit.reference,
            amount=deposit.amount,
            currency=deposit.currency,
            return_url=url,
            customer_name=client.display_name,
            customer_email=client.email,
        )
    except PspError as exc:
        _intent_refused(deposit_id=deposit.pk, why=str(exc)[:300])
        raise PaymentError(errors.PSP_REFUSED.format(why=exc, reference=deposit.reference), status=502) from None
    deposit = _intent_record(deposit_id=deposit.pk, intent=intent, requested_by=requested_by)
    return deposit, deposit.checkout_url


@dataclass(frozen=True)
class BankInstructions:
    """What the client pays to, and the reference that makes the statement line find the deposit."""

    deposit: Deposit
    reference: str
    beneficiary: str
    iban: str
    bic: str
    amount: Decimal
    currency: str

    @property
    def amount_text(self) -> str:
        return money_str(self.amount, self.currency)


def broker_bank_details(currency: str) -> tuple[str, str] | None:
    """The broker's bank account (IBAN, BIC) taking transfers in ``currency``: the first of
    ``BROKER_BANK_ACCOUNTS`` in it, the one statements are imported against."""
    bics = dict(spec.partition(":")[::2] for spec in settings.BROKER_BANK_BICS)
    for spec in settings.BROKER_BANK_ACCOUNTS:
        iban, _, ccy = spec.partition(":")
        if ccy.upper() == currency:
            iban = iban.replace(" ", "").upper()
            return iban, bics.get(iban, "")
    return None


@transaction.atomic(durable=True)
def deposit_start_bank(
    *,
    client: Client,
    amount: object,
    currency: str,
    trading_account: TradingAccount | None = None,
    idempotency_key: str | None = None,
    requested_by: User | None = None,
) -> BankInstructions:
    """Start a bank-transfer deposit: the deposit is recorded (pending) and the client is told
    where to pay and with which reference (the deposit's, which the statement matcher recognises).
    Refused like a card deposit; and when the broker takes no transfers in that currency."""
    _check_actor(requested_by, client)
    value = money_parse(amount, currency)
    code = currency.strip().upper()
    bank = broker_bank_details(code)
    if bank is None:
        raise PaymentError(errors.NO_BANK_ACCOUNT.format(currency=code), field="currency", status=422)
    replay = bool(idempotency_key) and Deposit.objects.filter(idempotency_key=idempotency_key).exists()
    if not replay:
        _check_may_deposit(client)
    deposit = deposit_initiate(
        client=client, channel=Channel.BANK, amount=value, currency=code, trading_account=trading_account,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    iban, bic = bank
    instructions = BankInstructions(
        deposit=deposit, reference=deposit.reference, beneficiary=settings.BROKER_BANK_BENEFICIARY, iban=iban, bic=bic,
        amount=deposit.amount, currency=deposit.currency,
    )  # fmt: skip
    if not replay:
        audit_record(
            action=AuditAction.DEPOSIT_BANK_INSTRUCTIONS, subject=deposit,
            after={"reference": deposit.reference, "iban": iban, "amount": str(deposit.amount),
                   "currency": deposit.currency, "payment_link_by": requested_by.get_username() if requested_by else None},
        )  # fmt: skip
    return instructions
