"""100 withdrawals against one wallet at the same moment, each on its own connection: none
overdraws, the final balance is the start minus the successful ones, and the ledger verifies."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from audit.context import Actor, acting_as
from payments.errors import PaymentError
from payments.models import Withdrawal, WithdrawalStatus
from payments.services.ledger import balance_of, ledger_verify, wallet_for
from payments.services.withdrawals import withdrawal_payout_result, withdrawal_request
from tests.factories import approved_client, card_deposit

pytestmark = pytest.mark.django_db(transaction=True)

START = Decimal("1000.00")
EACH = Decimal("15.00")
THREADS = 100


def test_one_hundred_concurrent_withdrawals_never_overdraw() -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, str(START))
    wallet = wallet_for(client=c, currency="EUR")
    barrier = threading.Barrier(THREADS)
    accepted: list[int] = []
    refused: list[str] = []
    failures: list[BaseException] = []

    def withdraw() -> None:
        try:
            with acting_as(Actor.system("concurrency-test")):
                barrier.wait(30)
                w = withdrawal_request(
                    client=c, source=wallet, amount=str(EACH), method="card",
                    destination=deposit.payer_account, destination_name=c.display_name,
                )  # fmt: skip
            accepted.append(w.pk)
        except PaymentError as exc:
            refused.append(exc.message)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=withdraw) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert len(accepted) + len(refused) == THREADS
    assert len(accepted) == int(START // EACH)  # 66: every one that fits, and not one more
    assert all("available" in m for m in refused), refused[:3]
    b = balance_of(wallet)
    assert b.available == START - EACH * len(accepted) >= 0

    # pay every accepted one out (PSP says paid): the ledger balance follows
    Withdrawal.objects.filter(pk__in=accepted).update(
        status=WithdrawalStatus.PROCESSING
    )  # test shortcut past approvals
    with acting_as(Actor.system("concurrency-test")):
        for pk in accepted:
            withdrawal_payout_result(withdrawal_id=pk, paid=True, voucher=f"po_{pk}", failure_code="")
    b = balance_of(wallet)
    assert b.ledger == START - EACH * len(accepted)
    assert b.held == 0
    assert ledger_verify().ok


def test_checkers_deciding_one_withdrawal_at_once_record_one_decision_per_level() -> None:
    """Two finance officers approve the first level at the same moment, then two compliance
    officers the last: one decision per level, and the withdrawal is approved exactly once."""
    from audit.actions import AuditAction
    from audit.models import AuditEvent
    from ops.errors import OpsError
    from ops.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, User
    from ops.roles import Role
    from ops.services.approvals import approval_decide
    from tests.factories import staff

    c = approved_client(provision=False)
    deposit = card_deposit(c, "900.00")
    with acting_as(Actor.system("concurrency-test")):
        w = withdrawal_request(
            client=c, source=wallet_for(client=c, currency="EUR"), amount="300.00", method="card",
            destination=deposit.payer_account, destination_name=c.display_name,
        )  # fmt: skip
    request_id = w.approval_request_id
    assert request_id is not None

    def race(checkers: list[User]) -> list[str]:
        barrier = threading.Barrier(len(checkers))
        outcomes: list[str] = []

        def decide(checker: User) -> None:
            try:
                with acting_as(Actor.staff(checker)):
                    barrier.wait(10)
                    approval_decide(request_id=request_id, checker=checker, decision="approve", reason="ok")
                outcomes.append("won")
            except OpsError as exc:
                outcomes.append(str(exc))
            finally:
                connection.close()

        threads = [threading.Thread(target=decide, args=(checker,)) for checker in checkers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return outcomes

    first = race([staff(Role.FINANCE), staff(Role.FINANCE)])
    assert first.count("won") == 1 and len(first) == 2, first
    last = race([staff(Role.COMPLIANCE), staff(Role.COMPLIANCE)])
    assert last.count("won") == 1 and len(last) == 2, last
    assert list(ApprovalDecision.objects.filter(request_id=request_id).values_list("level", flat=True)) == [0, 1]
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.APPROVED
    assert ApprovalRequest.objects.get(pk=request_id).status == ApprovalStatus.EXECUTED
    approved = AuditEvent.objects.filter(action=AuditAction.WITHDRAWAL_APPROVED, subject_id=str(w.pk))
    assert approved.count() == 1
