"""Row locks, one helper per model, always taken in a deterministic order (ascending primary key)
so two transactions touching the same accounts cannot deadlock."""

from __future__ import annotations

from collections.abc import Iterable

from django.shortcuts import get_object_or_404

from payments.models import Balance, Deposit, Hold, Withdrawal


def balances_lock(account_ids: Iterable[int]) -> dict[int, Balance]:
    rows = Balance.objects.filter(account_id__in=set(account_ids)).order_by("account_id").select_for_update()
    return {row.account_id: row for row in rows}


def hold_lock(hold_id: int) -> Hold:
    return Hold.objects.select_for_update().get(pk=hold_id)


def deposit_lock(deposit_id: int) -> Deposit:
    return get_object_or_404(Deposit.objects.select_for_update(of=("self",)), pk=deposit_id)


def withdrawal_lock(withdrawal_id: int) -> Withdrawal:
    return get_object_or_404(Withdrawal.objects.select_for_update(of=("self",)), pk=withdrawal_id)
