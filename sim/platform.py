"""A simulated MT5-style platform for the demo and the tests (``TRADING_PLATFORM``), an
``accounts.platform.TradingPlatform``. It keeps its own state in its own tables (``SimPlatform*``),
so what it holds can drift from the back office, and it can be told to fail or time out the next
calls (``SimPlatformFault``), so failures are real."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.platform import (
    ClosedDeal,
    Instrument,
    PlatformAccount,
    PlatformError,
    PlatformTimeout,
    Position,
    Quote,
)
from sim.models import (
    SimPlatformAccount,
    SimPlatformBalanceOp,
    SimPlatformDeal,
    SimPlatformFault,
    SimPlatformPosition,
    SimPlatformSymbol,
)

LOGIN_BASE = 5_000_000

# The symbols the simulated platform trades (those sim.trading's clients trade, and EURGBP), with
# their contract and a starting price: (symbol, description, contract size, base, quote, bid, ask).
SYMBOLS: list[tuple[str, str, str, str, str, str, str]] = [
    ("EURUSD", "Euro vs US dollar", "100000", "EUR", "USD", "1.08450", "1.08460"),
    ("GBPUSD", "Pound sterling vs US dollar", "100000", "GBP", "USD", "1.27010", "1.27025"),
    ("EURGBP", "Euro vs pound sterling", "100000", "EUR", "GBP", "0.85380", "0.85395"),
    ("USDJPY", "US dollar vs Japanese yen", "100000", "USD", "JPY", "151.200", "151.215"),
    ("AUDUSD", "Australian dollar vs US dollar", "100000", "AUD", "USD", "0.65500", "0.65515"),
    ("USDCHF", "US dollar vs Swiss franc", "100000", "USD", "CHF", "0.88500", "0.88520"),
    ("USDCAD", "US dollar vs Canadian dollar", "100000", "USD", "CAD", "1.36000", "1.36020"),
    ("XAUUSD", "Gold vs US dollar (troy ounces)", "100", "XAU", "USD", "2650.10", "2650.40"),
    ("XAGUSD", "Silver vs US dollar (troy ounces)", "5000", "XAG", "USD", "31.000", "31.030"),
    ("US30", "Dow Jones 30 index", "1", "", "USD", "44000.0", "44002.0"),
    ("NAS100", "Nasdaq 100 index", "1", "", "USD", "20800.0", "20801.5"),
    ("GER40", "DAX 40 index", "1", "", "EUR", "19500.0", "19501.5"),
]


def sync_symbols(apps: Any) -> None:
    """Load ``SYMBOLS`` into the simulated platform (a data migration); a symbol already there keeps
    its price."""
    model = apps.get_model("sim", "SimPlatformSymbol")
    for symbol, description, size, base, quote, bid, ask in SYMBOLS:
        model.objects.get_or_create(
            symbol=symbol,
            defaults={"description": description, "contract_size": Decimal(size), "base": base, "quote": quote,
                      "bid": Decimal(bid), "ask": Decimal(ask)},
        )  # fmt: skip


def _as_account(row: SimPlatformAccount) -> PlatformAccount:
    return PlatformAccount(
        login=row.login,
        group=row.group,
        leverage=row.leverage,
        currency=row.currency,
        trading_enabled=row.trading_enabled,
        close_only=row.close_only,
        balance=row.balance,
        equity=row.equity,
    )


class SimulatedPlatform:
    timeout_sleep = 0.2  # how long a simulated timeout keeps the caller waiting (kept short)

    def _fault(self, operation: str) -> SimPlatformFault | None:
        with transaction.atomic():
            fault = (
                SimPlatformFault.objects.select_for_update()
                .filter(operation__in=[operation, "*"], remaining__gt=0)
                .order_by("id")
                .first()
            )
            if fault is not None:
                fault.remaining = F("remaining") - 1
                fault.save(update_fields=["remaining"])
        return fault

    def _before(self, operation: str) -> SimPlatformFault | None:
        fault = self._fault(operation)
        if fault is not None and fault.mode == "fail":
            raise PlatformError(f"simulated platform: {operation} rejected (injected fault)")
        if fault is not None and not fault.applied:
            time.sleep(min(self.timeout_sleep, settings.PLATFORM_TIMEOUT_SECONDS))
            raise PlatformTimeout(f"simulated platform: {operation} timed out before it was applied")
        return fault

    @staticmethod
    def _after(fault: SimPlatformFault | None, operation: str) -> None:
        if fault is not None:  # applied, but the answer is lost
            raise PlatformTimeout(f"simulated platform: {operation} timed out after it was applied")

    def create_account(
        self, *, idempotency_key: str, name: str, group: str, leverage: int, currency: str
    ) -> PlatformAccount:
        fault = self._before("create_account")
        with transaction.atomic():
            existing = SimPlatformAccount.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:
                existing = SimPlatformAccount.objects.create(
                    login=f"pending-{idempotency_key}",
                    idempotency_key=idempotency_key,
                    name=name,
                    group=group,
                    leverage=leverage,
                    currency=currency,
                )
                existing.login = str(LOGIN_BASE + existing.pk)
                existing.save(update_fields=["login"])
        self._after(fault, "create_account")
        return _as_account(existing)

    def _row(self, login: str) -> SimPlatformAccount:
        row = SimPlatformAccount.objects.filter(login=login).first()
        if row is None:
            raise PlatformError(f"simulated platform: no account {login}")
        return row

    def get_account(self, login: str) -> PlatformAccount:
        fault = self._before("get_account")
        row = self._row(login)
        self._after(fault, "get_account")
        return _as_account(row)

    def _update(self, operation: str, login: str, **fields: object) -> None:
        fault = self._before(operation)
        updated = SimPlatformAccount.objects.filter(login=login).update(**fields)
        if not updated:
            raise PlatformError(f"simulated platform: no account {login}")
        self._after(fault, operation)

    def set_group(self, login: str, group: str) -> None:
        self._update("set_group", login, group=group)

    def set_leverage(self, login: str, leverage: int) -> None:
        self._update("set_leverage", login, leverage=leverage)

    def set_trading(self, login: str, *, enabled: bool, close_only: bool) -> None:
        self._update("set_trading", login, trading_enabled=enabled, close_only=close_only)

    def open_positions(self, login: str) -> list[Position]:
        fault = self._before("open_positions")
        rows = list(SimPlatformPosition.objects.filter(account__login=login))
        self._after(fault, "open_positions")
        return [Position(symbol=r.symbol, volume=r.volume, margin=r.margin, open_price=r.open_price) for r in rows]

    def instruments(self) -> list[Instrument]:
        fault = self._before("instruments")
        rows = list(SimPlatformSymbol.objects.order_by("symbol"))
        self._after(fault, "instruments")
        return [
            Instrument(symbol=r.symbol, description=r.description, contract_size=r.contract_size, base=r.base,
                       quote=r.quote)
            for r in rows
        ]  # fmt: skip

    def quotes(self, symbols: list[str]) -> list[Quote]:
        fault = self._before("quotes")
        rows = list(SimPlatformSymbol.objects.filter(symbol__in=symbols).order_by("symbol"))
        self._after(fault, "quotes")
        return [Quote(symbol=r.symbol, bid=r.bid, ask=r.ask, at=r.quoted_at) for r in rows]

    def list_accounts(self) -> list[PlatformAccount]:
        fault = self._before("list_accounts")
        rows = list(SimPlatformAccount.objects.order_by("login"))
        self._after(fault, "list_accounts")
        return [_as_account(r) for r in rows]

    def balance_operation(self, login: str, *, amount: Decimal, idempotency_key: str, comment: str) -> Decimal:
        fault = self._before("balance_operation")
        with transaction.atomic():
            row = SimPlatformAccount.objects.select_for_update().filter(login=login).first()
            if row is None:
                raise PlatformError(f"simulated platform: no account {login}")
            _, created = SimPlatformBalanceOp.objects.get_or_create(
                idempotency_key=idempotency_key, defaults={"account": row, "amount": amount, "comment": comment[:200]}
            )
            if created:
                if row.balance + amount < 0:
                    raise PlatformError(f"simulated platform: {login} has not enough balance for {amount}")
                row.balance += amount
                row.equity += amount
                row.save(update_fields=["balance", "equity"])
        self._after(fault, "balance_operation")
        return row.balance

    def closed_deals(self, *, after: str | None, limit: int) -> list[ClosedDeal]:
        fault = self._before("closed_deals")
        rows = SimPlatformDeal.objects.select_related("account").order_by("ticket")
        if after is not None:
            try:
                rows = rows.filter(ticket__gt=int(after))
            except ValueError:
                raise PlatformError(f"simulated platform: {after!r} is not a deal ticket") from None
        deals = [
            ClosedDeal(
                deal_id=str(r.ticket),
                login=r.account.login,
                symbol=r.symbol,
                side=r.side,
                lots=r.lots,
                opened_at=r.opened_at,
                closed_at=r.closed_at,
                spread=r.spread,
                commission=r.commission,
                swap=r.swap,
                profit=r.profit,
                currency=r.currency,
            )
            for r in rows[: max(0, limit)]
        ]
        self._after(fault, "closed_deals")
        return deals

    # --- test and demo controls (what a platform operator would do on their side) --------------

    @staticmethod
    def inject_fault(operation: str, mode: str, *, times: int = 1, applied: bool = False) -> None:
        SimPlatformFault.objects.create(operation=operation, mode=mode, remaining=times, applied=applied)

    @staticmethod
    def drift(login: str, **fields: object) -> None:
        """Change the platform's own record behind the back office's back."""
        SimPlatformAccount.objects.filter(login=login).update(**fields)

    @staticmethod
    def open_position(
        login: str, symbol: str, volume: Decimal, margin: Decimal = Decimal("0"), open_price: Decimal | None = None
    ) -> None:
        SimPlatformPosition.objects.create(
            account=SimPlatformAccount.objects.get(login=login), symbol=symbol, volume=volume, margin=margin,
            open_price=open_price,
        )  # fmt: skip

    @staticmethod
    def set_price(symbol: str, bid: Decimal, ask: Decimal | None = None) -> None:
        """The market moves: the platform quotes ``symbol`` at ``bid``/``ask`` from now."""
        updated = SimPlatformSymbol.objects.filter(symbol=symbol).update(
            bid=bid, ask=bid if ask is None else ask, quoted_at=timezone.now()
        )
        if not updated:
            raise PlatformError(f"simulated platform: no symbol {symbol}")

    @staticmethod
    def add_symbol(
        symbol: str, *, contract_size: Decimal, base: str, quote: str, bid: Decimal, ask: Decimal | None = None
    ) -> None:
        """List a new symbol on the platform (the dealing desk's side)."""
        SimPlatformSymbol.objects.update_or_create(
            symbol=symbol,
            defaults={"contract_size": contract_size, "base": base, "quote": quote, "bid": bid,
                      "ask": bid if ask is None else ask, "quoted_at": timezone.now()},
        )  # fmt: skip
