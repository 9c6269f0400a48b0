from __future__ import annotations

from dataclasses import dataclass
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
    symbol: str
    volume: Decimal
    margin: Decimal


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

    def list_accounts(self) -> list[PlatformAccount]: ...

    def balance_operation(self, login: str, *, amount: Decimal, idempotency_key: str, comment: str) -> Decimal:
        """Credit (amount > 0) or debit the account's balance once per key; returns the new balance.
        A repeated key applies nothing and returns the current balance."""
        ...
