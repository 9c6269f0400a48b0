"""The trading platform gateway: the back office talks to MT5-style platforms only through this,
to the adapter the ``TRADING_PLATFORM`` setting names (in the demo and the tests, the simulated
platform of the sim app)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.platform.base import (
    ClosedDeal,
    Instrument,
    PlatformAccount,
    PlatformError,
    PlatformTimeout,
    Position,
    Quote,
    TradingPlatform,
)

__all__ = [
    "ClosedDeal",
    "Instrument",
    "PlatformAccount",
    "PlatformError",
    "PlatformTimeout",
    "Position",
    "Quote",
    "TradingPlatform",
    "get_platform",
]


def get_platform() -> TradingPlatform:
    if not settings.TRADING_PLATFORM:
        raise LookupError("TRADING_PLATFORM: no trading platform adapter is configured")
    platform: TradingPlatform = import_string(settings.TRADING_PLATFORM)()
    return platform
