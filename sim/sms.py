"""A simulated SMS provider for the demo and the tests (``SMS_PROVIDER``), an ``ops.sms.SmsProvider``:
the adapter the back office calls (``SimulatedSms``), and the provider's own side — the messages it
accepted (``SimSmsMessage``), the delivery result it reports back for each, and the replies a client
sends (``client_reply``), each a signed callback it POSTs to the back office after commit.

A number ending in ``0000`` is not in service: the message is accepted, then reported failed
with that reason (as a real provider does), so failures are real.

Callbacks are signed like SimPay's: header ``SimSMS-Signature: t=<unix>,v1=<hex>``,
v1 = HMAC-SHA256(secret, "<t>.<raw body>").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ops.sms import SmsCallback, SmsSignatureError
from sim.models import SimSmsCallback, SimSmsMessage

SIGNATURE_HEADER = "SimSMS-Signature"
UNREACHABLE_SUFFIX = "0000"
UNREACHABLE_REASON = "Number not in service (the handset's network refused the message)"


def sign(payload: bytes, *, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(payload: bytes, header: str | None, *, secret: str, tolerance: int, now: float | None = None) -> int:
    if not header:
        raise SmsSignatureError("The SimSMS-Signature header is missing.")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not mac:
        raise SmsSignatureError("The SimSMS-Signature header is malformed.")
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        raise SmsSignatureError("The signature's timestamp is outside the tolerance window (a replay?).")
    expected = sign(payload, secret=secret, timestamp=int(timestamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, mac):
        raise SmsSignatureError("The signature does not match the payload.")
    return int(timestamp)


class SimulatedSms:
    """The back office's SMS provider in the demo and the tests."""

    signature_header = SIGNATURE_HEADER

    def send(self, *, to: str, body: str, reference: str) -> str:
        with transaction.atomic():
            seen = SimSmsMessage.objects.filter(reference=reference).first()
            if seen is not None:
                return seen.message_id
            try:
                with transaction.atomic():
                    message = SimSmsMessage.objects.create(
                        message_id=f"SM{secrets.token_hex(8)}", reference=reference, to=to, body=body
                    )
            except IntegrityError:  # the same reference a moment ago
                return SimSmsMessage.objects.get(reference=reference).message_id
            failed = to.endswith(UNREACHABLE_SUFFIX)
            delivery_report(message=message, delivered=not failed, reason=UNREACHABLE_REASON if failed else "")
            return message.message_id

    def webhook_verify(self, body: bytes, signature: str | None) -> None:
        verify(body, signature, secret=settings.SMS_WEBHOOK_SECRET, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS)

    def webhook_parse(self, body: bytes) -> SmsCallback:
        evt = json.loads(body)
        if not isinstance(evt, dict) or not isinstance(evt.get("data"), dict):
            raise TypeError("the callback is not an object with data")
        data = evt["data"]
        kind = str(evt["type"])
        if kind not in ("message.delivery", "message.reply"):
            raise ValueError(f"unknown callback type {kind!r}")
        created = evt["created"]
        if isinstance(created, bool) or not isinstance(created, int):
            raise TypeError("created is not a whole number of Unix seconds")
        return SmsCallback(
            event_id=str(evt["id"])[:120],
            kind="delivery" if kind == "message.delivery" else "reply",
            message_id=str(data["message_id"])[:80],
            reference=str(data.get("reference") or "")[:80],
            occurred_at=datetime.fromtimestamp(created, tz=UTC),
            payload=evt,
            status=str(data.get("status") or ""),
            reason=str(data.get("reason") or "")[:300],
            sender=str(data.get("from") or "")[:20],
            body=str(data.get("body") or ""),
        )


def _callback(message: SimSmsMessage, kind: str, data: dict[str, Any]) -> SimSmsCallback:
    """Write the callback and send it once the provider's transaction commits."""
    event_id = f"evt_{secrets.token_hex(10)}"
    callback = SimSmsCallback.objects.create(
        event_id=event_id,
        message=message,
        kind=kind,
        payload={
            "id": event_id,
            "type": f"message.{kind}",
            "created": int(time.time()),
            "data": {"message_id": message.message_id, "reference": message.reference, **data},
        },
    )
    from sim.tasks import simsms_deliver_task

    pk = callback.pk
    transaction.on_commit(lambda: simsms_deliver_task.delay(callback_id=pk))
    return callback


def delivery_report(*, message: SimSmsMessage, delivered: bool, reason: str = "") -> SimSmsCallback:
    """The handset's network answered: the message is delivered, or failed with ``reason``."""
    message.status, message.reason = ("delivered", "") if delivered else ("failed", reason)
    message.save(update_fields=["status", "reason"])
    return _callback(message, "delivery", {"status": message.status, "reason": message.reason})


@transaction.atomic
def client_reply(*, message_id: str, body: str) -> SimSmsCallback:
    """The client answers a message they received (what a person does on their phone)."""
    message = SimSmsMessage.objects.get(message_id=message_id)
    return _callback(message, "reply", {"from": message.to, "body": body})


def signed(payload: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, sign(body, secret=secret or settings.SMS_WEBHOOK_SECRET, timestamp=timestamp or int(time.time()))


def post(body: bytes, signature: str, *, url: str | None = None) -> int:
    request = urllib.request.Request(  # noqa: S310 - the configured endpoint (http on loopback in the demo)
        url or settings.SIMSMS_WEBHOOK_URL,
        data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def callback_deliver(*, callback_id: int, url: str | None = None) -> int:
    """POST the signed callback to the back office, as the provider would; returns the HTTP status
    (urllib.error.URLError when nobody answers)."""
    callback = SimSmsCallback.objects.get(pk=callback_id)
    body, signature = signed(callback.payload)
    status = post(body, signature, url=url)
    SimSmsCallback.objects.filter(pk=callback_id).update(
        attempts=F("attempts") + 1, last_status=status, delivered_at=timezone.now() if status < 300 else None
    )
    return status
