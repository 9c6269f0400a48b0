"""Demo and tests only (sim is installed there): make the simulated trading platform's balance of
one account drift from the back office's, as a platform operator's manual change would, then run
the platform-balance reconciliation that beat runs, so the balances report shows the difference
and its open reconciliation item."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import TradingAccount
from audit.context import Actor, acting_as
from payments.services.ledger import trading_ledger_account_for
from payments.services.reconciliation import platform_balances_check
from sim.models import SimPlatformAccount
from sim.platform import SimulatedPlatform


class Command(BaseCommand):
    help = "Change a simulated platform account's balance by AMOUNT, then reconcile platform balances."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("login", help="the trading account's login on the simulated platform")
        parser.add_argument("amount", help="added to the platform's balance (negative: taken away), e.g. 25.00")

    def handle(self, *args: Any, login: str, amount: str, **options: Any) -> None:
        try:
            delta = Decimal(amount)
        except InvalidOperation:
            raise CommandError(f"amount: {amount!r} is not a number") from None
        account = SimPlatformAccount.objects.filter(login=login).first()
        if account is None:
            raise CommandError(f"login: no simulated platform account {login!r}")
        trading = TradingAccount.objects.filter(login=login).first()
        if trading is None:
            raise CommandError(f"login: no trading account {login!r} in the back office")
        SimulatedPlatform.drift(login, balance=account.balance + delta)
        with acting_as(Actor.system("sim_platform_drift")):
            with transaction.atomic():
                trading_ledger_account_for(account=trading)  # its ledger side, so the check compares it
            counts = platform_balances_check()
        self.stdout.write(
            f"{login}: platform balance {account.balance} -> {account.balance + delta} {account.currency}; "
            f"reconciliation: {counts['breaks']} difference(s) open. See /reports/balances/."
        )
