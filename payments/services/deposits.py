"""Deposits on two channels — card through the PSP (signed callbacks) and bank transfer (matched
from imported statements) — with the payer-name check: money from someone else than the account
holder is not credited but held in suspense for a person to decide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast
from django.utils import timezone
from rapidfuzz import fuzz

from accounts.capabilities import Capability, CapabilityDenied, client_require
from accounts.models import Client, ClientKind, PartyRole, TradingAccount
from audit.actions import AuditAction
from audit.history import bulk_update_audited
from audit.services import Change, audit_record, audit_record_many
from kyc.screening.matcher import normalise
from ops.models import OPEN_STATUSES, RiskLevel, User, WorkItem
from ops.permissions import ALLOWED, Decision, deny
from ops.services.interactions import Notice, client_notify, client_notify_many
from ops.services.work_items import work_item_open, work_item_resolve_for_subject, work_items_open_for
from payments import errors
from payments.currencies import money_parse, money_str
from payments.errors import IdempotencyConflict, PaymentError
from payments.locks import deposit_lock
from payments.models import AccountKind, Channel, Deposit, DepositStatus, EntryKind, LedgerAccount
from payments.providers import get_provider, provider_named
from payments.selectors import client_visible
from payments.services.ledger import (
    Post,
    credit,
    debit,
    house_account,
    ledger_post,
    ledger_post_many,
    request_hash,
    trading_ledger_account_for,
    wallets_for,
)

REFUND_REASONS = {
    "third_party": "payments from third parties are not accepted",
    "name_mismatch": "the payer's name does not match the account holder",
    "unknown_client": "we could not identify the account it was meant for",
    "client_request": "you asked us to return it",
}


def next_reference(prefix: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('payments_reference_seq')")
        row = cursor.fetchone()
    assert row is not None
    return f"{prefix}-{row[0]:07d}"


def payer_name_score(client: Client, payer_name: str) -> int:
    """How well the payer's name matches the account holder (0-100): the client's own name, or
    for a corporate its legal name and the people authorised to act for it."""
    candidates = [client.display_name]
    if client.legal_name:
        candidates.append(client.legal_name)
    if client.kind == ClientKind.CORPORATE:
        candidates += [
            p.name
            for p in client.parties.filter(
                role__in=[PartyRole.DIRECTOR, PartyRole.SIGNATORY, PartyRole.BENEFICIAL_OWNER]
            )
        ]
    payer = normalise(payer_name)
    if not payer:
        return 0
    return int(max(fuzz.token_set_ratio(payer, normalise(c)) for c in candidates if c))


def _snapshot(deposit: Deposit) -> dict[str, Any]:
    return {"status": deposit.status, "amount": str(deposit.amount), "currency": deposit.currency}


def _context(deposit: Deposit) -> dict[str, Any]:
    client = deposit.client
    return {
        "name": client.display_name,
        "reference": client.reference,
        "deposit": deposit.reference,
        "amount": money_str(deposit.amount, deposit.currency),
        "channel": "card" if deposit.channel == Channel.CARD else "bank transfer",
        "destination": f"trading account {deposit.trading_account.login}" if deposit.trading_account else "wallet",
    }


@transaction.atomic
def deposit_initiate(
    *,
    client: Client,
    channel: str,
    amount: object,
    currency: str,
    trading_account: TradingAccount | None = None,
    idempotency_key: str | None = None,
    provider: str = "",
) -> Deposit:
    """Record that the client is paying in (the client area does this before sending the client
    to the PSP's checkout, or shows the bank details with the deposit reference). ``provider``: the
    card PSP routing chose (see ``payments.services.deposit_start``)."""
    if channel not in Channel.values:
        raise PaymentError(
            errors.UNKNOWN_CHANNEL.format(channel=channel, choices=", ".join(Channel.values)), field="channel"
        )
    value = money_parse(amount, currency)
    currency = currency.strip().upper()
    fingerprint = request_hash(
        {"client": client.pk, "channel": channel, "amount": str(value), "currency": currency,
         "trading_account": trading_account.pk if trading_account else None}
    )  # fmt: skip
    if idempotency_key:
        existing = Deposit.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise IdempotencyConflict(idempotency_key)
            return existing
    try:
        client_require(client, Capability.DEPOSIT)
    except CapabilityDenied as exc:
        raise PaymentError(errors.DEPOSIT_NOT_ALLOWED.format(why=exc), field="client", status=409) from None
    if trading_account is not None and (trading_account.client_id != client.pk or trading_account.currency != currency):
        raise PaymentError(
            "trading_account: not one of the client's accounts in that currency.", field="trading_account"
        )
    deposit = Deposit.objects.create(
        reference=next_reference("D"),
        client=client,
        channel=channel,
        amount=value,
        currency=currency,
        trading_account=trading_account,
        idempotency_key=idempotency_key or None,
        request_hash=fingerprint,
        provider=provider,
    )
    after = _snapshot(deposit) | {"channel": channel} | ({"provider": provider} if provider else {})
    audit_record(action=AuditAction.DEPOSIT_INITIATED, subject=deposit, after=after)
    return deposit


@dataclass(frozen=True)
class Receipt:
    """Money that arrived for a deposit, which the caller has locked."""

    deposit: Deposit
    source: LedgerAccount
    external_id: str
    payer_name: str
    payer_account: str
    amount: Decimal


def deposit_receive(
    *,
    deposit: Deposit,
    source: LedgerAccount,
    external_id: str,
    payer_name: str,
    payer_account: str,
    amount: Decimal,
) -> Deposit:
    """Money arrived for a deposit (locked by the caller): credit it, or — when the payer is not
    the account holder or the amount differs — hold it in suspense and open a deposit exception."""
    return deposits_receive([Receipt(deposit, source, external_id, payer_name, payer_account, amount)])[0]


def deposits_receive(receipts: Sequence[Receipt]) -> list[Deposit]:
    """What ``deposit_receive`` does, for several deposits at once (each locked by the caller, each
    once): the ones whose money is in order are credited together (``_credit_many``), each other one
    is held for review on its own."""
    credits: list[tuple[Deposit, LedgerAccount, dict[str, Any]]] = []
    for receipt in receipts:
        deposit, amount, payer_name = receipt.deposit, receipt.amount, receipt.payer_name
        before = _snapshot(deposit)
        deposit.external_id = receipt.external_id
        deposit.payer_name = payer_name[:200]
        deposit.payer_account = receipt.payer_account[:80]
        score = payer_name_score(deposit.client, payer_name)
        deposit.name_score = score
        problem = ""
        if amount != deposit.amount:
            problem = f"received {money_str(amount, deposit.currency)}, expected {money_str(deposit.amount, deposit.currency)}"
            deposit.amount = amount
        elif score < settings.PAYER_NAME_THRESHOLD:
            problem = f"payer name {payer_name!r} does not match the account holder (similarity {score}/100)"
        if problem:
            _hold(deposit, source=receipt.source, amount=amount, problem=problem, before=before)
        else:
            credits.append((deposit, receipt.source, before))
    _credit_many(credits, kind=EntryKind.DEPOSIT, reason="")
    return [receipt.deposit for receipt in receipts]


def _hold(deposit: Deposit, *, source: LedgerAccount, amount: Decimal, problem: str, before: dict[str, Any]) -> None:
    """Hold the money in suspense and open a deposit exception for a person to decide."""
    score, payer_name = deposit.name_score or 0, deposit.payer_name
    suspense = house_account(AccountKind.SUSPENSE, deposit.currency)
    entry = ledger_post(
        key=f"deposit:{deposit.pk}:suspense",
        kind=EntryKind.DEPOSIT_SUSPENSE,
        memo=f"{deposit.reference} held: {problem}",
        lines=[debit(source, amount), credit(suspense, amount)],
        source=f"payments.deposit:{deposit.pk}",
    )
    deposit.entry = entry
    deposit.review_reason = problem[:200]
    deposit.hold_for_review()
    deposit.save()
    work_item_open(
        queue="deposit_exception",
        subject=deposit,
        title=f"Deposit {deposit.reference} held: {problem}"[:200],
        risk_level=RiskLevel.HIGH if score < 50 else RiskLevel.MEDIUM,
        amount_at_stake=amount,
        details={"payer_name": payer_name, "account_holder": deposit.client.display_name, "score": score},
    )
    audit_record(
        action=AuditAction.DEPOSIT_HELD,
        subject=deposit,
        before=before,
        after=_snapshot(deposit) | {"entry": entry.pk, "payer_name": payer_name, "score": score},
        reason=problem,
    )
    client_notify(
        subject=deposit.client, recipient=deposit.client.email, template="payments.deposit_under_review",
        context=_context(deposit),
    )  # fmt: skip


# What crediting changes on a deposit (a superset of it: the receipt's fields too).
_CREDIT_FIELDS = ["status", "entry", "completed_at", "external_id", "payer_name", "payer_account", "name_score"]


def _credit_many(
    credits: Sequence[tuple[Deposit, LedgerAccount, dict[str, Any]]], *, kind: EntryKind, reason: str
) -> None:
    """Credit each (deposit, source, its snapshot before) to its client's wallet: one journal entry
    each, posted together (``ledger_post_many``), the deposits and their history rows written in
    two statements, their audit events in one, a notification each; a deposit for a trading account
    is then moved there (one transfer each)."""
    from payments.services.transfers import move_to_trading_account

    if not credits:
        return
    wallets = wallets_for([(deposit.client, deposit.currency) for deposit, _, _ in credits])
    # The clients are told first: the ledger (which locks their wallets until the transaction ends)
    # comes as late as it can, so that a batch holds those rows for its last few statements only.
    client_notify_many(
        [
            Notice(deposit.client, deposit.client.email, "payments.deposit_credited", _context(deposit))
            for deposit, _, _ in credits
        ]
    )
    entries = ledger_post_many(
        [
            Post(
                key=f"deposit:{deposit.pk}:credit",
                kind=kind,
                memo=f"{deposit.reference} {deposit.get_channel_display()} deposit",
                lines=[debit(source, deposit.amount), credit(wallet, deposit.amount)],
                source=f"payments.deposit:{deposit.pk}",
            )
            for (deposit, source, _), wallet in zip(credits, wallets, strict=True)
        ]
    )
    now = timezone.now()
    for (deposit, _, _), entry in zip(credits, entries, strict=True):
        deposit.entry = entry
        deposit.credit()
        deposit.completed_at = now
    bulk_update_audited([deposit for deposit, _, _ in credits], Deposit, _CREDIT_FIELDS)
    changes = []
    for (deposit, _, before), entry, wallet in zip(credits, entries, wallets, strict=True):
        after = _snapshot(deposit) | {"entry": entry.pk, "payer_name": deposit.payer_name, "score": deposit.name_score}
        if deposit.trading_account is not None:
            moved = move_to_trading_account(
                wallet=wallet,
                trading=trading_ledger_account_for(account=deposit.trading_account),
                amount=deposit.amount,
                key=f"deposit:{deposit.pk}:to-trading",
                memo=f"{deposit.reference} to trading account",
            )
            after["transfer_entry"] = moved.pk
        changes.append(Change(AuditAction.DEPOSIT_CREDITED, deposit, before=before, after=after, reason=reason))
    audit_record_many(changes)


def deposit_fail(*, deposit: Deposit, external_id: str, failure_code: str, failure_message: str) -> Deposit:
    before = _snapshot(deposit)
    deposit.external_id = external_id
    deposit.failure_code = failure_code[:60] or "unknown"
    deposit.failure_message = failure_message[:300]
    deposit.fail()
    deposit.completed_at = timezone.now()
    deposit.save()
    audit_record(
        action=AuditAction.DEPOSIT_FAILED,
        subject=deposit,
        before=before,
        after=_snapshot(deposit) | {"failure_code": deposit.failure_code},
    )
    client_notify(
        subject=deposit.client, recipient=deposit.client.email, template="payments.deposit_failed",
        context=_context(deposit) | {"failure": deposit.failure_message or deposit.failure_code.replace("_", " ")},
    )  # fmt: skip
    return deposit


def _held_deposit_decision(actor: User, deposit: Deposit, *, verb: str, done: str) -> Decision:
    if not actor.has_perm("ops.handle_deposits"):
        return deny(errors.NOT_ALLOWED.format(verb=f"{verb} held deposits"))
    if deposit.status != DepositStatus.REVIEW:
        return deny(_bad_state(deposit, done))
    if not client_visible(actor, deposit.client_id):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def deposit_can_release(actor: User, deposit: Deposit) -> Decision:
    """May credit a held deposit to the client (finance, on a deposit held for review)."""
    return _held_deposit_decision(actor, deposit, verb="release", done="released")


def deposit_can_refund(actor: User, deposit: Deposit) -> Decision:
    """May return a held deposit to the payer (finance, on a deposit held for review)."""
    return _held_deposit_decision(actor, deposit, verb="return", done="returned")


def _bad_state(deposit: Deposit, done: str) -> str:
    return errors.DEPOSIT_BAD_STATE.format(
        reference=deposit.reference, status=deposit.get_status_display().lower(), verb=done
    )


def _enforce(decision: Decision, deposit: Deposit, done: str) -> None:
    """A deposit no longer held is a conflict (409); any other refusal is the actor's (403)."""
    if deposit.status != DepositStatus.REVIEW:
        raise PaymentError(_bad_state(deposit, done), status=409)
    if not decision:
        raise PaymentError(decision.reason, status=403)


@transaction.atomic(durable=True)
def deposit_release(*, deposit_id: int, actor: User, reason: str) -> Deposit:
    """A person decided a held deposit is the client's own money: credit it from suspense."""
    deposit = deposit_lock(deposit_id)
    _enforce(deposit_can_release(actor, deposit), deposit, "released")
    if not reason.strip():
        raise PaymentError(errors.REASON_REQUIRED.format(verb="release a deposit"), field="reason")
    suspense = house_account(AccountKind.SUSPENSE, deposit.currency)
    _credit_many([(deposit, suspense, _snapshot(deposit))], kind=EntryKind.DEPOSIT_RELEASE, reason=reason.strip())
    work_item_resolve_for_subject(queue="deposit_exception", subject=deposit, code="approved", note=reason.strip())
    return deposit


@transaction.atomic(durable=True)
def deposit_refund(*, deposit_id: int, actor: User, reason_code: str, note: str = "") -> Deposit:
    """A held deposit is not accepted: it goes back where it came from (out of suspense)."""
    deposit = deposit_lock(deposit_id)
    _enforce(deposit_can_refund(actor, deposit), deposit, "returned")
    if reason_code not in REFUND_REASONS:
        raise PaymentError(errors.WITHDRAW_REASON_CODE.format(choices=", ".join(REFUND_REASONS)), field="reason_code")
    before = _snapshot(deposit)
    suspense = house_account(AccountKind.SUSPENSE, deposit.currency)
    held_entry = deposit.entry
    assert held_entry is not None
    source = next(p.account for p in held_entry.postings.select_related("account") if p.amount > 0)
    entry = ledger_post(
        key=f"deposit:{deposit.pk}:refund",
        kind=EntryKind.REFUND,
        memo=f"{deposit.reference} returned: {REFUND_REASONS[reason_code]}",
        lines=[debit(suspense, deposit.amount), credit(source, deposit.amount)],
        source=f"payments.deposit:{deposit.pk}",
    )
    deposit.refund()
    deposit.failure_code = reason_code
    deposit.completed_at = timezone.now()
    if deposit.channel == Channel.BANK:
        # Finance sends the money back from the bank with this reference on the payment order; the
        # statement's debit line carrying it is matched to this deposit.
        deposit.refund_reference = f"RET-{deposit.reference}"
    deposit.save()
    audit_record(
        action=AuditAction.DEPOSIT_REFUNDED, subject=deposit, before=before,
        after=_snapshot(deposit) | {"entry": entry.pk, "reason_code": reason_code,
                                    "refund_reference": deposit.refund_reference},
        reason=note,
    )  # fmt: skip
    if deposit.channel == Channel.CARD:
        from payments.tasks import deposit_refund_send_task

        transaction.on_commit(lambda: deposit_refund_send_task.delay(deposit_id=deposit.pk))
    work_item_resolve_for_subject(queue="deposit_exception", subject=deposit, code="rejected", note=note or reason_code)
    client_notify(
        subject=deposit.client, recipient=deposit.client.email, template="payments.deposit_returned",
        context=_context(deposit) | {"reason": REFUND_REASONS[reason_code]},
    )  # fmt: skip
    return deposit


def deposit_refund_send(*, deposit_id: int) -> str:
    """Give a returned card deposit back to the card through the PSP (called by a worker after the
    return commits, outside any transaction) and record the PSP's refund id. The idempotency key
    makes a retry after a lost answer refund nothing twice. A refusal (PspError) is the caller's to
    report: see ``deposit_refund_failed``."""
    deposit = Deposit.objects.get(pk=deposit_id)
    if deposit.status != DepositStatus.REFUNDED or deposit.channel != Channel.CARD or deposit.refund_reference:
        return deposit.refund_reference
    psp = (provider_named(deposit.provider) if deposit.provider else None) or get_provider(Channel.CARD)
    refund_id = psp.refund_create(
        idempotency_key=f"deposit:{deposit.pk}:refund",
        payment_id=deposit.external_id or "",
        amount=deposit.amount,
        currency=deposit.currency,
    )
    with transaction.atomic():
        locked = deposit_lock(deposit_id)
        if not locked.refund_reference:
            locked.refund_reference = refund_id
            locked.save(update_fields=["refund_reference"])
            audit_record(
                action=AuditAction.DEPOSIT_REFUND_SENT, subject=locked, before={"refund_reference": ""},
                after={"refund_reference": refund_id, "amount": str(locked.amount), "currency": locked.currency},
            )  # fmt: skip
    return refund_id


@transaction.atomic
def deposit_refund_failed(*, deposit_id: int, error: str) -> None:
    """The refund could not be sent (the PSP refused it, or every retry failed): the money is owed
    back to the card and nobody has sent it. A person must (finance, with the PSP): a high-risk
    deposit exception. Nothing when the refund was sent after all (a duplicate task)."""
    deposit = deposit_lock(deposit_id)
    if deposit.refund_reference:
        return
    work_item_open(
        queue="deposit_exception",
        subject=deposit,
        title=f"Card refund of {deposit.reference} ({money_str(deposit.amount, deposit.currency)}) failed: {error}"[
            :200
        ],
        risk_level=RiskLevel.HIGH,
        amount_at_stake=deposit.amount,
        details={"error": error, "psp_payment": deposit.external_id},
    )


def deposit_refund_exception(deposit: Deposit) -> WorkItem | None:
    """The open exception of a card refund that could not be sent, if any."""
    if deposit.status != DepositStatus.REFUNDED or deposit.channel != Channel.CARD or deposit.refund_reference:
        return None
    return work_items_open_for(queue="deposit_exception", subject=deposit).first()


REFUND_RESEND_AFTER = timedelta(minutes=5)


def deposit_refunds_resend(*, now: datetime | None = None) -> list[int]:
    """Card refunds decided more than a few minutes ago and still not sent, with no exception open
    for them (their task was lost: the broker was down when the return committed, or a worker died
    with it): sent again. The PSP's idempotency key makes a second send refund nothing twice."""
    from payments.tasks import deposit_refund_send_task

    cutoff = (now or timezone.now()) - REFUND_RESEND_AFTER
    with_exception = WorkItem.objects.filter(
        queue__code="deposit_exception",
        subject_type=ContentType.objects.get_for_model(Deposit),
        subject_id=Cast(OuterRef("pk"), CharField()),
        status__in=OPEN_STATUSES,
    )
    stuck = list(
        Deposit.objects.filter(
            status=DepositStatus.REFUNDED, channel=Channel.CARD, refund_reference="", completed_at__lt=cutoff
        )
        .exclude(Exists(with_exception))
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )
    for deposit_id in stuck:
        deposit_refund_send_task.delay(deposit_id=deposit_id)
    return stuck
