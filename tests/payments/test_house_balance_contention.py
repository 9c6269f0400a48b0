"""A house account (PSP clearing) is shared by every deposit. Its balance row is incremented with the
COMMIT (a commit write), so an open deposit transaction does not hold it: a second deposit through
the same clearing account commits while the first is still open. Client balances stay locked for the
whole transaction (they carry the non-negative check). Real concurrent transactions, own connections."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from payments.models import AccountKind, EntryKind
from payments.services.ledger import balance_of, credit, debit, house_account, ledger_post, ledger_verify, wallet_for
from tests.factories import client

pytestmark = pytest.mark.django_db(transaction=True)


def test_open_deposit_does_not_hold_the_shared_clearing_row() -> None:
    clearing = house_account(AccountKind.PSP_CLEARING, "EUR", ref="simpay")
    first, second = wallet_for(client=client(), currency="EUR"), wallet_for(client=client(), currency="EUR")
    posted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_deposit() -> None:
        try:
            with transaction.atomic():
                ledger_post(
                    key="slow", kind=EntryKind.DEPOSIT, memo="slow",
                    lines=[debit(clearing, Decimal("10.00")), credit(first, Decimal("10.00"))],
                )  # fmt: skip
                posted.set()
                release.wait(20)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_deposit)
    thread.start()
    assert posted.wait(10)
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # a wait on the clearing row would fail here
        ledger_post(
            key="fast", kind=EntryKind.DEPOSIT, memo="fast",
            lines=[debit(clearing, Decimal("5.00")), credit(second, Decimal("5.00"))],
        )  # fmt: skip
    waited = time.monotonic() - started
    assert balance_of(clearing).ledger == Decimal("5.00")  # the open one is not there yet
    release.set()
    thread.join(20)
    assert not errors
    assert waited < 2
    assert balance_of(clearing).ledger == Decimal("15.00")
    assert balance_of(first).ledger == Decimal("10.00") and balance_of(second).ledger == Decimal("5.00")
    assert ledger_verify().ok


def test_open_withdrawal_still_holds_its_client_wallet() -> None:
    """The client's own balance row is what the non-negative check needs: still locked until commit."""
    clearing = house_account(AccountKind.PSP_CLEARING, "EUR", ref="simpay")
    wallet = wallet_for(client=client(), currency="EUR")
    ledger_post(
        key="fund", kind=EntryKind.DEPOSIT, memo="fund",
        lines=[debit(clearing, Decimal("10.00")), credit(wallet, Decimal("10.00"))],
    )  # fmt: skip
    posted, release = threading.Event(), threading.Event()

    def open_debit() -> None:
        try:
            with transaction.atomic():
                ledger_post(
                    key="out", kind=EntryKind.WITHDRAWAL, memo="out",
                    lines=[debit(wallet, Decimal("10.00")), credit(clearing, Decimal("10.00"))],
                )  # fmt: skip
                posted.set()
                release.wait(20)
        finally:
            connection.close()

    thread = threading.Thread(target=open_debit)
    thread.start()
    assert posted.wait(10)
    from django.db import OperationalError

    try:
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            ledger_post(
                key="again", kind=EntryKind.WITHDRAWAL, memo="again",
                lines=[debit(wallet, Decimal("10.00")), credit(clearing, Decimal("10.00"))],
            )  # fmt: skip
    finally:
        release.set()
        thread.join(20)
    assert balance_of(wallet).ledger == Decimal("0.00")
    assert ledger_verify().ok


def test_house_rows_locked_at_commit_in_one_order_never_deadlock() -> None:
    """8 threads post 25 entries each between two house accounts, half of them with the lines in
    the opposite order. The commit writes are sent sorted by account id, so no two transactions
    can wait on each other: no deadlock, and both balances add up."""
    from django.db import DatabaseError

    bank = house_account(AccountKind.BANK, "EUR", ref="DE89370400440532013000")
    fees = house_account(AccountKind.FEES, "EUR")
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def poster(n: int) -> None:
        try:
            barrier.wait(10)
            for i in range(25):
                lines = [debit(bank, Decimal("1.00")), credit(fees, Decimal("1.00"))]
                if (n + i) % 2:
                    lines.reverse()
                ledger_post(key=f"order:{n}:{i}", kind=EntryKind.ADJUSTMENT, memo="order", lines=lines)
        except DatabaseError as exc:  # a deadlock would land here
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poster, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert balance_of(bank).ledger == Decimal("200.00")  # debit-normal: +1 per entry
    assert balance_of(fees).ledger == Decimal("-200.00")  # fees are debit-normal too: credited 200
    assert balance_of(bank).postings_count == 200 and balance_of(fees).postings_count == 200
    assert ledger_verify().ok
