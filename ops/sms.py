"""The SMS gateway: the back office sends text messages only through this, to the adapter the
``SMS_PROVIDER`` setting names (in the demo and the tests, the simulator of the sim app). Empty:
there is no SMS provider, and a step meant for SMS goes by e-mail instead.

The provider reports back by a signed callback (``/webhooks/sms/``): the delivery result of each
message (delivered, or failed with the reason) and the client's replies. Each callback is verified,
stored, then processed (``ops.services.sms_inbound``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class SmsError(Exception):
    """The provider refused or failed the call (safe to retry: every send carries an idempotency key)."""


class SmsSignatureError(SmsError):
    """A callback without a valid signature (or with a stale timestamp)."""


@dataclass(frozen=True)
class SmsCallback:
    """A verified callback in the back office's terms.

    ``kind`` "delivery": ``reference`` is the idempotency key the message was sent with, ``status``
    "delivered" or "failed" (with ``reason``). ``kind`` "reply": the client answered the message of
    ``reference`` (empty when the provider could not tell which) from ``sender`` with ``body``."""

    event_id: str
    kind: str
    message_id: str
    reference: str
    occurred_at: datetime
    payload: dict[str, Any]
    status: str = ""
    reason: str = ""
    sender: str = ""
    body: str = ""


class SmsProvider(Protocol):
    """What the back office needs from an SMS provider (Twilio, Vonage, MessageBird...)."""

    signature_header: str

    def send(self, *, to: str, body: str, reference: str) -> str:
        """Send ``body`` to ``to`` (E.164); returns the provider's message id. ``reference`` is the
        idempotency key: a reference seen before sends nothing again and returns the same id. The
        provider echoes it in the delivery result and in replies."""
        ...

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        """Raise SmsSignatureError unless the body carries the provider's valid, fresh signature."""
        ...

    def webhook_parse(self, body: bytes) -> SmsCallback:
        """The callback in the back office's terms; ValueError/KeyError/TypeError when malformed."""
        ...


def sms_configured() -> bool:
    return bool(settings.SMS_PROVIDER)


def get_sms_provider() -> SmsProvider:
    if not settings.SMS_PROVIDER:
        raise LookupError("SMS_PROVIDER: no SMS provider is configured")
    provider: SmsProvider = import_string(settings.SMS_PROVIDER)()
    return provider
