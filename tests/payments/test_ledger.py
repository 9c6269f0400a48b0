"""The ledger's rules hold in the database itself, not only in Python."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, ProgrammingError, connection, transaction

from payments import errors
from payments.currencies import money_parse
from payments.errors import IdempotencyConflict, PaymentError
from payments.models import HOUSE_BALANCE_BUCKETS, AccountKind, Balance, BalanceBucket, EntryKind, JournalEntry, Posting
from payments.services.ledger import (
    balance_of,
    credit,
    debit,
    hold_place,
    hold_release,
    house_account,
    ledger_post,
    ledger_reverse,
    ledger_verify,
    wallet_for,
)
from tests.factories import client

pytestmark = pytest.mark.django_db


def _funded_wallet(amount: str = "100.00") -> tuple:
    wallet = wallet_for(client=client(), currency="EUR")
    bank = house_account(AccountKind.BANK, "EUR", ref="DE89370400440532013000")
    ledger_post(
        key=f"fund:{wallet.pk}", kind=EntryKind.DEPOSIT, memo="fund",
        lines=[debit(bank, Decimal(amount)), credit(wallet, Decimal(amount))],
    )  # fmt: skip
    return wallet, bank


def test_good_balanced_entry_updates_both_balances() -> None:
    wallet, bank = _funded_wallet("100.00")
    assert balance_of(wallet).ledger == Decimal("100.00")
    assert balance_of(bank).ledger == Decimal("100.00")  # debit-normal asset
    assert ledger_verify().ok


def test_bad_unbalanced_entry_is_refused_in_python() -> None:
    wallet, bank = _funded_wallet()
    with pytest.raises(PaymentError, match="does not balance"):
        ledger_post(
            key="x", kind=EntryKind.DEPOSIT, memo="x", lines=[debit(bank, Decimal(5)), credit(wallet, Decimal(4))]
        )
    assert not JournalEntry.objects.filter(idempotency_key="x").exists()


def test_bad_unbalanced_entry_is_refused_by_the_database() -> None:
    wallet, _ = _funded_wallet()
    entry = JournalEntry.objects.first()
    assert entry is not None
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        Posting.objects.create(entry=entry, account=wallet, currency="EUR", amount=Decimal("-1"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT would do


def test_bad_entry_without_postings_is_refused_by_the_database() -> None:
    _funded_wallet()
    with pytest.raises(IntegrityError, match="fewer than two postings"), transaction.atomic():
        JournalEntry.objects.create(
            idempotency_key="lonely", request_hash="0", kind="deposit", memo="x", actor_label="t"
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_bad_posting_in_another_currency_than_its_account() -> None:
    wallet, _ = _funded_wallet()
    entry = JournalEntry.objects.get()
    with pytest.raises(IntegrityError, match="differs"), transaction.atomic():
        Posting.objects.create(entry=entry, account=wallet, currency="USD", amount=Decimal("1"))


def test_bad_entries_and_postings_cannot_be_changed_or_deleted() -> None:
    _funded_wallet()
    with pytest.raises(ProgrammingError, match="Cannot"), transaction.atomic():
        Posting.objects.update(amount=Decimal("1"))
    with pytest.raises(ProgrammingError, match="Cannot delete"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM payments_posting")


def test_bad_wallet_available_balance_cannot_go_negative_in_the_database() -> None:
    wallet, _ = _funded_wallet("10.00")
    with pytest.raises(IntegrityError, match="balance_available_not_negative"), transaction.atomic():
        Balance.objects.filter(pk=wallet.pk).update(held=Decimal("10.01"))


def test_bad_overdraft_is_refused_and_changes_nothing() -> None:
    wallet, bank = _funded_wallet("10.00")
    before = JournalEntry.objects.count()
    with pytest.raises(PaymentError) as exc:
        ledger_post(
            key="over",
            kind=EntryKind.WITHDRAWAL,
            memo="x",
            lines=[debit(wallet, Decimal(11)), credit(bank, Decimal(11))],
        )
    assert exc.value.field == "amount"
    assert JournalEntry.objects.count() == before
    assert balance_of(wallet).ledger == Decimal("10.00")


def test_holds_reduce_available_not_ledger() -> None:
    wallet, _ = _funded_wallet("50.00")
    hold = hold_place(account=wallet, amount=Decimal("30"), reason="test")
    b = balance_of(wallet)
    assert (b.ledger, b.available) == (Decimal("50.00"), Decimal("20.00"))
    with pytest.raises(PaymentError, match="available balance"):
        hold_place(account=wallet, amount=Decimal("20.01"), reason="too much")
    hold_release(hold=hold)
    assert balance_of(wallet).available == Decimal("50.00")
    assert ledger_verify().ok


def test_same_key_same_request_is_one_entry_different_request_is_422() -> None:
    wallet, bank = _funded_wallet()
    lines = [debit(bank, Decimal(5)), credit(wallet, Decimal(5))]
    first = ledger_post(key="k1", kind=EntryKind.DEPOSIT, memo="m", lines=lines)
    again = ledger_post(key="k1", kind=EntryKind.DEPOSIT, memo="m", lines=lines)
    assert first.pk == again.pk
    assert balance_of(wallet).ledger == Decimal("105.00")
    with pytest.raises(IdempotencyConflict) as exc:
        ledger_post(
            key="k1", kind=EntryKind.DEPOSIT, memo="m", lines=[debit(bank, Decimal(6)), credit(wallet, Decimal(6))]
        )
    assert exc.value.status == 422 and exc.value.field == "idempotency_key"


def test_correction_is_a_reversal_entry() -> None:
    wallet, _ = _funded_wallet("100.00")
    entry = JournalEntry.objects.get(idempotency_key=f"fund:{wallet.pk}")
    reversal = ledger_reverse(entry=entry, key="rev", memo="wrong client")
    assert reversal.reverses_id == entry.pk
    assert balance_of(wallet).ledger == 0
    with pytest.raises(PaymentError, match="already been reversed"):
        ledger_reverse(entry=entry, key="rev2", memo="again")


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10.001", "EUR", errors.TOO_MANY_DECIMALS.format(field="amount", currency="EUR", places=2)),
        ("1.5", "JPY", errors.TOO_MANY_DECIMALS.format(field="amount", currency="JPY", places=0)),
        ("-5", "EUR", errors.AMOUNT_NOT_POSITIVE.format(field="amount")),
        ("0", "EUR", errors.AMOUNT_NOT_POSITIVE.format(field="amount")),
        ("ten", "EUR", errors.AMOUNT_NOT_A_NUMBER.format(field="amount", value="ten")),
        ("NaN", "EUR", errors.AMOUNT_NOT_A_NUMBER.format(field="amount", value="NaN")),
        ("10", "XYZ", errors.UNKNOWN_CURRENCY.format(field="currency", currency="XYZ")),
        (10.5, "EUR", errors.AMOUNT_NOT_EXACT.format(field="amount")),
    ],
)
def test_bad_amounts_are_refused_naming_the_field(amount: object, currency: str, message: str) -> None:
    with pytest.raises(PaymentError) as exc:
        money_parse(amount, currency)
    assert exc.value.message == message


def test_good_amount_keeps_its_currency_precision() -> None:
    assert money_parse("10.5", "EUR") == Decimal("10.50")
    assert money_parse("10.500", "KWD") == Decimal("10.500")
    assert money_parse("1000", "JPY") == Decimal("1000")


def test_ledger_verify_names_a_tampered_balance_and_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    wallet, _ = _funded_wallet("100.00")
    call_command("ledger_verify")
    assert "ledger OK" in capsys.readouterr().out
    Balance.objects.filter(pk=wallet.pk).update(ledger=Decimal("150.00"))  # behind the service's back
    with pytest.raises(CommandError, match=f"balance of {wallet.code} is 150.0000, its postings sum to 100.0000"):
        call_command("ledger_verify")


def test_bad_account_without_a_balance_row_is_named_by_ledger_verify() -> None:
    """An account's balance starts from its balance row (plus its buckets, for a house account):
    verification names an account without one."""
    _, bank = _funded_wallet("100.00")
    fees = house_account(AccountKind.FEES, "EUR")
    Balance.objects.filter(pk=fees.pk).delete()  # behind the service's back
    report = ledger_verify()
    assert f"account {fees.code} has no balance row" in report.breaks
    assert balance_of(bank).ledger == Decimal("100.00")


def test_bad_house_account_without_its_buckets_is_refused_and_named_by_ledger_verify() -> None:
    """A house posting adds to one of the account's buckets: with none to add to it is refused (the
    money is not lost), and verification names the account."""
    wallet, _ = _funded_wallet("100.00")
    fees = house_account(AccountKind.FEES, "EUR")
    BalanceBucket.objects.filter(account=fees).delete()  # behind the service's back
    with pytest.raises(PaymentError, match=re.escape(errors.NO_BALANCE_BUCKETS.format(account=fees.pk))):
        ledger_post(
            key="fee", kind=EntryKind.FEE, memo="fee",
            lines=[debit(fees, Decimal("1.00")), credit(wallet, Decimal("1.00"))],
        )  # fmt: skip
    assert f"account {fees.code} has 0 balance buckets (expected {HOUSE_BALANCE_BUCKETS})" in ledger_verify().breaks
