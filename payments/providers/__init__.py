"""Payment service providers: the back office reaches a PSP only through a ``PaymentProvider``
adapter, one per channel, chosen by the ``PAYMENT_PROVIDERS`` setting (channel → class path)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from payments.providers.base import PaymentProvider, ProviderEvent, PspError, SettlementItem, SignatureError

__all__ = [
    "PaymentProvider",
    "ProviderEvent",
    "PspError",
    "SettlementItem",
    "SignatureError",
    "get_provider",
    "provider_named",
]


def get_provider(channel: str) -> PaymentProvider:
    """The adapter of the PSP behind a channel (``card``); LookupError when none is configured."""
    path = settings.PAYMENT_PROVIDERS.get(channel)
    if not path:
        raise LookupError(f"PAYMENT_PROVIDERS: no provider configured for the {channel} channel")
    return _load(path)


def provider_named(name: str) -> PaymentProvider | None:
    """The configured adapter whose ``name`` this is (a callback's path names its provider)."""
    for path in settings.PAYMENT_PROVIDERS.values():
        provider = _load(path) if path else None
        if provider is not None and provider.name == name:
            return provider
    return None


def _load(path: str) -> PaymentProvider:
    provider: PaymentProvider = import_string(path)()
    return provider
