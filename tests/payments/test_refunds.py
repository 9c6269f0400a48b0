"""Returned deposits go back where they came from: a card deposit through the PSP's refund (sent by
a worker after the return commits, once, whatever the retries; a refusal opens a high-risk deposit
exception), a bank deposit by a bank payment order whose reference the statement's debit line is
matched by."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client as DjangoClient
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops.models import RiskLevel, WorkItem
from ops.roles import Role
from payments.models import (
    Deposit,
    DepositStatus,
    LineStatus,
    ReconciliationBreak,
    StatementLine,
)
from payments.providers import PspError, get_provider
from payments.services.bank import statement_import, statement_match
from payments.services.deposits import deposit_initiate, deposit_refund, deposit_refund_send
from payments.services.ledger import ledger_verify
from payments.tasks import deposit_refund_send_task
from sim.models import SimPspFault, SimPspPayment, SimPspRefund
from tests.conftest import wait_for
from tests.factories import approved_client, card_deposit, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _held_card_deposit(amount: str = "75.00") -> Deposit:
    deposit = card_deposit(approved_client(provision=False), amount, cardholder="Totally Different")
    assert deposit.status == DepositStatus.REVIEW
    return deposit


def test_good_card_return_queues_one_refund_and_the_psp_refunds_it_once(
    django_capture_on_commit_callbacks: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    deposit = _held_card_deposit()
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(deposit_refund_send_task, "delay", lambda **kwargs: queued.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="not theirs")
        assert queued == []  # nothing leaves before the return commits
    assert queued == [{"deposit_id": deposit.pk}]
    refund_id = deposit_refund_send(deposit_id=deposit.pk)
    assert refund_id.startswith("re_")
    assert deposit_refund_send(deposit_id=deposit.pk) == refund_id  # a retry refunds nothing twice
    refund = SimPspRefund.objects.get()
    assert (refund.amount, refund.payment.payment_id) == (Decimal("75.00"), deposit.external_id)
    assert SimPspPayment.objects.get(payment_id=deposit.external_id).status == "refunded"
    deposit.refresh_from_db()
    assert deposit.refund_reference == refund_id
    sent = AuditEvent.objects.get(action=AuditAction.DEPOSIT_REFUND_SENT)
    assert sent.subject_id == str(deposit.pk) and sent.after["refund_reference"] == refund_id
    assert ledger_verify().ok


def test_bad_psp_refusal_opens_a_high_risk_exception_and_refunds_nothing() -> None:
    deposit = _held_card_deposit("120.00")
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="")
    SimPspFault.objects.create(operation="refund", mode="fail", remaining=1)
    assert deposit_refund_send_task(deposit_id=deposit.pk) == ""
    item = WorkItem.objects.get(queue__code="deposit_exception", subject_id=str(deposit.pk), resolved_at=None)
    assert item.risk_level == RiskLevel.HIGH and item.amount_at_stake == Decimal("120.00")
    assert "Card refund of" in item.title and "refused (injected fault)" in item.title
    assert not SimPspRefund.objects.exists()
    assert Deposit.objects.get(pk=deposit.pk).refund_reference == ""
    assert SimPspFault.objects.get().remaining == 0  # the fault was used up: sending again works
    assert deposit_refund_send_task(deposit_id=deposit.pk).startswith("re_")


def test_bad_psp_refuses_a_refund_of_more_than_was_paid() -> None:
    psp = get_provider("card")
    deposit = _held_card_deposit("10.00")
    with pytest.raises(PspError, match="more than is left"):
        psp.refund_create(
            idempotency_key="k1", payment_id=deposit.external_id or "", amount=Decimal("10.01"), currency="EUR"
        )
    with pytest.raises(PspError, match="cannot be refunded"):
        psp.refund_create(idempotency_key="k2", payment_id="pay_unknown", amount=Decimal("1"), currency="EUR")
    assert not SimPspRefund.objects.exists()


def _statement(lines: list[tuple[str, str, str]], ref: str, opening: Decimal = Decimal("0")) -> bytes:
    day = timezone.localdate().strftime("%y%m%d")
    total = opening + sum(Decimal(a[1:].replace(",", ".")) * (1 if a[0] == "C" else -1) for a, _, _ in lines)
    closing = ("C" if total >= 0 else "D") + format(abs(total), ".2f").replace(".", ",")
    start = format(opening, ".2f").replace(".", ",")
    out = [f":20:{ref}", ":25:DE89370400440532013000", ":28C:1/1", f":60F:C{day}EUR{start}"]
    for n, (amount, reference, party) in enumerate(lines):
        out += [f":61:{day}{day[2:]}{amount}NTRFNONREF//{ref}{n:04d}", f":86:166?20{reference}?32{party}"]
    out.append(f":62F:{closing[0]}{day}EUR{closing[1:]}")
    return ("\n".join(out) + "\n").encode()


def test_good_bank_return_carries_a_reference_that_its_statement_debit_is_matched_by(client: DjangoClient) -> None:
    payer = approved_client(provision=False)
    deposit = deposit_initiate(client=payer, channel="bank", amount="300.00", currency="EUR")
    credit = statement_import(
        actor=staff(Role.FINANCE),
        data=_statement([("C300,00", deposit.reference, "SOMEONE ELSE")], "IN1"),
        filename="in",
    )
    statement_match(import_id=credit.pk)
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.REVIEW  # a third party paid
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="")
    deposit.refresh_from_db()
    assert deposit.refund_reference == f"RET-{deposit.reference}"
    sign_in(client, staff(Role.FINANCE))
    page = client.get(f"/payments/deposits/{deposit.pk}/").content.decode()
    assert f"RET-{deposit.reference}" in page and "put this reference on the bank payment order" in page
    out = statement_import(
        actor=staff(Role.FINANCE),
        data=_statement(
            [
                ("D300,00", f"RET-{deposit.reference} return", "SOMEONE ELSE"),
                ("D300,00", f"RET-{deposit.reference}", "X"),
            ],
            "OUT1",
            opening=Decimal("300"),  # where the first statement closed
        ),
        filename="out",
    )
    assert statement_match(import_id=out.pk) == {"matched": 1, "suspense": 0, "break": 1}  # the second is not ours
    matched = StatementLine.objects.get(statement=out, status=LineStatus.MATCHED)
    assert (matched.match_rule, matched.matched_to) == ("deposit return", f"payments.deposit:{deposit.pk}:return")
    assert not ReconciliationBreak.objects.filter(kind="statement_gap").exists()
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_card_refund_runs_in_a_real_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    deposit = _held_card_deposit("33.00")
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="client_request", note="")
    refunded = wait_for(lambda: Deposit.objects.filter(pk=deposit.pk).exclude(refund_reference="").first())
    assert refunded.refund_reference.startswith("re_")
    assert SimPspRefund.objects.get().refund_id == refunded.refund_reference


def test_good_psp_refunds_a_payment_in_parts_and_no_further() -> None:
    psp = get_provider("card")
    deposit = _held_card_deposit("50.00")
    pay = deposit.external_id or ""
    psp.refund_create(idempotency_key="part-1", payment_id=pay, amount=Decimal("20.00"), currency="EUR")
    assert SimPspPayment.objects.get(payment_id=pay).status == "partial"
    psp.refund_create(idempotency_key="part-2", payment_id=pay, amount=Decimal("30.00"), currency="EUR")
    assert SimPspPayment.objects.get(payment_id=pay).status == "refunded"
    with pytest.raises(PspError, match="cannot be refunded"):
        psp.refund_create(idempotency_key="part-3", payment_id=pay, amount=Decimal("0.01"), currency="EUR")
    assert SimPspRefund.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_good_two_sends_of_one_refund_at_once_refund_once_and_raise_nothing() -> None:
    """Two workers with the same task (a redelivery) at the same moment, on their own connections."""
    deposit = _held_card_deposit("60.00")
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="")
    barrier, results, errors = threading.Barrier(2), [], []

    def send() -> None:
        try:
            barrier.wait()
            results.append(deposit_refund_send_task(deposit_id=deposit.pk))
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 2 and results[0] == results[1] and results[0].startswith("re_")
    assert SimPspRefund.objects.count() == 1
    assert not WorkItem.objects.filter(queue__code="deposit_exception", subject_id=str(deposit.pk), resolved_at=None)


def test_good_refund_lost_on_its_way_is_sent_again_by_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.services.deposits import deposit_refund_failed, deposit_refunds_resend

    lost, refused = _held_card_deposit("11.00"), _held_card_deposit("12.00")
    for d in (lost, refused):
        deposit_refund(deposit_id=d.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="")
    deposit_refund_failed(deposit_id=refused.pk, error="SimPay: refused")  # a person has it already
    sent: list[int] = []
    monkeypatch.setattr(deposit_refund_send_task, "delay", lambda *, deposit_id: sent.append(deposit_id))
    assert deposit_refunds_resend() == [] and sent == []  # too recent: its task may still be on its way
    later = timezone.now() + timedelta(minutes=6)
    assert deposit_refunds_resend(now=later) == [lost.pk] and sent == [lost.pk]


def test_good_refund_exception_is_not_opened_once_the_refund_is_recorded(client: DjangoClient) -> None:
    from payments.services.deposits import deposit_refund_failed

    deposit = _held_card_deposit("13.00")
    deposit_refund(deposit_id=deposit.pk, actor=staff(Role.FINANCE), reason_code="third_party", note="")
    SimPspFault.objects.create(operation="refund", mode="fail", remaining=1)
    deposit_refund_send_task(deposit_id=deposit.pk)
    sign_in(client, staff(Role.FINANCE))
    page = client.get(f"/payments/deposits/{deposit.pk}/").content.decode()
    assert "the PSP refused the refund" in page and "deposit exception" in page
    deposit_refund_send(deposit_id=deposit.pk)  # finance sorted it out with the PSP, and it went through
    deposit_refund_failed(deposit_id=deposit.pk, error="a late duplicate")
    refund_items = WorkItem.objects.filter(
        queue__code="deposit_exception", subject_id=str(deposit.pk), title__startswith="Card refund"
    )
    assert refund_items.count() == 1
