"""PSP settlement reports against the ledger, and a batched settlement on the bank statement."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from ops.roles import Role
from payments.errors import PaymentError
from payments.models import AccountKind, LineStatus, ReconciliationBreak, StatementLine
from payments.services.bank import statement_import, statement_match
from payments.services.ledger import balance_of, house_account, ledger_verify
from payments.services.reconciliation import settlement_import
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db


def _report(rows: list[tuple[str, str, str, str]]) -> bytes:
    today = timezone.localdate().isoformat()
    lines = ["batch_id,psp_reference,kind,gross,fee,currency,settled_on"]
    lines += [f"{batch},{ref},payment,{gross},{fee},EUR,{today}" for batch, ref, gross, fee in rows]
    return ("\n".join(lines) + "\n").encode()


def test_good_settlement_batch_matches_one_to_many_and_moves_clearing_to_bank() -> None:
    c = approved_client(provision=False)
    d1, d2 = card_deposit(c, "100.00"), card_deposit(c, "50.00")
    counts = settlement_import(
        actor=staff(Role.FINANCE),
        data=_report([("SB-1", d1.external_id, "100.00", "2.00"), ("SB-1", d2.external_id, "50.00", "1.00")]),
    )
    assert counts == {"lines": 2, "matched": 2, "breaks": 0}
    today = timezone.localdate().strftime("%y%m%d")
    statement = (
        f":20:S1\n:25:DE89370400440532013000\n:28C:1\n:60F:C{today}EUR0,00\n"
        f":61:{today}{today[2:]}C147,00NTRFNONREF//SB1\n:86:166?20SETTLEMENT BATCH SB-1?32SIMPAY PSP LTD\n"
        f":62F:C{today}EUR147,00\n"
    ).encode()
    imported = statement_import(actor=staff(Role.FINANCE), data=statement, filename="settle.sta")
    assert statement_match(import_id=imported.pk) == {"matched": 1, "suspense": 0, "break": 0}
    assert StatementLine.objects.get().status == LineStatus.MATCHED
    assert balance_of(house_account(AccountKind.PSP_CLEARING, "EUR", ref="simpay")).ledger == 0
    assert balance_of(house_account(AccountKind.FEES, "EUR")).ledger == Decimal("3.00")
    assert ledger_verify().ok


def test_bad_settlement_lines_without_a_ledger_entry_or_with_another_amount_are_breaks() -> None:
    c = approved_client(provision=False)
    d1 = card_deposit(c, "100.00")
    counts = settlement_import(
        actor=staff(Role.FINANCE),
        data=_report([("SB-2", d1.external_id, "101.00", "0"), ("SB-2", "pay_unknown", "20.00", "0")]),
    )
    assert counts["breaks"] == 2
    kinds = set(ReconciliationBreak.objects.values_list("kind", flat=True))
    assert kinds == {"psp_amount_differs", "psp_payment_not_in_ledger"}
    differs = ReconciliationBreak.objects.get(kind="psp_amount_differs")
    assert Decimal(differs.ours["amount"]) == Decimal("100") and Decimal(differs.theirs["gross"]) == Decimal("101")


def test_bad_settlement_report_is_refused_whole() -> None:
    with pytest.raises(PaymentError, match="line 3"):
        settlement_import(
            actor=staff(Role.FINANCE), data=_report([("SB", "pay_a", "1.00", "0"), ("SB", "pay_b", "x", "0")])
        )
    from payments.models import SettlementLine

    assert SettlementLine.objects.count() == 0
