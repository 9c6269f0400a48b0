"""Bank statements: imported (MT940 or CAMT.053), stored line by line before anything is done
with them (a line seen before is skipped), then matched:

credits: a pending bank deposit by its reference (D-...), else a client by its reference
(C...), else a pending bank deposit by amount within a date window, else a PSP settlement batch
(reconciliation); what matches nothing goes to suspense and into the deposit exception queue.
debits: a bank withdrawal being paid out, by its reference (W-...), or a returned bank deposit
going back, by its return reference (RET-D-...); else a reconciliation break.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from accounts.capabilities import Capability, client_can
from accounts.models import Client
from audit.actions import AuditAction
from audit.context import current_actor
from audit.history import bulk_create_audited
from audit.services import audit_record
from ops.models import RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.work_items import work_item_open
from payments import errors
from payments.currencies import money_str
from payments.errors import PaymentError
from payments.models import (
    AccountKind,
    Channel,
    Deposit,
    DepositStatus,
    EntryKind,
    LedgerAccount,
    LineStatus,
    StatementImport,
    StatementLine,
    Withdrawal,
    WithdrawalStatus,
)
from payments.selectors import sees_every_client
from payments.services.deposits import deposit_receive, next_reference
from payments.services.ledger import credit, debit, house_account, ledger_post
from payments.statements import ParsedStatement, StatementError, parse_statement

DEPOSIT_REF = re.compile(r"\bD-(\d{7})\b", re.IGNORECASE)
CLIENT_REF = re.compile(r"\b(C\d{7})\b", re.IGNORECASE)
WITHDRAWAL_REF = re.compile(r"\bW-(\d{7})\b", re.IGNORECASE)
RETURN_REF = re.compile(r"\bRET-D-(\d{7})\b", re.IGNORECASE)
SETTLEMENT_REF = re.compile(r"\bSETTLEMENT\s+BATCH\s+(\S+)", re.IGNORECASE)
DATE_WINDOW = timedelta(days=5)


def _broker_bank_account(currency: str, iban: str | None) -> LedgerAccount | None:
    """The broker's bank account (``BROKER_BANK_ACCOUNTS``) in that currency — that IBAN's, or the
    first one when no IBAN is given."""
    wanted = iban.replace(" ", "").upper() if iban is not None else None
    for spec in settings.BROKER_BANK_ACCOUNTS:
        known, _, ccy = spec.partition(":")
        if ccy.upper() == currency and wanted in (None, known.replace(" ", "").upper()):
            return house_account(AccountKind.BANK, currency, ref=known)
    return None


def bank_account_for(iban: str, currency: str) -> LedgerAccount:
    account = _broker_bank_account(currency, iban)
    if account is None:
        raise PaymentError(
            errors.STATEMENT_ACCOUNT_UNKNOWN.format(account=iban.replace(" ", "").upper(), currency=currency),
            field="file",
        )
    return account


def bank_account_in(currency: str) -> LedgerAccount:
    """Where bank payouts in that currency are paid from."""
    account = _broker_bank_account(currency, None)
    if account is None:
        raise PaymentError(errors.STATEMENT_ACCOUNT_UNKNOWN.format(account="(any)", currency=currency))
    return account


def statement_can_import(actor: User) -> Decision:
    """May import bank statements (finance, not limited to some clients: a statement is the firm's)."""
    if not actor.has_perm("ops.handle_deposits") or not sees_every_client(actor):
        return deny(errors.NOT_ALLOWED.format(verb="import bank statements"))
    return ALLOWED


@transaction.atomic(durable=True)
def statement_import(*, data: bytes, filename: str, actor: User) -> StatementImport:
    """Store a statement and its lines (nothing else). Refuses a file imported before, an
    unreadable file and an unknown account, with one line saying why; nothing is stored then."""
    decision = statement_can_import(actor)
    if not decision:
        raise PaymentError(decision.reason, status=403)
    digest = hashlib.sha256(data).hexdigest()
    previous = StatementImport.objects.filter(sha256=digest).first()
    if previous is not None:
        raise PaymentError(
            errors.STATEMENT_DUPLICATE.format(pk=previous.pk, when=previous.imported_at.strftime("%Y-%m-%d %H:%M")),
            field="file",
            status=409,
        )
    try:
        parsed = parse_statement(data, filename=filename)
    except StatementError as exc:
        raise PaymentError(f"file: {exc}", field="file") from None
    account = bank_account_for(parsed.account, parsed.currency)
    _check_adds_up(parsed)
    acting = current_actor()
    imported = StatementImport.objects.create(
        bank_account=account,
        format=parsed.format,
        filename=filename[:200],
        sha256=digest,
        statement_id=parsed.statement_id[:80],
        lines_total=len(parsed.lines),
        opening_balance=parsed.opening_balance,
        opening_on=parsed.opening_on,
        closing_balance=parsed.closing_balance,
        closing_on=parsed.closing_on,
        imported_by=acting.label if acting else actor.get_username(),
    )
    bulk_create_audited(
        [
            StatementLine(
                bank_account=account,
                statement=imported,
                external_id=line.external_id[:120],
                booked_on=line.booked_on,
                amount=line.amount,
                currency=line.currency,
                reference=line.reference[:500],
                counterparty_name=line.counterparty_name[:200],
                counterparty_account=line.counterparty_account[:80],
            )
            for line in parsed.lines
            if line.currency == account.currency
        ],
        StatementLine,
        ignore_conflicts=True,  # a line already imported from an overlapping statement
    )
    imported.lines_new = StatementLine.objects.filter(statement=imported).count()
    imported.save(update_fields=["lines_new"])
    audit_record(
        action=AuditAction.STATEMENT_IMPORTED,
        subject=imported,
        after={"file": filename, "format": parsed.format, "lines": len(parsed.lines), "new": imported.lines_new},
    )
    _check_continuity(imported)
    from payments.tasks import statement_match_task

    transaction.on_commit(lambda: statement_match_task.delay(import_id=imported.pk))
    return imported


def _check_adds_up(parsed: ParsedStatement) -> None:
    """Opening balance + the lines = closing balance, when the file gives both balances. A file that
    does not add up lost lines (a truncated download, a page missing) or was edited: refused whole."""
    if parsed.opening_balance is None or parsed.closing_balance is None:
        return
    total = parsed.lines_total()
    moved = parsed.closing_balance - parsed.opening_balance
    if total != moved:
        raise PaymentError(
            errors.STATEMENT_DOES_NOT_ADD_UP.format(
                total=total, currency=parsed.currency, opening=parsed.opening_balance,
                closing=parsed.closing_balance, moved=moved,
            ),
            field="file",
        )  # fmt: skip


def _check_continuity(imported: StatementImport) -> None:
    """Each statement must open at the closing balance of the account's statement before it (by the
    bank's balance dates), whatever order they are imported in: the new statement is checked against
    the one before it and the one after it. A mismatch means a statement is missing: a
    reconciliation break shows both sides, for a person to get it from the bank, and resolves itself
    when the missing statement is imported and closes the gap. The lines are imported either way:
    they are real."""
    account = imported.bank_account
    if imported.opening_balance is not None and imported.opening_on is not None:
        # Same dates: the one imported earlier comes first (statements of one day, imported in order).
        previous = (
            StatementImport.objects.filter(bank_account=account, closing_balance__isnull=False)
            .filter(Q(closing_on__lt=imported.opening_on) | Q(closing_on=imported.opening_on, pk__lt=imported.pk))
            .order_by("-closing_on", "-id")
            .first()
        )
        if previous is not None:
            _chain(previous, imported)
    if imported.closing_balance is not None and imported.closing_on is not None:
        following = (
            StatementImport.objects.filter(bank_account=account, opening_balance__isnull=False)
            .filter(Q(opening_on__gt=imported.closing_on) | Q(opening_on=imported.closing_on, pk__gt=imported.pk))
            .order_by("opening_on", "id")
            .first()
        )
        if following is not None:
            _chain(imported, following)


def _statement_label(statement: StatementImport) -> str:
    return f"{statement.statement_id or statement.filename} (import {statement.pk})"


def _chain(earlier: StatementImport, later: StatementImport) -> None:
    """``later`` must open where ``earlier`` closes; the break about ``later``'s opening balance is
    opened, or resolved when it now does."""
    from payments.services.reconciliation import break_open, break_resolve_open

    key = f"{later.bank_account_id}:{later.pk}"
    closing, opening = earlier.closing_balance, later.opening_balance
    if closing is None or opening is None:
        return
    if closing == opening:
        note = f"{_statement_label(earlier)} closes at the opening balance of {_statement_label(later)}"
        break_resolve_open(kind="statement_gap", key=key, note=note)
        return
    currency = later.bank_account.currency
    break_open(
        kind="statement_gap",
        key=key,
        ours={
            "previous statement": _statement_label(earlier),
            "closing balance": money_str(closing, currency),
            "on": str(earlier.closing_on),
        },
        theirs={
            "statement": _statement_label(later),
            "opening balance": money_str(opening, currency),
            "on": str(later.opening_on),
        },
        difference=opening - closing,
        currency=currency,
        subject=later,
    )


def statement_match(*, import_id: int) -> dict[str, int]:
    """Match every new line of an import, each in its own transaction."""
    counts = {"matched": 0, "suspense": 0, "break": 0}
    for line_id in StatementLine.objects.filter(statement_id=import_id, status=LineStatus.NEW).values_list(
        "id", flat=True
    ):
        outcome = statement_line_match(line_id=line_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@transaction.atomic(durable=True)
def statement_line_match(*, line_id: int) -> str:
    line = StatementLine.objects.select_for_update().select_related("bank_account").get(pk=line_id)
    if line.status != LineStatus.NEW:
        return "matched" if line.status == LineStatus.MATCHED else "suspense"
    if line.amount > 0:
        return _match_credit(line)
    return _match_debit(line)


def _done(line: StatementLine, status: str, matched_to: str, rule: str) -> None:
    line.status = status
    line.matched_to = matched_to
    line.match_rule = rule
    line.save(update_fields=["status", "matched_to", "match_rule"])
    audit_record(
        action=AuditAction.STATEMENT_LINE_MATCHED
        if status == LineStatus.MATCHED
        else AuditAction.STATEMENT_LINE_SUSPENSE,
        subject=line,
        after={"status": status, "matched_to": matched_to, "rule": rule, "amount": str(line.amount)},
    )


def _receive(line: StatementLine, deposit: Deposit, rule: str) -> str:
    deposit_receive(
        deposit=deposit,
        source=line.bank_account,
        external_id=f"{line.bank_account_id}:{line.external_id}"[:120],
        payer_name=line.counterparty_name,
        payer_account=line.counterparty_account,
        amount=line.amount,
    )
    _done(line, LineStatus.MATCHED, f"payments.deposit:{deposit.pk}", rule)
    return "matched"


def _pending_bank_deposits() -> Any:
    return Deposit.objects.select_for_update(of=("self",)).filter(channel=Channel.BANK, status=DepositStatus.INITIATED)


def _match_credit(line: StatementLine) -> str:
    # 1. our deposit reference
    if m := DEPOSIT_REF.search(line.reference):
        deposit = _pending_bank_deposits().filter(reference=f"D-{m.group(1)}", currency=line.currency).first()
        if deposit is not None:
            return _receive(line, deposit, "deposit reference")
    # 2. a PSP settlement batch (one bank credit for many card payments): reconciliation's job
    if m := SETTLEMENT_REF.search(line.reference):
        from payments.services.reconciliation import settlement_batch_match

        return settlement_batch_match(line=line, batch_id=m.group(1), done=_done)
    # 3. a client reference: the client paid without announcing it
    if m := CLIENT_REF.search(line.reference):
        client = Client.objects.filter(reference=m.group(1).upper()).first()
        if client is not None and client_can(client, Capability.DEPOSIT):
            deposit = Deposit.objects.create(
                reference=next_reference("D"), client=client, channel=Channel.BANK,
                amount=line.amount, currency=line.currency,
            )  # fmt: skip
            audit_record(
                action=AuditAction.DEPOSIT_INITIATED, subject=deposit,
                after={"status": deposit.status, "amount": str(deposit.amount), "from_statement_line": line.pk},
            )  # fmt: skip
            return _receive(line, deposit, "client reference")
    # 4. amount and date window, when exactly one announced deposit fits
    window = _pending_bank_deposits().filter(
        amount=line.amount,
        currency=line.currency,
        created_at__date__gte=line.booked_on - DATE_WINDOW,
        created_at__date__lte=line.booked_on + timedelta(days=1),
    )
    candidates = list(window[:2])
    if len(candidates) == 1:
        return _receive(line, candidates[0], "amount and date")
    # 5. nobody's: suspense, and a person looks at it
    suspense = house_account(AccountKind.SUSPENSE, line.currency)
    ledger_post(
        key=f"statement-line:{line.pk}:suspense",
        kind=EntryKind.DEPOSIT_SUSPENSE,
        memo=f"unidentified bank credit: {line.counterparty_name} {line.reference}"[:300],
        lines=[debit(line.bank_account, line.amount), credit(suspense, line.amount)],
        source=f"payments.statementline:{line.pk}",
    )
    _done(line, LineStatus.SUSPENSE, "", "unmatched" if len(candidates) == 0 else "ambiguous amount")
    work_item_open(
        queue="deposit_exception",
        subject=line,
        title=f"Unidentified bank credit {line.amount} {line.currency} from {line.counterparty_name or 'unknown'}"[
            :200
        ],
        risk_level=RiskLevel.MEDIUM,
        amount_at_stake=line.amount,
        details={"reference": line.reference, "booked_on": str(line.booked_on), "candidates": len(candidates)},
    )
    return "suspense"


def _match_debit(line: StatementLine) -> str:
    from payments.services.withdrawals import withdrawal_payout_result

    if m := WITHDRAWAL_REF.search(line.reference):
        withdrawal = Withdrawal.objects.filter(
            reference=f"W-{m.group(1)}", method=Channel.BANK, status=WithdrawalStatus.PROCESSING
        ).first()
        if withdrawal is not None and -line.amount == withdrawal.amount:
            withdrawal_payout_result(
                withdrawal_id=withdrawal.pk, paid=True, voucher=f"BANK-{withdrawal.reference}", failure_code=""
            )
            _done(line, LineStatus.MATCHED, f"payments.withdrawal:{withdrawal.pk}", "withdrawal reference")
            return "matched"
    if m := RETURN_REF.search(line.reference):
        # A returned bank deposit leaving the account: the return was posted when it was decided.
        # Locked: two statements matched at once cannot both take the one return.
        returned = (
            Deposit.objects.select_for_update(of=("self",))
            .filter(
                refund_reference=f"RET-D-{m.group(1)}",
                channel=Channel.BANK,
                status=DepositStatus.REFUNDED,
                currency=line.currency,
            )
            .first()
        )
        if (
            returned is not None
            and -line.amount == returned.amount
            and not StatementLine.objects.filter(matched_to=f"payments.deposit:{returned.pk}:return").exists()
        ):
            _done(line, LineStatus.MATCHED, f"payments.deposit:{returned.pk}:return", "deposit return")
            return "matched"
    from payments.services.reconciliation import break_open

    break_open(
        kind="bank_debit_unmatched",
        key=f"{line.bank_account_id}:{line.external_id}",
        ours={"note": "no bank withdrawal being paid with this reference and amount"},
        theirs={"booked_on": str(line.booked_on), "amount": str(line.amount), "reference": line.reference,
                "payee": line.counterparty_name},
        difference=line.amount,
        currency=line.currency,
        subject=line,
    )  # fmt: skip
    _done(line, LineStatus.SUSPENSE, "", "unmatched debit")
    return "break"
