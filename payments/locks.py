"""Row locks, one helper per model, always taken in a deterministic order (ascending primary key)
so two transactions touching the same accounts cannot deadlock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.shortcuts import get_object_or_404

from payments import errors
from payments.errors import PaymentError
from payments.models import Balance, Deposit, Hold, ReconciliationBreak, Withdrawal


def balances_lock(account_ids: Iterable[int]) -> dict[int, Balance]:
    rows = Balance.objects.filter(account_id__in=set(account_ids)).order_by("account_id").select_for_update()
    return {row.account_id: row for row in rows}


# Adds to one of the account's buckets that no other open transaction holds (SKIP LOCKED; one this
# transaction already holds counts as free), so concurrent payments through the same house account
# do not queue behind each other. When every bucket is held, the second statement waits for one.
_BUCKET_ADD_FREE = """
    UPDATE payments_balancebucket SET ledger = ledger + %s, postings_count = postings_count + %s,
        updated_at = GREATEST(updated_at, %s)
    WHERE id = (SELECT id FROM payments_balancebucket WHERE account_id = %s
                ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED)
"""
_BUCKET_ADD_ANY = """
    UPDATE payments_balancebucket SET ledger = ledger + %s, postings_count = postings_count + %s,
        updated_at = GREATEST(updated_at, %s)
    WHERE id = (SELECT id FROM payments_balancebucket WHERE account_id = %s ORDER BY random() LIMIT 1)
"""


def house_balance_add(*, account_id: int, amount: Decimal, at: datetime, postings: int) -> None:
    """Add ``postings`` postings moving a house account's balance by ``amount`` (in the account's own
    direction) to one of its balance buckets. Callers add to several accounts in account-id order."""
    with connection.cursor() as cursor:
        cursor.execute(_BUCKET_ADD_FREE, [amount, postings, at, account_id])
        if cursor.rowcount == 0:
            cursor.execute(_BUCKET_ADD_ANY, [amount, postings, at, account_id])
        if cursor.rowcount != 1:  # a house account opened without its buckets: refuse, lose nothing
            raise PaymentError(errors.NO_BALANCE_BUCKETS.format(account=account_id))


def hold_lock(hold_id: int) -> Hold:
    return Hold.objects.select_for_update().get(pk=hold_id)


def deposit_lock(deposit_id: int) -> Deposit:
    return get_object_or_404(Deposit.objects.select_for_update(of=("self",)), pk=deposit_id)


def withdrawal_lock(withdrawal_id: int) -> Withdrawal:
    return get_object_or_404(Withdrawal.objects.select_for_update(of=("self",)), pk=withdrawal_id)


def break_lock(break_id: int) -> ReconciliationBreak:
    return get_object_or_404(ReconciliationBreak.objects.select_for_update(of=("self",)), pk=break_id)
