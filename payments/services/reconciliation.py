"""Reconciliation: PSP settlement reports and bank statements against the ledger, and the trading
platform's balances against the ledger's. Every difference is a break with both sides, in the
reconciliation queue; a break that disappears on a later run is resolved by itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.platform import PlatformError, get_platform
from audit.actions import AuditAction
from audit.history import bulk_create_audited
from audit.services import audit_record
from ops.models import RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.work_items import work_item_open, work_item_resolve_for_subject
from payments import errors
from payments.currencies import currency_check
from payments.errors import PaymentError
from payments.locks import break_lock
from payments.models import (
    AccountKind,
    Channel,
    Deposit,
    DepositStatus,
    EntryKind,
    Hold,
    HoldStatus,
    LedgerAccount,
    LineStatus,
    ReconciliationBreak,
    SettlementLine,
    StatementLine,
)
from payments.providers import get_provider, provider_named
from payments.selectors import sees_every_client
from payments.services.ledger import credit, debit, house_account, ledger_post, psp_clearing_account

UNSETTLED_AFTER = timedelta(days=3)


def break_open(
    *,
    kind: str,
    key: str,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    difference: Decimal,
    currency: str,
    subject: models.Model | None = None,
) -> ReconciliationBreak:
    existing = _open_break(kind, key)
    if existing is not None:
        return existing
    brk = ReconciliationBreak.objects.create(
        kind=kind, key=key[:160], ours=ours, theirs=theirs, difference=difference, currency=currency
    )
    audit_record(
        action=AuditAction.RECONCILIATION_BREAK,
        subject=brk,
        after={"kind": kind, "key": key, "ours": ours, "theirs": theirs, "difference": str(difference)},
    )
    work_item_open(
        queue="reconciliation_break",
        subject=brk,
        title=f"{kind.replace('_', ' ').capitalize()}: {key} ({difference} {currency})"[:200],
        risk_level=RiskLevel.HIGH if abs(difference) >= 10_000 else RiskLevel.MEDIUM,
        amount_at_stake=abs(difference),
        details={"ours": ours, "theirs": theirs},
    )
    return brk


def _open_break(kind: str, key: str) -> ReconciliationBreak | None:
    return ReconciliationBreak.objects.filter(kind=kind, key=key, resolved_at__isnull=True).first()


def break_resolve_open(*, kind: str, key: str, note: str) -> bool:
    """Resolve the open break of this kind and key, if there is one (the two sides agree again)."""
    brk = _open_break(kind, key)
    if brk is None:
        return False
    break_resolve(brk=brk, note=note)
    return True


def break_can_resolve(actor: User, brk: ReconciliationBreak) -> Decision:
    """May close a reconciliation break by hand, saying why (finance, not limited to some clients)."""
    if not actor.has_perm("ops.handle_deposits") or not sees_every_client(actor):
        return deny(errors.NOT_ALLOWED.format(verb="resolve reconciliation breaks"))
    if brk.resolved_at is not None:
        return deny(errors.BREAK_ALREADY_RESOLVED)
    return ALLOWED


@transaction.atomic(durable=True)
def break_resolve_by_hand(*, break_id: int, actor: User, note: str) -> ReconciliationBreak:
    """A person explains a break (a bank fee, a timing difference) and closes it, with its work item."""
    brk = break_lock(break_id)
    if brk.resolved_at is not None:
        raise PaymentError(errors.BREAK_ALREADY_RESOLVED, status=409)
    decision = break_can_resolve(actor, brk)
    if not decision:
        raise PaymentError(decision.reason, status=403)
    if not note.strip():
        raise PaymentError(errors.REASON_REQUIRED.format(verb="resolve a break"), field="note")
    break_resolve(brk=brk, note=note.strip())
    return brk


def break_resolve(*, brk: ReconciliationBreak, note: str) -> None:
    brk.resolved_at = timezone.now()
    brk.save(update_fields=["resolved_at"])
    audit_record(action=AuditAction.RECONCILIATION_RESOLVED, subject=brk, after={"resolved": True}, reason=note)
    work_item_resolve_for_subject(queue="reconciliation_break", subject=brk, code="fixed", note=note)


# --- PSP settlement reports ---------------------------------------------------------------------


def settlement_can_import(actor: User) -> Decision:
    """May import a PSP settlement report (finance, not limited to some clients)."""
    if not actor.has_perm("ops.handle_deposits") or not sees_every_client(actor):
        return deny(errors.NOT_ALLOWED.format(verb="import settlement reports"))
    return ALLOWED


@transaction.atomic(durable=True)
def settlement_import(*, data: bytes, actor: User, provider: str | None = None) -> dict[str, int]:
    """Store a settlement report of a PSP (by default the card channel's; read by its adapter), then
    check each line against the ledger. A bad line refuses the whole file."""
    decision = settlement_can_import(actor)
    if not decision:
        raise PaymentError(decision.reason, status=403)
    adapter = get_provider(Channel.CARD) if provider is None else provider_named(provider)
    if adapter is None:
        raise PaymentError(errors.PROVIDER_UNKNOWN.format(provider=provider))
    provider = adapter.name
    try:
        items = adapter.settlement_parse(data)
    except ValueError as exc:
        raise PaymentError(f"file: {exc}", field="file") from None
    rows = []
    for item in items:
        try:
            currency = currency_check(item.currency)
        except PaymentError as exc:
            raise PaymentError(f"file: {item.psp_reference}: {exc}", field="file") from None
        rows.append(SettlementLine(provider=provider, **(asdict(item) | {"currency": currency})))
    created = bulk_create_audited(rows, SettlementLine, ignore_conflicts=True)
    counts = {"lines": len(rows), "matched": 0, "breaks": 0}
    for line in SettlementLine.objects.filter(provider=provider, status=LineStatus.NEW):
        if _settlement_line_check(line):
            counts["matched"] += 1
        else:
            counts["breaks"] += 1
    audit_record(
        action=AuditAction.SETTLEMENT_IMPORTED,
        subject=("payments.settlementline", provider),
        after=counts | {"stored": len(created)},
    )
    return counts


def _settlement_line_check(line: SettlementLine) -> bool:
    if line.kind != "payment":
        line.status = LineStatus.MATCHED
        line.save(update_fields=["status"])
        return True
    deposit = Deposit.objects.filter(channel=Channel.CARD, external_id=line.psp_reference).first()
    ours = (
        {"deposit": deposit.reference, "amount": str(deposit.amount), "status": deposit.status}
        if deposit
        else {"deposit": None}
    )
    theirs = {"batch": line.batch_id, "payment": line.psp_reference, "gross": str(line.gross), "fee": str(line.fee)}
    if deposit is None or deposit.status not in (DepositStatus.CREDITED, DepositStatus.REVIEW):
        break_open(
            kind="psp_payment_not_in_ledger", key=f"{line.provider}:{line.psp_reference}", ours=ours, theirs=theirs,
            difference=line.gross, currency=line.currency,
        )  # fmt: skip
        return False
    if deposit.amount != line.gross or deposit.currency != line.currency:
        break_open(
            kind="psp_amount_differs", key=f"{line.provider}:{line.psp_reference}", ours=ours, theirs=theirs,
            difference=line.gross - deposit.amount, currency=line.currency,
        )  # fmt: skip
        return False
    line.status = LineStatus.MATCHED
    line.matched_to = f"payments.deposit:{deposit.pk}"
    line.save(update_fields=["status", "matched_to"])
    return True


def settlement_batch_match(*, line: StatementLine, batch_id: str, done: Callable[..., None]) -> str:
    """A bank credit that is a PSP's batch payout: one bank line against many settlement lines.
    Matching moves the batch from PSP clearing to the bank (and its fees to the fee account)."""
    lines = list(SettlementLine.objects.filter(batch_id=batch_id, currency=line.currency))
    gross = sum((s.gross if s.kind == "payment" else -s.gross for s in lines), Decimal("0"))
    fees = sum((s.fee for s in lines), Decimal("0"))
    if not lines or gross - fees != line.amount:
        break_open(
            kind="settlement_batch_differs",
            key=batch_id,
            ours={"report_lines": len(lines), "net": str(gross - fees)},
            theirs={"bank_credit": str(line.amount), "booked_on": str(line.booked_on), "reference": line.reference},
            difference=line.amount - (gross - fees),
            currency=line.currency,
            subject=line,
        )
        done(line, LineStatus.SUSPENSE, "", "settlement batch differs")
        return "break"
    clearing = psp_clearing_account(line.currency, lines[0].provider)  # the clearing of the PSP that settled
    fee_account = house_account(AccountKind.FEES, line.currency)
    entry_lines = [debit(line.bank_account, line.amount), credit(clearing, gross)]
    if fees:
        entry_lines.append(debit(fee_account, fees))
    ledger_post(
        key=f"settlement:{batch_id}",
        kind=EntryKind.SETTLEMENT,
        memo=f"PSP settlement batch {batch_id}: {len(lines)} line(s), fees {fees}",
        lines=entry_lines,
        source=f"payments.statementline:{line.pk}",
    )
    done(line, LineStatus.MATCHED, f"settlement:{batch_id}", "settlement batch")
    return "matched"


def unsettled_card_payments(*, now: Any = None) -> int:
    """Card payments credited days ago that no settlement report has confirmed."""
    cutoff = (now or timezone.now()) - UNSETTLED_AFTER
    settled = SettlementLine.objects.filter(kind="payment").values("psp_reference")
    provider = get_provider(Channel.CARD).name
    found = 0
    for deposit in Deposit.objects.filter(
        channel=Channel.CARD, status=DepositStatus.CREDITED, completed_at__lt=cutoff
    ).exclude(external_id__in=settled)[:500]:
        with transaction.atomic():
            break_open(
                kind="psp_payment_unsettled", key=f"{provider}:{deposit.external_id}",
                ours={"deposit": deposit.reference, "amount": str(deposit.amount), "credited": str(deposit.completed_at)},
                theirs={"settlement": None}, difference=deposit.amount, currency=deposit.currency,
            )  # fmt: skip
        found += 1
    return found


# --- the trading platform -----------------------------------------------------------------------


def platform_hold_push(*, hold_id: int) -> str:
    """Money held for a withdrawal from a trading account leaves the platform balance at once (so
    it cannot be traded away), and comes back if the hold is released. Once per key."""
    hold = Hold.objects.select_related("account__trading_account").get(pk=hold_id)
    trading = hold.account.trading_account
    if trading is None or not trading.login:
        return "not a trading account"
    platform = get_platform()
    platform.balance_operation(
        trading.login, amount=-hold.amount, idempotency_key=f"hold:{hold.pk}", comment=f"withdrawal hold {hold.pk}"
    )
    if hold.status == HoldStatus.RELEASED:
        platform.balance_operation(
            trading.login,
            amount=hold.amount,
            idempotency_key=f"hold:{hold.pk}:release",
            comment=f"hold {hold.pk} released",
        )
        return "released"
    return "held"


def platform_balances_check() -> dict[str, int]:
    """Platform balance vs the ledger's available balance, per trading account."""
    counts = {"checked": 0, "breaks": 0, "resolved": 0}
    platform = get_platform()
    for account in LedgerAccount.objects.filter(kind=AccountKind.TRADING).select_related("balance", "trading_account"):
        trading = account.trading_account
        if trading is None or not trading.login:
            continue
        try:
            theirs = platform.get_account(trading.login).balance
        except PlatformError:
            continue  # the platform sync job reports an unreachable platform
        ours = account.balance.ledger - account.balance.held
        counts["checked"] += 1
        key = f"{trading.login}"
        with transaction.atomic():
            if theirs != ours:
                break_open(
                    kind="platform_balance", key=key,
                    ours={"ledger_available": str(ours), "account": account.code},
                    theirs={"platform_balance": str(theirs), "login": trading.login},
                    difference=theirs - ours, currency=account.currency,
                )  # fmt: skip
                counts["breaks"] += 1
            elif break_resolve_open(kind="platform_balance", key=key, note="balances agree again"):
                counts["resolved"] += 1
    return counts


def reconcile_all() -> dict[str, int]:
    result = platform_balances_check()
    result["unsettled"] = unsettled_card_payments()
    return result
