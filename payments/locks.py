"""Row locks, one helper per model, always taken in a deterministic order (ascending primary key)
so two transactions touching the same accounts cannot deadlock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.shortcuts import get_object_or_404

from backoffice.db import Prepared, commit_write
from payments.models import Balance, Deposit, Hold, ReconciliationBreak, Withdrawal


def balances_lock(account_ids: Iterable[int]) -> dict[int, Balance]:
    rows = Balance.objects.filter(account_id__in=set(account_ids)).order_by("account_id").select_for_update()
    return {row.account_id: row for row in rows}


# A house account's balance moves in its own direction (sign), like a locked client balance.
# Prepared once per connection: every payment sends only its EXECUTE, with the COMMIT.
_HOUSE_BALANCE_ADD = Prepared(
    name="payments_house_balance_add",
    sql="UPDATE payments_balance SET ledger = ledger + sign * $1, postings_count = postings_count + $4,"
    " updated_at = GREATEST(updated_at, $2) WHERE account_id = $3",
    types=("numeric", "timestamptz", "bigint", "integer"),
)


def house_balance_add_at_commit(*, account_id: int, amount: Decimal, at: datetime, postings: int = 1) -> None:
    """Add ``postings`` postings (summing to ``amount``) to a shared house balance (clearing, bank,
    fees, suspense) with the COMMIT, as a commit write: its row is locked only while the transaction
    commits, and every transaction locks such rows in account-id order (after its client balances,
    which ``balances_lock`` took)."""
    commit_write(_HOUSE_BALANCE_ADD, [amount, at, account_id, postings], order=(1, 1, account_id))


def client_credit_at_commit(*, account_id: int, amount: Decimal, at: datetime, postings: int = 1) -> None:
    """Add postings that only increase a client's balance (a deposit credited to a wallet) with the
    COMMIT, as a commit write: an increase cannot take an available balance below zero, so nothing
    needs checking under a lock first. Sent before the house increments (both in account-id order),
    so a transaction never holds a house row while it waits for a client row; a client row it waits
    for is held by a transaction that locked it early and needs only house rows after it."""
    commit_write(_HOUSE_BALANCE_ADD, [amount, at, account_id, postings], order=(1, 0, account_id))


def hold_lock(hold_id: int) -> Hold:
    return Hold.objects.select_for_update().get(pk=hold_id)


def deposit_lock(deposit_id: int) -> Deposit:
    return get_object_or_404(Deposit.objects.select_for_update(of=("self",)), pk=deposit_id)


def withdrawal_lock(withdrawal_id: int) -> Withdrawal:
    return get_object_or_404(Withdrawal.objects.select_for_update(of=("self",)), pk=withdrawal_id)


def break_lock(break_id: int) -> ReconciliationBreak:
    return get_object_or_404(ReconciliationBreak.objects.select_for_update(of=("self",)), pk=break_id)
