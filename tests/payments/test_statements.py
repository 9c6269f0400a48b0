"""Bank statement parsing (payments.statements): plain tests, no database."""

from __future__ import annotations

import datetime
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from payments.statements import ParsedStatement, StatementError, parse_statement

FIXTURES = Path(__file__).parent / "fixtures"
MT940 = (FIXTURES / "statement.mt940").read_bytes()
CAMT053 = (FIXTURES / "statement.camt053.xml").read_bytes()
ACCOUNT = "DE89370400440532013000"

# amount, reference, counterparty name, counterparty account, booked on
EXPECTED = [
    ("250.00", "BO-100042 deposit", "MARIA SCHMIDT", "DE02120300000000202051", datetime.date(2026, 11, 18)),
    ("1499.90", "INVOICE 77", "ACME TRADING LTD", "GB33BUKB20201555555555", datetime.date(2026, 11, 19)),
    (
        "12345.67",
        "SETTLEMENT BATCH SB-2026-11-20",
        "SIMPAY PSP LTD",
        "LT121000011101001000",
        datetime.date(2026, 11, 20),
    ),
    ("-500.00", "WD-000017 payout", "JOHN SMITH", "GB29NWBK60161331926819", datetime.date(2026, 11, 20)),
]


def swap(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, f"{old!r} is not in the fixture exactly once"
    return data.replace(old, new)


@pytest.fixture(params=["mt940", "camt053"])
def statement(request: pytest.FixtureRequest) -> ParsedStatement:
    return parse_statement(MT940 if request.param == "mt940" else CAMT053)


def test_detects_the_format_from_the_content() -> None:
    assert parse_statement(MT940, filename="upload.xml").format == "mt940"
    assert parse_statement(CAMT053, filename="upload.txt").format == "camt053"


def test_both_formats_read_the_same_statement(statement: ParsedStatement) -> None:
    assert statement.account == ACCOUNT
    assert statement.statement_id.startswith("STMT20261120")
    assert statement.currency == "EUR"
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("10000.00"), Decimal("23595.57"))
    assert (statement.opening_on, statement.closing_on) == (datetime.date(2026, 11, 17), datetime.date(2026, 11, 20))
    assert type(statement.opening_on) is datetime.date  # a plain date, whatever the library's own type
    got = [
        (str(line.amount), line.reference, line.counterparty_name, line.counterparty_account, line.booked_on)
        for line in statement.lines
    ]
    assert got == EXPECTED
    assert all(line.currency == "EUR" and line.value_on == line.booked_on for line in statement.lines)
    assert all(isinstance(value, str) for line in statement.lines for value in line.raw.values())


def test_both_formats_give_the_same_lines() -> None:
    """Everything but the raw display fields, the external ids included."""
    mt940_lines = [replace(line, raw={}) for line in parse_statement(MT940).lines]
    assert mt940_lines == [replace(line, raw={}) for line in parse_statement(CAMT053).lines]


def test_amounts_are_exact_signed_decimals(statement: ParsedStatement) -> None:
    amounts = [line.amount for line in statement.lines]
    assert all(type(amount) is Decimal for amount in amounts)
    assert amounts == [Decimal("250.00"), Decimal("1499.90"), Decimal("12345.67"), Decimal("-500.00")]
    assert str(amounts[1]) == "1499.90"  # not 1499.9, not a float
    assert statement.opening_balance is not None
    assert statement.opening_balance + sum(amounts) == statement.closing_balance


def test_the_debit_is_negative_and_names_the_payee(statement: ParsedStatement) -> None:
    debit = statement.lines[3]
    assert debit.amount == Decimal("-500.00") and debit.amount < 0
    assert (debit.counterparty_name, debit.reference) == ("JOHN SMITH", "WD-000017 payout")
    assert all(line.amount > 0 for line in statement.lines[:3])


def test_external_ids_are_stable_and_distinct(statement: ParsedStatement) -> None:
    again = parse_statement(MT940 if statement.format == "mt940" else CAMT053)
    ids = [line.external_id for line in statement.lines]
    assert ids == [line.external_id for line in again.lines]
    assert len(set(ids)) == len(ids) == 4
    # The bank's own reference where there is one; the settlement line has none (and NOTPROVIDED does not count).
    assert ids[0] == "2026111800000001" and ids[3] == "2026112000000004"
    assert len(ids[2]) == 64 and int(ids[2], 16) >= 0


def test_unstructured_mt940_details_become_the_reference() -> None:
    keyed = MT940[MT940.index(b":86:/TRTP/") : MT940.index(b"/EREF/NOTPROVIDED")]
    data = swap(MT940, keyed + b"/EREF/NOTPROVIDED", b":86:Payment for INVOICE 77\n  thank you")
    line = parse_statement(data).lines[1]
    assert (line.reference, line.counterparty_name, line.counterparty_account) == (
        "Payment for INVOICE 77 thank you",
        "",
        "",
    )


def test_pending_camt_entries_are_not_lines() -> None:
    data = CAMT053.replace(b"<Sts>BOOK</Sts>", b"<Sts>PDNG</Sts>", 1)
    assert [line.reference for line in parse_statement(data).lines] == [ref for _, ref, *_ in EXPECTED[1:]]


BAD_INPUTS = {
    "empty": (b"", "the file is empty"),
    "blank": (b"  \r\n", "the file is empty"),
    "other XML": (
        b'<?xml version="1.0"?><Invoice xmlns="urn:example:invoice"><Total>1</Total></Invoice>',
        "not an MT940 or CAMT.053 file: XML <Invoice> is not in a camt.053 namespace (urn:example:invoice)",
    ),
    "CAMT.054": (
        swap(CAMT053, b"camt.053.001.02", b"camt.054.001.02"),
        "not an MT940 or CAMT.053 file: XML <Document> is not in a camt.053 namespace"
        " (urn:iso:std:iso:20022:tech:xsd:camt.054.001.02)",
    ),
    "broken XML": (b"<Document><Stmt>", "not a well-formed XML file: Premature end of data in tag Stmt line 1"),
    "garbage text": (
        b"Dear customer,\nplease find attached ...\n",
        "not an MT940 or CAMT.053 file: it is neither XML nor text with :20:/:25:/:61: tags",
    ),
    "binary": (b"\x00\x01\x02\xff\xfe\x9d", "not a text file: it holds undecodable or binary bytes"),
    "MT940 amount": (
        swap(MT940, b"C1499,90NTRF", b"C1499,9xNTRF"),
        "MT940 line 11: amount '1499,9x' is not a number",
    ),
    "MT940 balance currency": (
        swap(MT940, b":60F:C261117EUR", b":60F:C261117EU1"),
        "MT940 line 4: currency 'EU1' is not a 3-letter code",
    ),
    "MT940 without account": (
        swap(MT940, b":25:DE89370400440532013000\n", b""),
        "MT940 (:25:): the statement has no account",
    ),
    "CAMT entry without currency": (
        swap(CAMT053, b'<Amt Ccy="EUR">1499.90</Amt>\n        <CdtDbtInd>', b"<Amt>1499.90</Amt>\n        <CdtDbtInd>"),
        "CAMT.053 entry 2: missing currency",
    ),
    "CAMT entry amount": (
        swap(
            CAMT053, b'<Amt Ccy="EUR">12345.67</Amt>\n        <CdtDbtInd>', b'<Amt Ccy="EUR">12,345.67</Amt><CdtDbtInd>'
        ),
        "CAMT.053 entry 3: amount '12,345.67' is not a number",
    ),
    "CAMT without account": (
        swap(CAMT053, b"<IBAN>DE89370400440532013000</IBAN>\n        </Id>\n        <Ccy>", b"</Id><Ccy>"),
        "CAMT.053 (<Acct><Id>): the statement has no account",
    ),
}


@pytest.mark.parametrize(("data", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(StatementError) as raised:
        parse_statement(data)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_the_file_name_words_the_unknown_format_error() -> None:
    with pytest.raises(StatementError, match=r"^report\.pdf: not an MT940 or CAMT\.053 file"):
        parse_statement(b"%PDF-1.7 not a statement", filename="report.pdf")
