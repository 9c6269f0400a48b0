"""Internal transfers between a client's own accounts, and balance corrections through
maker-checker only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ops.errors import OpsError
from ops.roles import Role
from ops.services.approvals import approval_decide, approval_submit
from payments.errors import PaymentError
from payments.models import EntryKind, JournalEntry
from payments.services.ledger import balance_of, ledger_verify, trading_ledger_account_for, wallet_for
from payments.services.transfers import internal_transfer
from sim.platform import SimulatedPlatform
from tests.factories import approved_client, card_deposit, staff

pytestmark = pytest.mark.django_db


def test_good_wallet_to_trading_account_and_back_within_free_margin() -> None:
    c = approved_client()
    card_deposit(c, "1000.00")
    wallet = wallet_for(client=c, currency="EUR")
    account = c.trading_accounts.get()
    trading = trading_ledger_account_for(account=account)
    finance = staff(Role.FINANCE)
    internal_transfer(from_account=wallet, to_account=trading, amount="600.00", actor=finance, key="t1")
    assert (balance_of(wallet).ledger, balance_of(trading).ledger) == (Decimal("400.00"), Decimal("600.00"))
    # the platform is moved after commit by a task; here it is told directly what the task would do
    from payments.services.transfers import platform_balance_push

    platform_balance_push(entry_id=JournalEntry.objects.get(idempotency_key="t1").pk)
    SimulatedPlatform.open_position(account.login, "EURUSD", Decimal("1"), margin=Decimal("500"))
    with pytest.raises(PaymentError, match="free margin of 100") as exc:
        internal_transfer(from_account=trading, to_account=wallet, amount="200.00", actor=finance, key="t2")
    assert exc.value.field == "amount"
    internal_transfer(from_account=trading, to_account=wallet, amount="100.00", actor=finance, key="t3")
    assert balance_of(wallet).ledger == Decimal("500.00")
    assert ledger_verify().ok


def test_bad_transfer_to_another_clients_account_or_by_support() -> None:
    a, b = approved_client(provision=False), approved_client(provision=False)
    card_deposit(a, "100.00")
    wa, wb = wallet_for(client=a, currency="EUR"), wallet_for(client=b, currency="EUR")
    with pytest.raises(PaymentError, match="same client's own accounts"):
        internal_transfer(from_account=wa, to_account=wb, amount="10.00", actor=staff(Role.FINANCE), key="x1")
    with pytest.raises(PaymentError) as exc:
        internal_transfer(from_account=wa, to_account=wa, amount="10.00", actor=staff(Role.SUPPORT), key="x2")
    assert exc.value.status == 403
    assert balance_of(wa).ledger == Decimal("100.00")


def test_balance_correction_needs_finance_then_compliance_and_posts_once() -> None:
    c = approved_client(provision=False)
    card_deposit(c, "100.00")
    wallet = wallet_for(client=c, currency="EUR")
    maker, checker1, checker2 = staff(Role.FINANCE), staff(Role.FINANCE), staff(Role.COMPLIANCE)
    request = approval_submit(
        action="payments.balance_correction", subject=wallet,
        payload={"amount": "25.00", "reason_code": "fee_refund"}, maker=maker, reason="PSP fee charged twice",
    )  # fmt: skip
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="me")
    approval_decide(request_id=request.pk, checker=checker1, decision="approve", reason="seen the PSP report")
    assert balance_of(wallet).ledger == Decimal("100.00")  # not yet: compliance still to decide
    approval_decide(request_id=request.pk, checker=checker2, decision="approve", reason="ok")
    assert balance_of(wallet).ledger == Decimal("125.00")
    assert JournalEntry.objects.filter(kind=EntryKind.ADJUSTMENT).count() == 1
    assert ledger_verify().ok


def test_bad_correction_with_too_many_decimals_is_refused_at_submission() -> None:
    c = approved_client(provision=False)
    wallet = wallet_for(client=c, currency="EUR")
    with pytest.raises(PaymentError, match="at most 2 decimal places"):
        approval_submit(
            action="payments.balance_correction", subject=wallet,
            payload={"amount": "1.005", "reason_code": "x"}, maker=staff(Role.FINANCE), reason="typo",
        )  # fmt: skip
