"""Payment work through a real Celery worker: the trading platform's balance follows the ledger
after commit, payouts go to the PSP, and the PSP's callback comes back over HTTP."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from typing import Any

import pytest

from accounts.platform import get_platform
from ops.models import WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.models import ReconciliationBreak, Withdrawal, WithdrawalStatus
from payments.services.ledger import balance_of, ledger_verify, trading_ledger_account_for, wallet_for
from payments.services.reconciliation import platform_balances_check
from payments.services.withdrawals import withdrawal_payout_execute, withdrawal_request
from sim import simpay
from sim.platform import SimulatedPlatform
from tests.conftest import wait_for
from tests.factories import approved_client, card_deposit, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_deposit_to_a_trading_account_reaches_the_platform_and_drift_is_a_break(
    celery_worker_process: subprocess.Popen[str],
) -> None:
    c = approved_client()
    account = c.trading_accounts.get()
    assert account.login
    card_deposit(c, "1200.00", trading_account=account)
    trading = trading_ledger_account_for(account=account)
    assert balance_of(trading).ledger == Decimal("1200.00")
    platform = get_platform()
    wait_for(lambda: platform.get_account(account.login).balance == Decimal("1200.00"))
    assert platform_balances_check()["breaks"] == 0

    SimulatedPlatform.drift(account.login, balance=Decimal("1150.00"))  # the platform says otherwise
    assert platform_balances_check()["breaks"] == 1
    brk = ReconciliationBreak.objects.get(kind="platform_balance", key=account.login)
    assert brk.ours["ledger_available"] == "1200.0000" and brk.theirs["platform_balance"] == "1150.00"
    item = WorkItem.objects.get(queue__code="reconciliation_break", subject_id=str(brk.pk))
    assert item.details["theirs"]["login"] == account.login


def test_payout_goes_to_the_psp_in_the_worker_and_the_callback_posts_the_ledger(
    celery_worker_process: subprocess.Popen[str], live_server: Any
) -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "900.00")
    wallet = wallet_for(client=c, currency="EUR")
    w = withdrawal_request(
        client=c, source=wallet, amount="400.00", method="card", destination=deposit.payer_account,
        destination_name=c.display_name,
    )  # fmt: skip
    assert w.approval_request_id is not None
    for checker in (staff(Role.FINANCE), staff(Role.COMPLIANCE)):  # the review's two levels
        approval_decide(request_id=w.approval_request_id, checker=checker, decision="approve", reason="ok")
    withdrawal_payout_execute(withdrawal_id=w.pk, actor=staff(Role.FINANCE))
    voucher = wait_for(lambda: Withdrawal.objects.get(pk=w.pk).voucher)  # the worker called the PSP
    assert voucher.startswith("po_")
    assert simpay.payouts_settle(url=f"{live_server.url}/webhooks/simpay/") == 1  # the PSP calls back over HTTP
    # stored and acknowledged (WEBHOOK_APPLY=queued, the default); the worker drains the inbox
    wait_for(lambda: Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.PAID)
    assert balance_of(wallet).ledger == Decimal("500.00")
    assert ledger_verify().ok
