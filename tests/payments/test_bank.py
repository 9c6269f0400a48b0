"""Bank transfers: statements imported (MT940, CAMT.053), lines stored once, then matched by
reference, by client reference, by amount and date window; the rest goes to suspense."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as DjangoClient
from django.utils import timezone

from ops.models import WorkItem
from ops.roles import Role
from payments.errors import PaymentError
from payments.models import DepositStatus, LineStatus, ReconciliationBreak, StatementImport, StatementLine
from payments.services.bank import statement_import, statement_match
from payments.services.deposits import deposit_initiate
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from tests.factories import approved_client, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def _mt940_amount(value: Decimal) -> str:
    return ("C" if value >= 0 else "D") + format(abs(value), ".2f").replace(".", ",")


def _mt940(
    lines: list[tuple[str, str, str]],
    *,
    opening: Decimal = Decimal("0"),
    day: date | None = None,
    closing: Decimal | None = None,
    ref: str = "REF",
) -> bytes:
    """(amount like '250,00' signed by C/D prefix, reference, payer) -> an MT940 statement of one
    day whose closing balance is the opening balance plus the lines (unless ``closing`` says else)."""
    on = (day or timezone.localdate()).strftime("%y%m%d")
    total = sum((Decimal(a[1:].replace(",", ".")) * (1 if a[0] == "C" else -1) for a, _, _ in lines), Decimal("0"))
    out = [
        ":20:T" + str(abs(hash(tuple(lines))))[:10],
        ":25:DE89370400440532013000",
        ":28C:1/1",
        f":60F:{_mt940_amount(opening)[0]}{on}EUR{_mt940_amount(opening)[1:]}",
    ]
    for n, (amount, reference, payer) in enumerate(lines):
        out.append(f":61:{on}{on[2:]}{amount}NTRFNONREF//{ref}{n:08d}")
        out.append(f":86:166?00SEPA-GUTSCHRIFT?20EREF+NOTPROVIDED?21SVWZ+{reference}?32{payer}")
    end = _mt940_amount(opening + total if closing is None else closing)
    out.append(f":62F:{end[0]}{on}EUR{end[1:]}")
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
    imported = statement_import(actor=staff(Role.FINANCE), data=data, filename="nov.sta")
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
    statement_import(actor=staff(Role.FINANCE), data=first, filename="a.sta")
    with pytest.raises(PaymentError, match="already imported") as exc:
        statement_import(actor=staff(Role.FINANCE), data=first, filename="a-again.sta")
    assert exc.value.status == 409
    overlapping = first.replace(b":20:T", b":20:X")  # another file, the same line
    again = statement_import(actor=staff(Role.FINANCE), data=overlapping, filename="b.sta")
    assert again.lines_total == 1 and again.lines_new == 0
    assert StatementLine.objects.count() == 1


def test_good_camt053_statement_is_imported() -> None:
    imported = statement_import(
        actor=staff(Role.FINANCE), data=(FIXTURES / "statement.camt053.xml").read_bytes(), filename="camt.xml"
    )
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
        statement_import(actor=staff(Role.FINANCE), data=data, filename="bad")
    assert exc.value.field == "file" and "\n" not in exc.value.message
    assert StatementImport.objects.count() == 0


def test_bad_statement_whose_lines_do_not_lead_to_its_closing_balance_is_refused_whole() -> None:
    client = approved_client(provision=False)
    data = _mt940(
        [("C250,00", client.reference, client.display_name), ("D40,00", "bank fees", "BANK")],
        opening=Decimal("1000"),
        closing=Decimal("1250"),  # a line is missing: 1000 + 250 - 40 is 1210
    )
    with pytest.raises(PaymentError) as exc:
        statement_import(actor=staff(Role.FINANCE), data=data, filename="truncated.sta")
    assert exc.value.field == "file" and exc.value.status == 400
    assert exc.value.message == (
        "file: the statement's lines add up to 210.00 EUR, but its opening balance 1000.00 and closing balance"
        " 1250.00 differ by 250.00: the file is incomplete or altered; nothing was imported."
    )
    assert StatementImport.objects.count() == 0 and StatementLine.objects.count() == 0


def test_good_consecutive_statements_chain_and_a_missing_one_opens_a_break_with_both_sides() -> None:
    client = approved_client(provision=False)
    monday, tuesday, thursday = (timezone.localdate() - timedelta(days=d) for d in (3, 2, 0))
    first = statement_import(
        actor=staff(Role.FINANCE),
        data=_mt940(
            [("C100,00", client.reference, client.display_name)], opening=Decimal("500"), day=monday, ref="MON"
        ),
        filename="mon.sta",
    )
    assert (first.opening_balance, first.closing_balance, first.closing_on) == (500, 600, monday)
    statement_import(
        actor=staff(Role.FINANCE),  # Tuesday's opens where Monday's closed: no break
        data=_mt940([("C50,00", "C0000000 x", "X")], opening=Decimal("600"), day=tuesday, ref="TUE"),
        filename="tue.sta",
    )
    assert not ReconciliationBreak.objects.exists()
    # Wednesday's statement never arrived: Thursday's opens at 900, Tuesday's closed at 650.
    thursday_import = statement_import(
        actor=staff(Role.FINANCE),
        data=_mt940([("C10,00", "C0000000 y", "Y")], opening=Decimal("900"), day=thursday, ref="THU"),
        filename="thu.sta",
    )
    brk = ReconciliationBreak.objects.get(kind="statement_gap")
    assert brk.difference == Decimal("250") and brk.currency == "EUR"
    assert brk.ours["closing balance"] == "650.00 EUR" and brk.ours["on"] == str(tuesday)
    assert brk.theirs["opening balance"] == "900.00 EUR" and brk.theirs["on"] == str(thursday)
    assert f"import {thursday_import.pk}" in brk.theirs["statement"]
    assert WorkItem.objects.filter(
        queue__code="reconciliation_break", subject_id=str(brk.pk), resolved_at=None
    ).exists()
    assert StatementLine.objects.filter(statement=thursday_import).count() == 1  # the lines are imported anyway
    # Wednesday's statement arrives late: it opens where Tuesday's closed and closes where
    # Thursday's opens, so the gap is closed and the break resolves itself.
    wednesday = thursday - timedelta(days=1)
    statement_import(
        actor=staff(Role.FINANCE),
        data=_mt940([("C250,00", "C0000000 w", "W")], opening=Decimal("650"), day=wednesday, ref="WED"),
        filename="wed.sta",
    )
    brk.refresh_from_db()
    assert brk.resolved_at is not None
    assert not WorkItem.objects.filter(queue__code="reconciliation_break", subject_id=str(brk.pk), resolved_at=None)
    assert not ReconciliationBreak.objects.filter(resolved_at=None).exists()


def test_bad_statement_imported_before_the_one_it_follows_is_still_checked() -> None:
    tuesday, monday = (timezone.localdate() - timedelta(days=d) for d in (1, 2))
    statement_import(
        actor=staff(Role.FINANCE),
        data=_mt940([("C5,00", "x", "X")], opening=Decimal("700"), day=tuesday, ref="TU"),
        filename="t",
    )
    assert not ReconciliationBreak.objects.exists()  # nothing before it yet
    statement_import(
        actor=staff(Role.FINANCE),
        data=_mt940([("C5,00", "y", "Y")], opening=Decimal("100"), day=monday, ref="MO"),
        filename="m",
    )
    brk = ReconciliationBreak.objects.get(kind="statement_gap")  # Monday closes at 105, Tuesday opens at 700
    assert brk.ours["closing balance"] == "105.00 EUR" and brk.theirs["opening balance"] == "700.00 EUR"
    assert brk.difference == Decimal("595")


def test_statements_page_imports_a_file_shows_its_balances_and_refuses_one_that_does_not_add_up(
    client: DjangoClient,
) -> None:
    sign_in(client, staff(Role.FINANCE))
    good = _mt940([("C75,00", "C0000000 z", "Z")], opening=Decimal("1000"), ref="PAGE")
    response = client.post("/payments/statements/", {"file": SimpleUploadedFile("nov.sta", good)})
    assert response.status_code == 302
    page = client.get("/payments/statements/").content.decode()
    assert "1,000.00 EUR" in page and "1,075.00 EUR" in page  # opening and closing balances, with their dates
    bad = _mt940([("C75,00", "C0000000 z", "Z")], opening=Decimal("1000"), closing=Decimal("1100"), ref="BAD")
    refused = client.post("/payments/statements/", {"file": SimpleUploadedFile("bad.sta", bad)})
    assert refused.status_code == 400
    assert "the statement&#x27;s lines add up to 75.00 EUR" in refused.content.decode()
    assert StatementImport.objects.count() == 1
