from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


class PlatformError(Exception):
    """The platform refused or failed the call."""


class PlatformTimeout(PlatformError):
    """No answer in time: the call may or may not have been applied."""


@dataclass(frozen=True)
class PlatformAccount:
    login: str
    group: str
    leverage: int
    currency: str
    trading_enabled: bool
    close_only: bool
    balance: Decimal
    equity: Decimal


@dataclass(frozen=True)
class Position:
    """An open position: ``volume`` in lots (positive long, negative short), ``open_price`` the
    price it was opened at (None when the platform does not say)."""

    symbol: str
    volume: Decimal
    margin: Decimal
    open_price: Decimal | None = None


@dataclass(frozen=True)
class Instrument:
    """A symbol's contract as the platform defines it: one lot is ``contract_size`` units of the
    ``base`` (a currency, a metal such as XAU, or "" when the underlying is no currency, e.g. an
    index), priced in ``quote`` (the currency profit is made in)."""

    symbol: str
    description: str
    contract_size: Decimal
    base: str
    quote: str


@dataclass(frozen=True)
class Quote:
    """The platform's latest price of a symbol (in its instrument's ``quote`` currency)."""

    symbol: str
    bid: Decimal
    ask: Decimal
    at: datetime


@dataclass(frozen=True)
class ClosedDeal:
    """A deal closed on the platform, as its closed-deals feed reports it. Money is in the trading
    account's ``currency``: ``spread`` is the broker's spread or markup revenue on the deal,
    ``commission`` what the broker charged the client, ``swap`` and ``profit`` the client's."""

    deal_id: str
    login: str
    symbol: str
    side: str  # "buy" or "sell"
    lots: Decimal
    opened_at: datetime
    closed_at: datetime
    spread: Decimal
    commission: Decimal
    swap: Decimal
    profit: Decimal
    currency: str


class TradingPlatform(Protocol):
    """What the back office needs from a trading platform (MT4/MT5/cTrader-style)."""

    def create_account(
        self, *, idempotency_key: str, name: str, group: str, leverage: int, currency: str
    ) -> PlatformAccount:
        """Create (or, for a key seen before, return) the account."""
        ...

    def get_account(self, login: str) -> PlatformAccount: ...

    def set_group(self, login: str, group: str) -> None: ...

    def set_leverage(self, login: str, leverage: int) -> None: ...

    def set_trading(self, login: str, *, enabled: bool, close_only: bool) -> None: ...

    def open_positions(self, login: str) -> list[Position]: ...

    def instruments(self) -> list[Instrument]:
        """Every symbol the platform trades, with its contract."""
        ...

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """The latest bid and ask of ``symbols`` (a symbol the platform does not quote is left out)."""
        ...

    def list_accounts(self) -> list[PlatformAccount]: ...

    def balance_operation(self, login: str, *, amount: Decimal, idempotency_key: str, comment: str) -> Decimal:
        """Credit (amount > 0) or debit the account's balance once per key; returns the new balance.
        A repeated key applies nothing and returns the current balance."""
        ...

    def closed_deals(self, *, after: str | None, limit: int) -> list[ClosedDeal]:
        """Up to ``limit`` closed deals in the platform's own order, those after the deal whose
        ``deal_id`` is ``after`` (None: from the first). An empty list: nothing new yet."""
        ...
