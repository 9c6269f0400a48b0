"""Bank transfers: statements imported (MT940, CAMT.053), lines stored once, then matched by
reference, by client reference, by amount and date window; the rest goes to suspense."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from ops.models import WorkItem
from payments.errors import PaymentError
from payments.models import DepositStatus, LineStatus, StatementImport, StatementLine
from payments.services.bank import statement_import, statement_match
from payments.services.deposits import deposit_initiate
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from tests.factories import approved_client

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def _mt940(lines: list[tuple[str, str, str]]) -> bytes:
    """(amount like '250,00' signed by C/D prefix, reference, payer) -> an MT940 statement."""
    today = timezone.localdate().strftime("%y%m%d")
    out = [
        ":20:T" + str(abs(hash(tuple(lines))))[:10],
        ":25:DE89370400440532013000",
        ":28C:1/1",
        f":60F:C{today}EUR0,00",
    ]
    for n, (amount, reference, payer) in enumerate(lines):
        out.append(f":61:{today}{today[2:]}{amount}NTRFNONREF//REF{n:08d}")
        out.append(f":86:166?00SEPA-GUTSCHRIFT?20EREF+NOTPROVIDED?21SVWZ+{reference}?32{payer}")
    out.append(f":62F:C{today}EUR0,00")
    return ("\n".join(out) + "\n").encode()


def test_good_bank_deposits_match_by_reference_client_reference_and_amount() -> None:
    a, b, c = (approved_client(provision=False) for _ in range(3))
    by_ref = deposit_initiate(client=a, channel="bank", amount="250.00", currency="EUR")
    by_amount = deposit_initiate(client=c, channel="bank", amount="777.77", currency="EUR")
    data = _mt940([
        ("C250,00", f"{by_ref.reference} deposit", a.display_name.upper()),
        ("C100,00", f"{b.reference} top up", b.display_name),
        ("C777,77", "my trading money", c.display_name),
        ("C42,00", "no idea", "SOMEONE ELSE"),
    ])  # fmt: skip
    imported = statement_import(data=data, filename="nov.sta")
    counts = statement_match(import_id=imported.pk)
    assert counts == {"matched": 3, "suspense": 1, "break": 0}
    by_ref.refresh_from_db()
    by_amount.refresh_from_db()
    assert by_ref.status == by_amount.status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=a, currency="EUR")).ledger == Decimal("250.00")
    assert balance_of(wallet_for(client=b, currency="EUR")).ledger == Decimal("100.00")
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("777.77")
    rules = dict(StatementLine.objects.values_list("amount", "match_rule"))
    assert rules[Decimal("250.0000")] == "deposit reference"
    assert rules[Decimal("100.0000")] == "client reference"
    assert rules[Decimal("777.7700")] == "amount and date"
    unknown = StatementLine.objects.get(amount=Decimal("42"))
    assert unknown.status == LineStatus.SUSPENSE
    assert WorkItem.objects.filter(queue__code="deposit_exception", subject_id=str(unknown.pk)).exists()
    assert ledger_verify().ok


def test_bad_same_file_twice_is_refused_and_overlapping_lines_are_stored_once() -> None:
    client = approved_client(provision=False)
    first = _mt940([("C10,00", f"{client.reference}", client.display_name)])
    statement_import(data=first, filename="a.sta")
    with pytest.raises(PaymentError, match="already imported") as exc:
        statement_import(data=first, filename="a-again.sta")
    assert exc.value.status == 409
    overlapping = first.replace(b":20:T", b":20:X")  # another file, the same line
    again = statement_import(data=overlapping, filename="b.sta")
    assert again.lines_total == 1 and again.lines_new == 0
    assert StatementLine.objects.count() == 1


def test_good_camt053_statement_is_imported() -> None:
    imported = statement_import(data=(FIXTURES / "statement.camt053.xml").read_bytes(), filename="camt.xml")
    assert imported.format == "camt053" and imported.lines_total == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "file: "),
        (b"<Invoice/>", "not an MT940 or CAMT.053 file"),
        (
            b":20:X\n:25:NL00UNKNOWN0000000000\n:28C:1\n:60F:C261120EUR0,00\n:62F:C261120EUR0,00\n",
            "No bank ledger account",
        ),
    ],
)
def test_bad_statement_files_are_refused_with_one_line_and_store_nothing(data: bytes, message: str) -> None:
    with pytest.raises(PaymentError, match=message) as exc:
        statement_import(data=data, filename="bad")
    assert exc.value.field == "file" and "\n" not in exc.value.message
    assert StatementImport.objects.count() == 0
