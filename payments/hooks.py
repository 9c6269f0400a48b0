"""Hooks other apps register to react to payments' own events (the architecture's small explicit
registry, not Django signals).

Deposit reversal: a deposit that was counted is taken back: returned to the payer
(``deposit_refund``) or, with issue 18, charged back by the card scheme: the chargeback flow calls
``deposit_reversal_dispatch`` in its own transaction, as ``deposit_refund`` does. Each registered
hook runs inside that transaction (compose with plain ``atomic()``, never ``durable=True``), so
what it does (e.g. the partner commissions the deposit earned, clawed back) commits or rolls back
with the reversal. A hook that raises refuses the reversal. Registered in ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable

from payments.models import Deposit

DepositReversalHook = Callable[[Deposit, str], None]

_deposit_reversal_hooks: list[DepositReversalHook] = []


def register_deposit_reversal_hook(fn: DepositReversalHook) -> DepositReversalHook:
    """``fn(deposit, reason)`` is called, in the reversal's transaction, for every deposit reversed."""
    if fn not in _deposit_reversal_hooks:
        _deposit_reversal_hooks.append(fn)
    return fn


def deposit_reversal_dispatch(*, deposit: Deposit, reason: str) -> None:
    """Tell every registered hook that ``deposit`` was reversed (call inside the reversal's transaction)."""
    for hook in list(_deposit_reversal_hooks):
        hook(deposit, reason)
