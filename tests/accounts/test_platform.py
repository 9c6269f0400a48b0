"""The trading platform never disagrees with the back office for long: provisioning is idempotent,
status changes are pushed, and drift becomes a work item."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from typing import Any

import pytest

from accounts import errors
from accounts.errors import ClientError
from accounts.models import Client, ClientStatus, TradingAccount, TradingAccountStatus
from accounts.platform import PlatformError, PlatformTimeout
from accounts.services import trading_accounts as svc
from accounts.services.clients import client_transition
from accounts.tasks import trading_account_provision_task
from ops.models import ApprovalStatus, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide, approval_submit
from sim.models import SimPlatformAccount
from sim.platform import SimulatedPlatform
from tests.conftest import wait_for
from tests.factories import approvable_client as client
from tests.factories import staff

pytestmark = pytest.mark.django_db
platform = SimulatedPlatform()


def _approved(**fields: Any) -> tuple[Client, TradingAccount]:
    officer = staff(Role.COMPLIANCE)
    c = client(**fields)
    for name in ("submit_for_review", "approve"):
        c = client_transition(client_id=c.pk, name=name, actor=officer, reason=name)
    return c, TradingAccount.objects.get(client=c)


def _provisioned(**fields: Any) -> tuple[Client, TradingAccount]:
    c, account = _approved(**fields)
    return c, svc.trading_account_provision(account_id=account.pk)


def test_provisioning_creates_the_platform_account_with_group_and_leverage() -> None:
    _c, account = _provisioned(account_type="pro")
    assert account.status == TradingAccountStatus.ACTIVE and account.login
    state = platform.get_account(account.login)
    assert (state.group, state.leverage, state.trading_enabled, state.close_only) == ("real\\pro", 200, True, False)


def test_a_retry_after_a_lost_answer_never_creates_a_second_account() -> None:
    _c, account = _approved()
    SimulatedPlatform.inject_fault("create_account", "timeout", applied=True)  # created, answer lost
    with pytest.raises(PlatformTimeout):
        svc.trading_account_provision(account_id=account.pk)
    assert SimPlatformAccount.objects.count() == 1 and TradingAccount.objects.get(pk=account.pk).login is None
    account = svc.trading_account_provision(account_id=account.pk)  # the retry
    assert SimPlatformAccount.objects.count() == 1
    assert account.login == SimPlatformAccount.objects.get().login
    assert svc.trading_account_provision(account_id=account.pk).login == account.login  # and again: a no-op


def test_provisioning_failure_after_retries_lands_in_a_queue() -> None:
    _c, account = _approved()
    svc.trading_account_provision_failed(account_id=account.pk, error="platform rejected: group unknown")
    account.refresh_from_db()
    assert account.status == TradingAccountStatus.FAILED
    item = WorkItem.objects.get(queue__code="platform_sync_mismatch", subject_id=str(account.pk))
    assert "Provisioning failed" in item.title


def test_restriction_and_closure_are_pushed_to_the_platform() -> None:
    c, account = _provisioned()
    officer = staff(Role.COMPLIANCE)
    client_transition(client_id=c.pk, name="restrict", actor=officer, reason="expired passport")
    svc.trading_account_push(account_id=account.pk)
    state = platform.get_account(account.login)  # type: ignore[arg-type]
    assert (state.trading_enabled, state.close_only) == (True, True)
    assert TradingAccount.objects.get(pk=account.pk).status == TradingAccountStatus.CLOSE_ONLY
    client_transition(client_id=c.pk, name="close", actor=officer, reason="client asked to close")
    svc.trading_account_push(account_id=account.pk)
    state = platform.get_account(account.login)  # type: ignore[arg-type]
    assert (state.trading_enabled, state.close_only) == (False, False)


def test_closing_needs_no_positions_and_zero_balance_unless_forced() -> None:
    c, account = _provisioned()
    assert account.login
    platform.open_position(account.login, "EURUSD", Decimal("1.5"), Decimal("300"))
    officer = staff(Role.COMPLIANCE)
    with pytest.raises(ClientError, match="1 open position"):
        client_transition(client_id=c.pk, name="close", actor=officer, reason="asked")
    SimPlatformAccount.objects.filter(login=account.login).update(balance=Decimal("12.50"))
    SimPlatformAccount.objects.get(login=account.login).positions.all().delete()
    with pytest.raises(ClientError, match=r"balance of 12\.50"):
        client_transition(client_id=c.pk, name="close", actor=officer, reason="asked")
    assert Client.objects.get(pk=c.pk).status == ClientStatus.APPROVED
    closed = client_transition(client_id=c.pk, name="close", actor=officer, reason="fraud: terminated", force=True)
    assert closed.status == ClientStatus.CLOSED


def test_close_refused_when_the_platform_does_not_answer() -> None:
    c, _account = _provisioned()
    SimulatedPlatform.inject_fault("get_account", "fail")
    with pytest.raises(ClientError, match="did not answer"):
        client_transition(client_id=c.pk, name="close", actor=staff(Role.COMPLIANCE), reason="asked")


def test_sync_turns_drift_into_mismatch_work_items() -> None:
    _c, account = _provisioned()
    _, _other = _provisioned()
    assert svc.platform_sync() == {"checked": 2, "mismatched": 0, "platform_accounts": 2}
    SimulatedPlatform.drift(account.login, leverage=500, close_only=True)  # type: ignore[arg-type]
    result = svc.platform_sync()
    assert result["mismatched"] == 1
    item = WorkItem.objects.get(queue__code="platform_sync_mismatch", subject_id=str(account.pk))
    assert item.details["differences"] == {
        "leverage": {"back_office": 100, "platform": 500},
        "close_only": {"back_office": False, "platform": True},
    }
    assert item.risk_level == "high"
    svc.platform_sync()  # a second run does not open a second item
    assert WorkItem.objects.filter(queue__code="platform_sync_mismatch").count() == 1


def test_leverage_up_to_the_default_directly_above_it_through_approval() -> None:
    _c, account = _provisioned(account_type="standard")  # default 100, max 500
    risk = staff(Role.RISK)
    svc.trading_account_set_leverage(account_id=account.pk, leverage=50, actor=risk, reason="client asked")
    with pytest.raises(ClientError, match="needs approval"):
        svc.trading_account_set_leverage(account_id=account.pk, leverage=300, actor=risk, reason="client asked")
    with pytest.raises(ClientError, match="above the Standard maximum"):
        approval_submit(
            action="trading_account.set_leverage", subject=account, payload={"leverage": 1000}, maker=risk, reason="x"
        )
    request = approval_submit(
        action="trading_account.set_leverage",
        subject=account,
        payload={"leverage": 300},
        maker=risk,
        reason="professional client",
    )
    done = approval_decide(
        request_id=request.pk, checker=staff(Role.RISK), decision="approve", reason="verified classification"
    )
    assert done.status == ApprovalStatus.EXECUTED and TradingAccount.objects.get(pk=account.pk).leverage == 300
    svc.trading_account_push(account_id=account.pk)
    assert platform.get_account(account.login).leverage == 300  # type: ignore[arg-type]
    with pytest.raises(ClientError, match=errors.NOT_ALLOWED.format(verb="change the leverage of")):
        svc.trading_account_set_leverage(account_id=account.pk, leverage=20, actor=staff(Role.SUPPORT), reason="x")


def test_simulated_platform_failures_are_real() -> None:
    SimulatedPlatform.inject_fault("*", "fail", times=2)
    with pytest.raises(PlatformError):
        platform.list_accounts()
    with pytest.raises(PlatformError):
        platform.list_accounts()
    assert platform.list_accounts() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_provisioning_runs_in_a_real_worker_and_retries(celery_worker_process: subprocess.Popen[str]) -> None:
    _c, account = _approved()  # the approval queued the task after commit
    wait_for(lambda: TradingAccount.objects.get(pk=account.pk).login, timeout=30)
    assert SimPlatformAccount.objects.count() == 1
    # a failing platform: the task retries (backoff) and succeeds once the platform answers
    _c2, account2 = _approved()
    SimulatedPlatform.inject_fault("create_account", "fail", times=1)
    trading_account_provision_task.delay(account_id=account2.pk)
    wait_for(lambda: TradingAccount.objects.get(pk=account2.pk).login, timeout=40)
    assert SimPlatformAccount.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_drift_becomes_a_mismatch_item_after_the_sync_job_in_a_real_worker(
    celery_worker_process: subprocess.Popen[str],
) -> None:
    from accounts.tasks import platform_sync_task

    _, account = _provisioned()
    SimulatedPlatform.drift(account.login, group="real\\vip")  # type: ignore[arg-type]
    platform_sync_task.delay()
    item = wait_for(
        lambda: WorkItem.objects.filter(queue__code="platform_sync_mismatch", subject_id=str(account.pk)).first()
    )
    assert item.details["differences"] == {"group": {"back_office": "real\\standard", "platform": "real\\vip"}}
