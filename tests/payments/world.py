"""The payments access tests' data (a client with a withdrawal under review and a held deposit,
another client, an open break) and how each persona of ``tests/personas.py`` meets it:

- ``anonymous``: not signed in (pages: the login redirect; the API: what DRF answers).
- ``support``: signed in, a role without the permission (support does not see payments): 403.
- ``scoped``: the desk persona with finance's payment permissions and per-object access
  (django-guardian) to one *other* client: the objects of the client under test do not exist for
  them: 404.
- ``in_scope``: the same, with per-object access to the client under test: it works for them.
- the right role (``finance``, ``compliance``, ``risk``): 200 (or the redirect after a change).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.test import Client as HttpClient

from ops.models import User
from payments.models import Deposit, ReconciliationBreak, Withdrawal
from payments.services.ledger import wallet_for
from payments.services.reconciliation import break_open
from payments.services.withdrawals import withdrawal_request
from tests.factories import approved_client, card_deposit
from tests.personas import ANONYMOUS, desk_user, persona_user, sign_in

FINANCE_PERMISSIONS = ("view_payments", "handle_deposits", "handle_withdrawals", "reject_withdrawals")


def scoped_staff(*clients: Any) -> User:
    """The desk persona with finance's payment permissions, scoped to ``clients``."""
    return desk_user(*clients, permissions=FINANCE_PERMISSIONS)


@dataclass
class World:
    """A client with a withdrawal waiting for review and a held deposit; a client with money and
    nothing open (a withdrawal can be entered for it); another client; an open break."""

    client: Any
    payer: Any
    other_client: Any
    held: Deposit
    withdrawal: Withdrawal
    brk: ReconciliationBreak
    card: str  # the payer's card

    def user(self, persona: str) -> User | None:
        if persona == ANONYMOUS:
            return None
        if persona == "scoped":
            return scoped_staff(self.other_client)
        if persona == "in_scope":
            return scoped_staff(self.client, self.payer)
        return persona_user(persona)

    def http(self, persona: str) -> HttpClient:
        http = HttpClient()
        user = self.user(persona)
        if user is not None:
            sign_in(http, user)
        return http


def world() -> World:
    c = approved_client(provision=False)
    other = approved_client(provision=False)
    paid = card_deposit(c, "1000.00")
    withdrawal = withdrawal_request(  # a first withdrawal: finance, then compliance
        client=c, source=wallet_for(client=c, currency="EUR"), amount="100.00", method="card",
        destination=paid.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    held = card_deposit(c, "75.00", cardholder="Somebody Else Entirely")  # a third party paid: held
    brk = break_open(
        kind="statement_gap", key="DE89370400440532013000:EUR:2026-11-02", ours={"closing balance": "105.00 EUR"},
        theirs={"opening balance": "700.00 EUR"}, difference=Decimal("595.00"), currency="EUR",
    )  # fmt: skip
    payer = approved_client(provision=False)
    card = card_deposit(payer, "500.00").payer_account
    return World(client=c, payer=payer, other_client=other, held=held, withdrawal=withdrawal, brk=brk, card=card)
