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
from typing import Any

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


# Deposit reinstatement: a reversal undone (a chargeback won by the broker: the money is the
# client's again). ``chargeback_close`` calls ``deposit_reinstated_dispatch`` in its transaction
# once no chargeback of the deposit is open or lost; hooks undo what their reversal hook did (ib:
# the clawed-back commissions restored) and must have one effect however often they are called.
_deposit_reinstated_hooks: list[DepositReversalHook] = []


def register_deposit_reinstated_hook(fn: DepositReversalHook) -> DepositReversalHook:
    """``fn(deposit, reason)`` is called, in the reinstatement's transaction, for every deposit reinstated."""
    if fn not in _deposit_reinstated_hooks:
        _deposit_reinstated_hooks.append(fn)
    return fn


def deposit_reinstated_dispatch(*, deposit: Deposit, reason: str) -> None:
    """Tell every registered hook that ``deposit``'s reversal was undone (inside that transaction)."""
    for hook in list(_deposit_reinstated_hooks):
        hook(deposit, reason)


# Evidence sections: what other apps add to a chargeback's evidence pack (ib: the client's trading
# after the deposit). ``fn(deposit)`` returns (section name, rows); called while the pack is made.
EvidenceSection = Callable[[Deposit], tuple[str, list[dict[str, Any]]]]

_evidence_sections: list[EvidenceSection] = []


def register_evidence_section(fn: EvidenceSection) -> EvidenceSection:
    if fn not in _evidence_sections:
        _evidence_sections.append(fn)
    return fn


def evidence_sections(deposit: Deposit) -> dict[str, list[dict[str, Any]]]:
    """The registered sections of a disputed deposit's evidence pack, by name."""
    return dict(fn(deposit) for fn in list(_evidence_sections))


# Case records: what other apps keep with a chargeback case for the staff who work it and for a
# regulator (its page and its evidence pack), never sent to the PSP (ib: the referring partner, the
# plan version it followed, its commission lines about the client with the clawback and restore).
# ``fn(deposit)`` returns (section name, data); called when the page or the pack is made.
CaseRecordSection = Callable[[Deposit], tuple[str, Any]]

_case_record_sections: list[CaseRecordSection] = []


def register_case_record_section(fn: CaseRecordSection) -> CaseRecordSection:
    if fn not in _case_record_sections:
        _case_record_sections.append(fn)
    return fn


def case_record_sections(deposit: Deposit) -> dict[str, Any]:
    """The registered internal records of a disputed deposit's case, by name."""
    return dict(fn(deposit) for fn in list(_case_record_sections))
