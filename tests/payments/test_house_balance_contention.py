"""A house account (PSP clearing) is shared by every deposit. Its balance is spread over bucket rows
(payments.models.BalanceBucket), and a posting adds to one no other open transaction holds: a second
deposit through the same clearing account commits while the first is still open. Client balances stay
locked for the whole transaction (they carry the non-negative check). Real concurrent transactions,
own connections."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from audit.context import Actor, acting_as
from payments.models import HOUSE_BALANCE_BUCKETS, AccountKind, BalanceBucket, Deposit, DepositStatus, EntryKind
from payments.services.deposits import deposit_initiate
from payments.services.ledger import (
    balance_of,
    credit,
    debit,
    house_account,
    ledger_post,
    ledger_verify,
    psp_clearing_account,
    wallet_for,
)
from payments.services.webhooks import inbound_event_store, inbound_events_drain
from sim import simpay
from tests.factories import approved_client, client

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


def test_house_postings_in_either_line_order_never_deadlock() -> None:
    """8 threads post 25 entries each between two house accounts, half of them with the lines in
    the opposite order. Buckets are taken in account-id order and only free ones (SKIP LOCKED), so no
    two transactions wait on each other: no deadlock, and both balances add up."""
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


def test_house_balance_is_its_row_plus_its_buckets_and_verify_checks_them() -> None:
    clearing = house_account(AccountKind.PSP_CLEARING, "EUR", ref="simpay")
    wallet = wallet_for(client=client(), currency="EUR")
    assert BalanceBucket.objects.filter(account=clearing).count() == HOUSE_BALANCE_BUCKETS
    assert not BalanceBucket.objects.filter(account=wallet).exists()
    for n in range(20):
        ledger_post(
            key=f"b{n}", kind=EntryKind.DEPOSIT, memo="b",
            lines=[debit(clearing, Decimal("1.00")), credit(wallet, Decimal("1.00"))],
        )  # fmt: skip
    buckets = BalanceBucket.objects.filter(account=clearing)
    assert sum(b.ledger for b in buckets) == Decimal("20.00") and sum(b.postings_count for b in buckets) == 20
    assert balance_of(clearing).ledger == Decimal("20.00") and balance_of(clearing).postings_count == 20
    assert ledger_verify().ok
    BalanceBucket.objects.filter(account=clearing, postings_count__gt=0).filter(
        pk=buckets.filter(postings_count__gt=0).values("pk")[:1]
    ).update(ledger=Decimal("999"))
    assert any(f"balance of {clearing.code} is" in b for b in ledger_verify().breaks)


def test_concurrent_drains_credit_every_deposit_through_one_clearing_account() -> None:
    """The default path (WEBHOOK_APPLY=queued): 4 threads store callbacks and drain the inbox at once,
    every deposit through the one SimPay clearing account, on 8 clients' wallets. Nothing is lost,
    nothing is applied twice, no deadlock."""
    from django.db import DatabaseError

    clients = [approved_client(provision=False) for _ in range(8)]
    deposits = [
        deposit_initiate(client=clients[n % 8], channel="card", amount="2.50", currency="EUR") for n in range(160)
    ]
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []
    applied: list[int] = []

    def receive_and_drain(n: int) -> None:
        try:
            with acting_as(Actor.system("webhook:simpay")):
                barrier.wait(30)
                for d in deposits[n::4]:
                    obj = {
                        "id": f"pay_{d.reference}", "order_reference": d.reference, "amount": "2.50",
                        "currency": "EUR", "cardholder": d.client.display_name, "card_last4": "4242",
                    }  # fmt: skip
                    delivery = simpay.signed(simpay.event("payment.succeeded", obj))
                    inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
                    if len(applied) % 5 == 0:
                        applied.append(inbound_events_drain(batch=10))
                applied.append(inbound_events_drain(batch=10))
        except DatabaseError as exc:  # a deadlock would land here
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=receive_and_drain, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert sum(applied) == 160
    assert Deposit.objects.filter(pk__in=[d.pk for d in deposits], status=DepositStatus.CREDITED).count() == 160
    assert balance_of(psp_clearing_account("EUR")).ledger == Decimal("400.00")
    assert balance_of(psp_clearing_account("EUR")).postings_count == 160
    for c in clients:
        assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("50.00")
    assert ledger_verify().ok
