"""Report test data made through the services: approved clients with card deposits, a paid
withdrawal (approvals, payout, PSP callback), a registered client, work items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.models import Withdrawal
from payments.services.ledger import wallet_for
from payments.services.webhooks import inbound_event_process, inbound_event_store
from payments.services.withdrawals import payout_send, withdrawal_payout_execute, withdrawal_request
from sim import simpay
from tests.factories import approved_client, card_deposit, staff
from tests.factories import client as make_client


def _callback(evt: dict[str, Any]) -> None:
    d = simpay.signed(evt)
    stored, _ = inbound_event_store(provider="simpay", body=d.body, signature=d.signature)
    inbound_event_process(event_pk=stored.pk)


def paid_withdrawal(c: Any, amount: str, card: str) -> Withdrawal:
    """A withdrawal through both approval levels, paid out and confirmed by the PSP's callback."""
    from sim.models import SimPspPayout

    w = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount=amount, method="card", destination=card,
        destination_name=c.display_name,
    )  # fmt: skip
    for role in (Role.FINANCE, Role.COMPLIANCE):
        w.refresh_from_db()
        if w.approval_request_id and w.status == "under_review":
            approval_decide(request_id=w.approval_request_id, checker=staff(role), decision="approve", reason="ok")
    w.refresh_from_db()
    if w.status == "approved":
        withdrawal_payout_execute(withdrawal_id=w.pk, actor=staff(Role.FINANCE))
    voucher = payout_send(withdrawal_id=w.pk)
    _callback(simpay.payout_outcome_event(SimPspPayout.objects.get(payout_id=voucher)))
    w.refresh_from_db()
    return w


@dataclass
class World:
    manager: Any
    gb: Any
    de: Any
    registered: Any
    withdrawal: Withdrawal


def world() -> World:
    manager = staff(username="mgr", first_name="Mona", last_name="Manager")
    gb = approved_client(account_manager=manager, country="GB")
    de = approved_client(country="DE", account_type="pro", nationality="DE")
    paid = card_deposit(gb, "1000.00")
    card_deposit(gb, "250.00")
    card_deposit(de, "400.00")
    w = paid_withdrawal(gb, "100.00", paid.payer_account)
    registered = make_client(country="FR", account_manager=manager)
    return World(manager=manager, gb=gb, de=de, registered=registered, withdrawal=w)
