"""The PSP inbox drained in batches: several entries posted in one step, a mixed batch of callbacks
applied exactly as one at a time would apply them, a refused batch applied event by event, two
drains at once on their own connections, and the "queued" webhook drained by a real worker."""

from __future__ import annotations

import subprocess
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient

from audit.context import Actor, acting_as
from audit.models import AuditEvent
from ops.models import Interaction, WorkItem
from payments.errors import IdempotencyConflict, PaymentError
from payments.models import (
    AccountKind,
    Deposit,
    DepositStatus,
    EntryKind,
    InboundEvent,
    JournalEntry,
    Posting,
    WebhookStatus,
)
from payments.services.deposits import deposit_initiate
from payments.services.ledger import (
    Post,
    balance_of,
    credit,
    debit,
    house_account,
    ledger_post_many,
    ledger_verify,
    psp_clearing_account,
    wallet_for,
)
from payments.services.webhooks import inbound_event_store, inbound_events_drain
from sim import simpay
from tests.conftest import wait_for
from tests.factories import approved_client

PSP = Actor.system("webhook:simpay")


def _store(evt: dict[str, Any]) -> InboundEvent:
    delivery = simpay.signed(evt)
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    return stored


def _paid(deposit: Deposit, *, cardholder: str, payment_id: str | None = None, **changes: Any) -> dict[str, Any]:
    obj = {
        "id": payment_id or f"pay_{deposit.reference}", "order_reference": deposit.reference,
        "amount": str(deposit.amount), "currency": deposit.currency, "cardholder": cardholder, "card_last4": "4242",
    } | changes  # fmt: skip
    return simpay.event("payment.succeeded", obj)


def _declined(deposit: Deposit) -> dict[str, Any]:
    obj = {
        "id": f"pay_{deposit.reference}", "order_reference": deposit.reference, "amount": str(deposit.amount),
        "currency": deposit.currency, "failure_code": "card_declined", "failure_message": "card declined",
    }  # fmt: skip
    return simpay.event("payment.failed", obj)


# --- several entries in one step ------------------------------------------------------------------


@pytest.mark.django_db
def test_ledger_post_many_posts_every_entry_or_none() -> None:
    c = approved_client(provision=False)
    wallet, clearing = wallet_for(client=c, currency="EUR"), psp_clearing_account("EUR")
    fees = house_account(AccountKind.FEES, "EUR")
    posts = [
        Post(
            f"t:{n}", EntryKind.DEPOSIT, f"deposit {n}", [debit(clearing, Decimal("10")), credit(wallet, Decimal("10"))]
        )
        for n in range(3)
    ]
    # the third entry takes more than the wallet will hold after the first two: all three refused
    overdraw = Post("t:fee", EntryKind.ADJUSTMENT, "fee", [debit(wallet, Decimal("25")), credit(fees, Decimal("25"))])
    with pytest.raises(PaymentError, match="available"):
        ledger_post_many([*posts[:2], overdraw])
    assert not JournalEntry.objects.filter(idempotency_key__startswith="t:").exists()
    assert balance_of(wallet).ledger == 0

    entries = ledger_post_many(posts)
    assert [e.idempotency_key for e in entries] == ["t:0", "t:1", "t:2"]
    assert Posting.objects.filter(entry__in=entries).count() == 6
    assert balance_of(wallet).ledger == Decimal("30") and balance_of(wallet).postings_count == 3
    assert balance_of(clearing).ledger == Decimal("30") and balance_of(clearing).postings_count == 3
    # posted again: the same entries, nothing new; one key replayed with another request: all refused
    assert [e.pk for e in ledger_post_many(posts)] == [e.pk for e in entries]
    changed = Post("t:1", EntryKind.DEPOSIT, "x", [debit(clearing, Decimal("11")), credit(wallet, Decimal("11"))])
    with pytest.raises(IdempotencyConflict):
        ledger_post_many([posts[0], changed])
    with pytest.raises(IdempotencyConflict):  # the same key twice in one call
        ledger_post_many([overdraw, overdraw])
    assert balance_of(wallet).ledger == Decimal("30")
    assert ledger_verify().ok


# --- a mixed inbox ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_mixed_inbox_is_applied_as_one_at_a_time_would_apply_it() -> None:
    a, b = approved_client(provision=False), approved_client(provision=False)
    dep = {name: deposit_initiate(client=a, channel="card", amount="100.00", currency="EUR") for name in "pqrst"}
    other = deposit_initiate(client=b, channel="card", amount="40.00", currency="EUR")
    events = [
        _store(_paid(dep["p"], cardholder=a.display_name)),  # credited
        _store(_paid(other, cardholder=b.display_name)),  # credited, another client
        _store(_paid(dep["q"], cardholder="Somebody Else Entirely")),  # a third party: held
        _store(_declined(dep["r"])),  # failed first ...
        _store(_paid(dep["r"], cardholder=a.display_name)),  # ... so its late success is ignored
        _store(_paid(dep["s"], cardholder=a.display_name)),  # credited ...
        _store(_paid(dep["s"], cardholder=a.display_name)),  # ... once (another event id, same payment)
        _store(_paid(dep["t"], cardholder=a.display_name, currency="USD")),  # not its currency: a person looks
        _store(simpay.event("payment.succeeded", {"id": "pay_x", "order_reference": "D-9999999", "amount": "5"})),
    ]
    with acting_as(PSP):
        assert inbound_events_drain(batch=50) == len(events)

    status = {name: Deposit.objects.get(pk=d.pk).status for name, d in dep.items()}
    assert status == {"p": DepositStatus.CREDITED, "q": DepositStatus.REVIEW, "r": DepositStatus.FAILED,
                      "s": DepositStatus.CREDITED, "t": DepositStatus.INITIATED}  # fmt: skip
    assert Deposit.objects.get(pk=other.pk).status == DepositStatus.CREDITED
    results = [InboundEvent.objects.get(pk=e.pk) for e in events]
    assert [e.status for e in results] == [
        WebhookStatus.PROCESSED, WebhookStatus.PROCESSED, WebhookStatus.PROCESSED, WebhookStatus.PROCESSED,
        WebhookStatus.IGNORED, WebhookStatus.PROCESSED, WebhookStatus.IGNORED, WebhookStatus.FAILED,
        WebhookStatus.FAILED,
    ]  # fmt: skip
    assert "already failed" in results[4].result and "already credited" in results[6].result
    assert "USD" in results[7].result and "D-9999999" in results[8].result
    assert WorkItem.objects.filter(queue__code="reconciliation_break", subject_id__in=[
        str(results[7].pk), str(results[8].pk)]).count() == 2  # fmt: skip
    assert WorkItem.objects.filter(queue__code="deposit_exception", subject_id=str(dep["q"].pk)).count() == 1

    assert balance_of(wallet_for(client=a, currency="EUR")).ledger == Decimal("200.00")  # p and s
    assert balance_of(wallet_for(client=b, currency="EUR")).ledger == Decimal("40.00")
    assert balance_of(psp_clearing_account("EUR")).ledger == Decimal("340.00")  # p, s, other, q (in suspense)
    assert ledger_verify().ok
    # each credited deposit: its history row, its audit event and its message, by the PSP
    for deposit in (dep["p"], dep["s"], other):
        change = deposit.history.order_by("-history_id").first()
        assert change.status == DepositStatus.CREDITED and change.history_type == "~"
        assert change.history_actor == "system:webhook:simpay" and change.entry_id is not None
        credited = AuditEvent.objects.get(action="payments.deposit_credited", subject_id=str(deposit.pk))
        assert credited.actor_label == "system:webhook:simpay"
        messages = Interaction.objects.filter(template="payments.deposit_credited", body__contains=deposit.reference)
        assert messages.count() == 1 and messages.get().recipient == deposit.client.email
    assert results[0].history.order_by("-history_id").first().status == WebhookStatus.PROCESSED
    # applied once: draining again finds nothing
    with acting_as(PSP):
        assert inbound_events_drain() == 0


@pytest.mark.django_db
def test_a_batch_the_database_refuses_is_applied_event_by_event() -> None:
    c = approved_client(provision=False)
    first, second, third = (deposit_initiate(client=c, channel="card", amount="10.00", currency="EUR") for _ in "abc")
    events = [
        _store(_paid(first, cardholder=c.display_name, payment_id="pay_same")),
        _store(_paid(second, cardholder=c.display_name, payment_id="pay_same")),  # the PSP reused a payment id
        _store(_paid(third, cardholder=c.display_name)),
    ]
    with acting_as(PSP):
        assert inbound_events_drain() == 3
    assert [Deposit.objects.get(pk=d.pk).status for d in (first, second, third)] == [
        DepositStatus.CREDITED, DepositStatus.INITIATED, DepositStatus.CREDITED,
    ]  # fmt: skip
    refused = InboundEvent.objects.get(pk=events[1].pk)
    assert refused.status == WebhookStatus.FAILED and "deposit_external_unique" in refused.result
    assert WorkItem.objects.get(queue__code="reconciliation_break", subject_id=str(refused.pk)).risk_level == "high"
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("20.00")
    assert ledger_verify().ok


# --- two drains at once -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_credit_every_deposit_exactly_once() -> None:
    clients = [approved_client(provision=False) for _ in range(3)]
    deposits = [
        deposit_initiate(client=clients[n % 3], channel="card", amount="5.00", currency="EUR") for n in range(120)
    ]
    for d in deposits:
        _store(_paid(d, cardholder=d.client.display_name))
    barrier = threading.Barrier(2)
    applied: list[int] = []
    failures: list[BaseException] = []

    def drain() -> None:
        try:
            with acting_as(PSP):
                barrier.wait(30)
                applied.append(inbound_events_drain(batch=20))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert sum(applied) == 120 and all(n > 0 for n in applied), applied  # both drained, none twice
    assert Deposit.objects.filter(pk__in=[d.pk for d in deposits], status=DepositStatus.CREDITED).count() == 120
    assert JournalEntry.objects.filter(idempotency_key__endswith=":credit").count() == 120
    for c in clients:
        wallet = balance_of(wallet_for(client=c, currency="EUR"))
        assert wallet.ledger == Decimal("200.00") and wallet.postings_count == 40
    assert ledger_verify().ok


# --- queued callbacks (the default) -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_callback_is_acknowledged_once_stored_and_applied_by_the_drain() -> None:
    from django.conf import settings

    assert settings.WEBHOOK_APPLY == "queued"  # the default
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="40.00", currency="EUR")
    delivery = simpay.signed(_paid(deposit, cardholder=c.display_name))
    response = HttpClient().post(
        "/webhooks/simpay/", data=delivery.body, content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=delivery.signature,
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["status"] == "received"
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.INITIATED  # stored, not applied yet
    with acting_as(PSP):
        assert inbound_events_drain() == 1
    assert Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("40.00")
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_queued_callback_is_acknowledged_then_applied_by_a_worker(
    celery_worker_process: subprocess.Popen[str],
) -> None:
    """WEBHOOK_APPLY=queued, the default."""
    c = approved_client(provision=False)
    deposit = deposit_initiate(client=c, channel="card", amount="75.00", currency="EUR")
    delivery = simpay.signed(_paid(deposit, cardholder=c.display_name))
    response = HttpClient().post(
        "/webhooks/simpay/", data=delivery.body, content_type="application/json",
        HTTP_SIMPAY_SIGNATURE=delivery.signature,
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["status"] == "received"
    wait_for(lambda: Deposit.objects.get(pk=deposit.pk).status == DepositStatus.CREDITED)
    assert balance_of(wallet_for(client=c, currency="EUR")).ledger == Decimal("75.00")
    credited = AuditEvent.objects.get(action="payments.deposit_credited", subject_id=str(deposit.pk))
    assert credited.actor_label == "system:webhook:simpay"
    assert ledger_verify().ok
