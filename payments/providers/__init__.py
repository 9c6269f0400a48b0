"""Payment service providers: the back office reaches a PSP only through a ``PaymentProvider``
adapter, one per channel, chosen by the ``PAYMENT_PROVIDERS`` setting (channel → class path). Card
deposits may also be routed (``payments.services.routing``) to the further card PSPs that
``PAYMENT_PROVIDERS_ROUTED`` names (class paths); the card channel's own is the default."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from payments.providers.base import (
    PaymentIntent,
    PaymentProvider,
    ProviderEvent,
    PspError,
    SettlementItem,
    SignatureError,
)

__all__ = [
    "PaymentIntent",
    "PaymentProvider",
    "ProviderEvent",
    "PspError",
    "SettlementItem",
    "SignatureError",
    "card_providers",
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
    for path in [*settings.PAYMENT_PROVIDERS.values(), *settings.PAYMENT_PROVIDERS_ROUTED]:
        provider = _load(path) if path else None
        if provider is not None and provider.name == name:
            return provider
    return None


def card_providers() -> dict[str, PaymentProvider]:
    """The card PSPs a routing rule may name, by name: the card channel's own (the default) first,
    then ``PAYMENT_PROVIDERS_ROUTED``."""
    paths = [settings.PAYMENT_PROVIDERS.get("card", ""), *settings.PAYMENT_PROVIDERS_ROUTED]
    found: dict[str, PaymentProvider] = {}
    for path in paths:
        if path:
            provider = _load(path)
            found.setdefault(provider.name, provider)
    return found


def _load(path: str) -> PaymentProvider:
    provider: PaymentProvider = import_string(path)()
    return provider
