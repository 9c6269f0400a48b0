"""Internal transfers between a client's own wallets and trading accounts, the trading platform's
balance kept in step with the ledger (after commit), and manual balance corrections (only through
maker-checker)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.capabilities import Capability, CapabilityDenied, client_require
from accounts.platform import get_platform
from audit.actions import AuditAction
from audit.services import audit_record
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny
from payments import errors
from payments.currencies import money_parse
from payments.errors import PaymentError
from payments.models import AccountKind, EntryKind, JournalEntry, LedgerAccount, Posting
from payments.selectors import client_visible
from payments.services.ledger import credit, debit, house_account, ledger_post

PLATFORM_ACCOUNT_KINDS = (AccountKind.TRADING,)


def _platform_push_after_commit(entry: JournalEntry) -> None:
    from payments.tasks import platform_balance_push_task

    transaction.on_commit(lambda: platform_balance_push_task.delay(entry_id=entry.pk))


def move_to_trading_account(
    *, wallet: LedgerAccount, trading: LedgerAccount, amount: Decimal, key: str, memo: str
) -> JournalEntry:
    entry = ledger_post(
        key=key,
        kind=EntryKind.TRANSFER,
        memo=memo,
        lines=[debit(wallet, amount), credit(trading, amount)],
        source=f"payments.ledgeraccount:{trading.pk}",
    )
    _platform_push_after_commit(entry)
    return entry


def free_margin(trading: LedgerAccount) -> Decimal:
    """What the platform lets the client take out of a trading account: equity minus the margin
    its open positions hold."""
    assert trading.trading_account is not None
    login = trading.trading_account.login
    if not login:
        return Decimal("0")
    platform = get_platform()
    account = platform.get_account(login)
    margin = sum((p.margin for p in platform.open_positions(login)), Decimal("0"))
    return account.equity - margin


def transfer_can_make(actor: User, from_account: LedgerAccount) -> Decision:
    """May move a client's money between its own accounts (finance, for a client they work on)."""
    if not actor.has_perm("ops.handle_internal_transfers"):
        return deny(errors.NOT_ALLOWED.format(verb="make internal transfers"))
    if from_account.client_id is not None and not client_visible(actor, from_account.client_id):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def internal_transfer(
    *,
    from_account: LedgerAccount,
    to_account: LedgerAccount,
    amount: object,
    actor: User | None,
    key: str,
    reason: str = "",
) -> JournalEntry:
    """Move the client's money between its own wallet and trading accounts (same currency).
    ``actor`` None: the client's own request through the client area (no staff member; what the
    client may do is its status's capabilities, checked below as for staff)."""
    if actor is not None:
        decision = transfer_can_make(actor, from_account)
        if not decision:
            raise PaymentError(decision.reason, status=403)
    value = money_parse(amount, from_account.currency)
    if from_account.pk == to_account.pk:
        raise PaymentError(errors.TRANSFER_SAME_ACCOUNT, field="to_account")
    if not (from_account.is_client and to_account.is_client) or from_account.client_id != to_account.client_id:
        raise PaymentError(errors.TRANSFER_OTHER_CLIENT, field="to_account")
    if from_account.currency != to_account.currency:
        raise PaymentError(
            errors.CURRENCY_MISMATCH.format(
                account=to_account.code, account_currency=to_account.currency, currency=from_account.currency
            ),
            field="to_account",
        )
    assert from_account.client is not None
    try:
        client_require(from_account.client, Capability.TRANSFER)
    except CapabilityDenied as exc:
        raise PaymentError(str(exc), field="client", status=409) from None
    if from_account.kind == AccountKind.TRADING:
        free = free_margin(from_account)  # a platform call: before the transaction, holding no lock
        if value > free:
            raise PaymentError(errors.TRANSFER_FREE_MARGIN.format(amount=value, free=free), field="amount")
    return _transfer(from_account, to_account, value, key, reason)


@transaction.atomic(durable=True)
def _transfer(
    from_account: LedgerAccount, to_account: LedgerAccount, value: Decimal, key: str, reason: str
) -> JournalEntry:
    entry = ledger_post(
        key=key,
        kind=EntryKind.TRANSFER,
        memo=f"transfer {from_account.code} -> {to_account.code}",
        lines=[debit(from_account, value), credit(to_account, value)],
        source=f"payments.ledgeraccount:{from_account.pk}",
        request={"from": from_account.pk, "to": to_account.pk, "amount": str(value)},
    )
    audit_record(
        action=AuditAction.TRANSFER_POSTED,
        subject=entry,
        after={
            "from": from_account.code,
            "to": to_account.code,
            "amount": str(value),
            "currency": from_account.currency,
        },
        reason=reason,
    )
    if AccountKind.TRADING in (from_account.kind, to_account.kind):
        _platform_push_after_commit(entry)
    return entry


def platform_balance_push(*, entry_id: int) -> list[str]:
    """Apply an entry's movements on trading accounts to the platform: once per (entry, account),
    so a retried task moves nothing twice."""
    done = []
    postings = Posting.objects.filter(entry_id=entry_id, account__kind=AccountKind.TRADING).select_related(
        "account__trading_account"
    )
    platform = get_platform()
    for posting in postings:
        trading = posting.account.trading_account
        assert trading is not None
        if not trading.login:
            continue
        # credit-normal account: a credit (negative posting) raises the client's platform balance
        platform.balance_operation(
            trading.login,
            amount=-posting.amount,
            idempotency_key=f"entry:{entry_id}:{posting.account_id}",
            comment=f"back office entry {entry_id}",
        )
        done.append(trading.login)
    return done


# --- manual balance corrections (maker-checker) -------------------------------------------------


def adjustment_validate(account: LedgerAccount, payload: dict[str, Any]) -> Decimal:
    amount = str(payload.get("amount", ""))
    negative = amount.startswith("-")
    value = money_parse(amount.lstrip("-"), account.currency)
    if not str(payload.get("reason_code", "")).strip():
        raise PaymentError("reason_code: say why the balance is corrected.", field="reason_code")
    return -value if negative else value


def adjustment_apply(*, account: LedgerAccount, payload: dict[str, Any], request_id: int, reason: str) -> JournalEntry:
    """Runs inside the final approval's transaction. Positive: the client is credited."""
    value = adjustment_validate(account, payload)
    adjustments = house_account(AccountKind.ADJUSTMENTS, account.currency)
    lines = [debit(adjustments, value), credit(account, value)] if value > 0 else [
        debit(account, -value), credit(adjustments, -value)
    ]  # fmt: skip
    entry = ledger_post(
        key=f"approval:{request_id}",
        kind=EntryKind.ADJUSTMENT,
        memo=f"correction ({payload['reason_code']}): {reason}",
        lines=lines,
        source=f"ops.approvalrequest:{request_id}",
    )
    audit_record(
        action=AuditAction.ADJUSTMENT_POSTED,
        subject=entry,
        after={"account": account.code, "amount": str(value), "approval": request_id},
        reason=reason,
    )
    if account.kind == AccountKind.TRADING:
        _platform_push_after_commit(entry)
    return entry
