"""Client-area sign-ins: the portal signs its end users in and reports every attempt, successful or
failed; each is one append-only ``ClientSignIn`` row (no audit event: the row is the record, like
the security log's failed staff sign-ins, and there is one per sign-in).

The device is the portal's device fingerprint (the header its front end sends) when there is one,
else a hash of the user agent: two clients on one browser build share that hash, so links made
through it are weaker, and the row says which it is (``device_source``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_countries import countries

from accounts import errors
from accounts.models import Client, ClientSignIn, DeviceSource, SignInOutcome

# a portal reports a sign-in as it happens; one queued while the back office was down is late, not old
LATEST_DELAY = timedelta(days=7)
CLOCK_SKEW = timedelta(minutes=5)


class SignInError(Exception):
    """A sign-in report was refused, naming the field; nothing was stored."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def device_id_for(*, fingerprint: str, user_agent: str) -> tuple[str, str]:
    """(device id, where it came from): the fingerprint as sent, else ``ua:`` + sha256 of the user agent."""
    fingerprint = (fingerprint or "").strip()
    if fingerprint:
        return fingerprint[:128], DeviceSource.FINGERPRINT
    if (user_agent or "").strip():
        return "ua:" + hashlib.sha256(user_agent.strip().encode()).hexdigest()[:40], DeviceSource.USER_AGENT
    return "", ""


def sign_in_country(value: Any) -> str | None:
    """The ISO 3166-1 alpha-2 code (upper case) of ``value``, "" for none given, None when it is no
    assigned country code (a CDN's XX for unknown or T1 for Tor included: the portal leaves those out)."""
    code = str(value or "").strip().upper()
    if not code:
        return ""
    return code if len(code) == 2 and code.isalpha() and code in dict(countries) else None


def sign_in_check(
    *,
    outcome: Any,
    at: datetime | None,
    ip_address: Any,
    user_agent: Any,
    failure_reason: Any,
    now: datetime,
    country: Any = "",
) -> dict[str, str]:
    problems: dict[str, str] = {}
    if outcome not in SignInOutcome.values:
        problems["outcome"] = errors.SIGN_IN_OUTCOME.format(choices=", ".join(SignInOutcome.values))
    if at is not None:
        if at > now + CLOCK_SKEW:
            problems["at"] = errors.SIGN_IN_FUTURE
        elif at < now - LATEST_DELAY:
            problems["at"] = errors.SIGN_IN_TOO_OLD.format(days=LATEST_DELAY.days)
    try:
        ipaddress.ip_address(str(ip_address or "").strip())
    except ValueError:
        problems["ip_address"] = errors.SIGN_IN_IP
    if len(str(user_agent or "")) > 512:
        problems["user_agent"] = errors.SIGN_IN_USER_AGENT
    if sign_in_country(country) is None:
        problems["country"] = errors.SIGN_IN_COUNTRY
    reason = str(failure_reason or "").strip()
    if outcome == SignInOutcome.SUCCEEDED and reason:
        problems["failure_reason"] = errors.SIGN_IN_REASON_ON_SUCCESS
    elif outcome == SignInOutcome.FAILED and not reason:
        problems["failure_reason"] = errors.SIGN_IN_REASON_REQUIRED
    return problems


@transaction.atomic
def client_sign_in_record(
    *,
    client: Client,
    outcome: str,
    ip_address: str,
    user_agent: str,
    device_fingerprint: str = "",
    failure_reason: str = "",
    at: datetime | None = None,
    reported_by: str = "",
    country: str = "",
) -> ClientSignIn:
    """Record one sign-in attempt of ``client`` to the client area (``at``: when it happened, default
    now; up to a week late, never in the future; ``country``: where the portal's edge placed the IP
    address, an ISO 3166-1 alpha-2 code, when it could)."""
    now = timezone.now()
    problems = sign_in_check(
        outcome=outcome, at=at, ip_address=ip_address, user_agent=user_agent, failure_reason=failure_reason, now=now,
        country=country,
    )  # fmt: skip
    if problems:
        raise SignInError(problems)
    device_id, source = device_id_for(fingerprint=device_fingerprint, user_agent=user_agent)
    return ClientSignIn.objects.create(
        client=client, at=at or now, outcome=outcome, failure_reason=(failure_reason or "").strip()[:120],
        ip_address=str(ipaddress.ip_address(str(ip_address).strip())), user_agent=(user_agent or "").strip(),
        device_id=device_id, device_source=source, country=sign_in_country(country) or "", received_at=now,
        reported_by=reported_by[:40],
    )  # fmt: skip
