"""Bank statement files read into plain data: SWIFT MT940 and ISO 20022 CAMT.053.

No database here; the importer turns a ParsedStatement into rows. The libraries do the format work: mt940
reads the tags and the structured German ``?20..?33`` form of ``:86:``, pycamt reads the CAMT entries. What
they let through silently (an MT940 amount ``12,3x`` reads as 12.3, a CAMT entry without a currency) is
checked here, so a bad file fails with one line naming the problem instead of importing wrong amounts.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import mt940
from lxml import etree
from pycamt.parser import Camt053Parser


@dataclass(frozen=True)
class ParsedLine:
    external_id: str  # the bank's reference, else a sha256 of the line's content and position: same on every parse
    booked_on: datetime.date
    value_on: datetime.date | None
    amount: Decimal  # credit > 0, debit < 0
    currency: str
    reference: str
    counterparty_name: str  # the payer of a credit, the payee of a debit
    counterparty_account: str
    raw: dict[str, str]


@dataclass(frozen=True)
class ParsedStatement:
    format: str  # "mt940" or "camt053"
    account: str
    statement_id: str
    currency: str
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    lines: list[ParsedLine]
    opening_on: datetime.date | None = None  # the dates the bank gives its opening and closing balances
    closing_on: datetime.date | None = None

    def lines_total(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.currency == self.currency), Decimal("0"))


class StatementError(ValueError):
    """The file cannot be read as a statement; the message is one line that names the problem."""


# A line before it has its external id, with the references that may become it (best first).
_Draft = tuple[list[str | None], ParsedLine]


def parse_statement(data: bytes, *, filename: str = "") -> ParsedStatement:
    """Read an MT940 or CAMT.053 file, telling the format from the content (``filename`` only words errors)."""
    unknown = f"{filename + ': ' if filename else ''}not an MT940 or CAMT.053 file"
    body = data.removeprefix(b"\xef\xbb\xbf").strip()
    if not body:
        raise StatementError("the file is empty")
    if body.startswith(b"<"):
        return _parse_camt(body, unknown)
    text = _decode(data)
    if not _MT940_TAG.search(text):
        raise StatementError(f"{unknown}: it is neither XML nor text with :20:/:25:/:61: tags")
    return _parse_mt940(text)


_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NO_REF = {"", "NONREF", "NOTPROVIDED", "NOT PROVIDED"}


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):  # German banks still send Latin-1 umlauts
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _BINARY.search(text):
            return text
    raise StatementError("not a text file: it holds undecodable or binary bytes")


def _collapse(text: str | None) -> str:
    return " ".join((text or "").split())


def _currency(code: str | None, where: str) -> str:
    code = (code or "").strip().upper()
    if not code:
        raise StatementError(f"{where}: missing currency")
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise StatementError(f"{where}: currency {code!r} is not a 3-letter code")
    return code


def _join(ids: Iterable[str]) -> str:
    return ",".join(dict.fromkeys(filter(None, ids)))


def _finish(statement: ParsedStatement, accounts: list[str], drafts: list[_Draft], label: str) -> ParsedStatement:
    """Check the account, then give every line its external id (see ParsedLine.external_id)."""
    accounts = ["".join(account.split()) for account in accounts]
    if not all(accounts):
        raise StatementError(f"{label}: the statement has no account")
    if len(set(accounts)) > 1:
        raise StatementError(
            f"{label}: the file holds statements of several accounts: {', '.join(sorted(set(accounts)))}"
        )
    account, seen, lines = accounts[0], set[str](), []
    for index, (refs, line) in enumerate(drafts):
        ext = next((ref.strip() for ref in refs if ref and ref.strip().upper() not in _NO_REF), "")
        if not ext:
            amount = format(line.amount.normalize(), "f")
            parts = (account, line.booked_on.isoformat(), amount, line.currency, line.reference, line.counterparty_name)
            ext = hashlib.sha256("\x1f".join((*parts, str(index))).encode()).hexdigest()
        if ext in seen:  # a bank reference repeated within the file
            ext = f"{ext}#{index}"
        seen.add(ext)
        lines.append(replace(line, external_id=ext))
    return replace(statement, account=account, lines=lines)


# --- MT940 -------------------------------------------------------------------------------------------------

_MT940_TAG = re.compile(r"^:(?:20|25|61):", re.MULTILINE)
# mt940 reads an amount up to its first odd character and carries on (12,3xNTRF is 12.3), so the whole
# amount is checked first: everything between the debit/credit mark and the transaction type (N/F/S + 3).
_LINE_61 = re.compile(
    r":61:\d{6}(?:\d{4}|\s{4})?(?:R?[CD]|r?[cd])(?:[A-Z](?=\d))?\s?(?P<amount>.*?)(?=[NFSnfs][A-Za-z0-9]{3})"
)
_BALANCE = re.compile(r":(?:60[FM]?|62[FM]?|64|65):[CD]\d{6}(?P<currency>.{0,3})(?P<amount>.*)")
_MT940_AMOUNT = re.compile(r"\d{1,15}(?:,\d*)?")
# Every fix mt940 offers over its 5.0 behaviour; among them ?31 is the counterparty IBAN (not part of the name),
# RC (the reversal of a credit) is negative, and a long :86: is no longer cut off.
_MT940_OPTIONS = mt940.Options.all()
_MT940_RAW = ("id", "customer_reference", "bank_reference", "posting_text", "raw_details")
# The /KEY/value form of :86: (Dutch banks): /TRTP/SEPA OVERBOEKING/IBAN/NL.../NAME/ACME/REMI/INVOICE 77/
_KEYED = re.compile(r"/(TRTP|IBAN|BIC|NAME|REMI|USTD|STRD|EREF|MARF|CSID|ORDP|BENM|ADDR|CNTP|ISDT|PURP)/")


def _keep_raw_details(transactions: Any, tag: Any, tag_dict: dict[str, Any], *args: Any) -> dict[str, Any]:
    """mt940 drops the :86: text once it has split the structured form; keep a copy for display."""
    tag_dict["raw_details"] = tag_dict.get("transaction_details") or ""
    return tag_dict


def _check_mt940(text: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if match := _LINE_61.match(line.strip()):
            amount = match["amount"]
        elif match := _BALANCE.match(line.strip()):
            _currency(match["currency"], f"MT940 line {number}")
            amount = match["amount"]
        else:
            continue
        if not _MT940_AMOUNT.fullmatch(amount):
            raise StatementError(f"MT940 line {number}: amount {amount!r} is not a number")


def _mt940_failure(text: str, exc: RuntimeError) -> str:
    """mt940 raises RuntimeError(message, tag, value) for a field that does not fit its tag's pattern."""
    tag, value = (exc.args[1], str(exc.args[2]).strip()) if len(exc.args) == 3 else (None, "")
    first = value.splitlines()[0] if value else ""
    number = next((n for n, line in enumerate(text.splitlines(), 1) if first and first in line), None)
    return f"MT940{f' line {number}' if number else ''}: cannot read the :{getattr(tag, 'id', '?')}: field {first!r}"


def _keyed_fields(text: str) -> dict[str, str]:
    parts = _KEYED.split(text)
    fields: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        if (value := _collapse(value.strip("/"))) and key not in fields:
            fields[key] = value
    return fields if "NAME" in fields or "REMI" in fields else {}


def _mt940_line(data: dict[str, Any]) -> _Draft:
    if "transaction_details" in data:  # free text or the /KEY/ form: mt940 found no ?-subfields
        free = str(data["transaction_details"])
        keyed = _keyed_fields(free.replace("\n", ""))
        reference = keyed.get("REMI") or keyed.get("USTD") or free
        name, iban, e2e = keyed.get("NAME"), keyed.get("IBAN"), keyed.get("EREF")
    else:
        reference = f"{data.get('purpose') or ''} {data.get('additional_purpose') or ''}"
        name, iban, e2e = data.get("applicant_name"), data.get("applicant_iban"), data.get("end_to_end_reference")
    customer_ref = str(data.get("customer_reference") or "")
    if not _collapse(reference):  # no :86: at all: the :61: references are all there is
        reference = f"{'' if customer_ref.upper() in _NO_REF else customer_ref} {data.get('extra_details') or ''}"
    value_on, booked_on = data["date"], data.get("entry_date") or data["date"]
    line = ParsedLine(
        external_id="",
        booked_on=datetime.date(booked_on.year, booked_on.month, booked_on.day),
        value_on=datetime.date(value_on.year, value_on.month, value_on.day),
        amount=data["amount"].amount,
        currency=_currency(data["amount"].currency, "MT940 :61: line"),
        reference=_collapse(reference),
        counterparty_name=_collapse(name),
        counterparty_account="".join((iban or "").split()),
        raw={key: str(data[key]) for key in _MT940_RAW if data.get(key)},
    )
    return [data.get("bank_reference"), e2e], line


def _plain_date(balance: Any) -> datetime.date | None:
    day = getattr(balance, "date", None)
    return datetime.date(day.year, day.month, day.day) if day else None


def _parse_mt940(text: str) -> ParsedStatement:
    _check_mt940(text)
    kwargs: dict[str, Any] = {"processors": {"pre_transaction_details": [_keep_raw_details]}, "options": _MT940_OPTIONS}
    try:
        blocks = mt940.parse_statements(text, **kwargs) or [mt940.parse(text, **kwargs)]  # or: no :20: at all
    except RuntimeError as exc:
        raise StatementError(_mt940_failure(text, exc)) from exc
    except (ValueError, ArithmeticError) as exc:
        raise StatementError(f"MT940: {_collapse(str(exc))}") from exc
    first, last = blocks[0].data, blocks[-1].data
    opening = first.get("final_opening_balance") or first.get("opening_balance")
    closing = last.get("final_closing_balance") or last.get("closing_balance")
    ids = (
        "/".join(filter(None, (b.data.get("transaction_reference"), b.data.get("statement_number")))) for b in blocks
    )
    currency = _currency(blocks[0].currency, "MT940 statement (:60F: opening balance)")
    balances = (opening.amount.amount if opening else None, closing.amount.amount if closing else None)
    statement = ParsedStatement(
        "mt940", "", _join(ids), currency, *balances, [],
        opening_on=_plain_date(opening), closing_on=_plain_date(closing),
    )  # fmt: skip
    drafts = [_mt940_line(t.data) for b in blocks for t in b if "amount" in t.data]
    accounts = [str(b.data.get("account_identification") or "") for b in blocks]
    return _finish(statement, accounts, drafts, "MT940 (:25:)")


# --- CAMT.053 ----------------------------------------------------------------------------------------------

_CAMT_AMOUNT = re.compile(r"\d+(?:\.\d+)?")
_CAMT_RAW = (
    "TransactionID",
    "EndToEndId",
    "AdditionalEntryInformation",
    "BankTransactionCode",
    "TransactionFamilyCode",
    "TransactionSubFamilyCode",
)


def _text(element: Any, path: str, ns: dict[str | None, str]) -> str:
    found = element.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def _camt_amount(text: str | None, indicator: str | None, where: str) -> Decimal:
    if not text:
        raise StatementError(f"{where}: missing amount <Amt>")
    if not _CAMT_AMOUNT.fullmatch(text.strip()):
        raise StatementError(f"{where}: amount {text!r} is not a number")
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(f"{where}: credit/debit indicator <CdtDbtInd> is {indicator!r}, not CRDT or DBIT")
    return -Decimal(text.strip()) if indicator == "DBIT" else Decimal(text.strip())


def _camt_date(text: str | None, where: str, what: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat((text or "").strip()[:10])  # a <Dt> or the date of a <DtTm>
    except ValueError:
        problem = f"{what} {text!r} is not a date" if text else f"missing {what}"
    raise StatementError(f"{where}: {problem}")


def _camt_balance(
    stmt: Any, ns: dict[str | None, str], codes: tuple[str, ...]
) -> tuple[Decimal | None, datetime.date | None]:
    """A balance and its date. pycamt turns balances into floats; read them exactly."""
    for code in codes:
        for bal in stmt.findall("Bal", ns):
            if _text(bal, "Tp/CdOrPrtry/Cd", ns) == code:
                where = f"CAMT.053 balance {code}"
                amount = _camt_amount(_text(bal, "Amt", ns), _text(bal, "CdtDbtInd", ns), where)
                day = _text(bal, "Dt/Dt", ns) or _text(bal, "Dt/DtTm", ns)[:10]
                return amount, (_camt_date(day, where, "date <Dt>") if day else None)
    return None, None


def _camt_lines(camt: Any, stmt: Any, entry: Any, where: str) -> list[_Draft]:
    # pycamt has no public call for one entry; these two are what get_transactions() runs for each <Ntry>.
    common: dict[str, Any] = camt._extract_common_entry_data(entry, stmt)
    if (common["Status"] or "BOOK") != "BOOK":  # pending or for information: not on the account yet
        return []
    currency = _currency(common["Currency"], where)
    entry_amount = _camt_amount(common["Amount"], common["CreditDebitIndicator"], where)
    booked_on = _camt_date(common["BookingDate"], where, "booking date <BookgDt>")
    value_on = _camt_date(common["ValueDate"], where, "value date <ValDt>") if common["ValueDate"] else None
    transactions: list[dict[str, Any]] = camt._extract_transaction(entry, stmt)
    drafts: list[_Draft] = []
    for index, tx in enumerate(transactions, 1):
        # One transaction: the entry's own amount (a TxDtls amount may be the instructed, foreign one).
        # A batch: each transaction's amount and direction as pycamt reads them, and a numbered bank reference.
        amount, bank_ref = entry_amount, common["TransactionID"]
        if len(transactions) > 1:
            amount = _camt_amount(tx.get("Amount"), tx.get("CreditDebitIndicator"), f"{where} transaction {index}")
            bank_ref = bank_ref and f"{bank_ref}/{index}"
        side = "Debtor" if amount > 0 else "Creditor"
        reference = tx.get("RemittanceInformationFull") or tx.get("RemittanceInformation")
        line = ParsedLine(
            external_id="",
            booked_on=booked_on,
            value_on=value_on,
            amount=amount,
            currency=currency,
            reference=_collapse(reference or common["AdditionalEntryInformation"]),
            counterparty_name=_collapse(tx.get(f"{side}Name")),
            counterparty_account="".join((tx.get(f"{side}IBAN") or "").split()),
            raw={key: str(tx[key]) for key in _CAMT_RAW if tx.get(key)},
        )
        drafts.append(([bank_ref, tx.get("EndToEndId")], line))
    return drafts


_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.I)


def _parse_camt(body: bytes, unknown: str) -> ParsedStatement:
    # pycamt's lxml parser neither expands entities nor fetches anything; a bank's CAMT file has no
    # DTD at all, so one (an entity bomb, an external entity) is refused before any parsing.
    if _DTD.search(body):
        raise StatementError("XML with a DTD or entity declarations is not accepted (a CAMT.053 file has none)")
    try:
        camt = Camt053Parser(body)  # lxml without entity expansion or network access
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"not a well-formed XML file: {_collapse(str(exc))}") from exc
    root = etree.QName(camt.tree)
    if "camt.053." not in (root.namespace or ""):
        raise StatementError(f"{unknown}: XML <{root.localname}> is not in a camt.053 namespace ({root.namespace})")
    # pycamt's paths are unprefixed: point them at the document's namespace, whatever prefix the file uses.
    ns = camt.namespaces = {None: root.namespace}
    stmts = camt.tree.findall(".//Stmt", ns)
    if not stmts:
        raise StatementError("CAMT.053: no <Stmt> statement in the file")
    infos = camt.get_statement_info()
    currency = infos[0]["Currency"] or next((amt.get("Ccy") for amt in stmts[0].findall("Bal/Amt", ns)), None)
    currency = _currency(currency, "CAMT.053 statement (<Acct><Ccy>)")
    (opening, opening_on), (closing, closing_on) = (
        _camt_balance(stmts[0], ns, ("OPBD", "PRCD")),
        _camt_balance(stmts[-1], ns, ("CLBD",)),
    )
    ids = _join(_text(stmt, "Id", ns) for stmt in stmts)
    statement = ParsedStatement(
        "camt053", "", ids, currency, opening, closing, [], opening_on=opening_on, closing_on=closing_on
    )
    entries = [(stmt, entry) for stmt in stmts for entry in stmt.findall("Ntry", ns)]
    drafts = [
        d for n, (stmt, entry) in enumerate(entries, 1) for d in _camt_lines(camt, stmt, entry, f"CAMT.053 entry {n}")
    ]
    accounts = [info["IBAN"] or _text(stmt, "Acct/Id/Othr/Id", ns) for stmt, info in zip(stmts, infos, strict=True)]
    return _finish(statement, accounts, drafts, "CAMT.053 (<Acct><Id>)")
