"""The HTTP side of outbound webhooks: the SSRF guard and the POST itself.

The guard resolves the host and refuses any address that is not public (private, loopback,
link-local, shared, multicast, reserved, IPv4-mapped forms of those) unless
``WEBHOOKS_ALLOW_PRIVATE_TARGETS``. It runs when an endpoint is saved and again at each delivery,
and the POST connects to the address the guard checked (the host name still goes in the Host header
and TLS's SNI), so a DNS answer that changes in between (rebinding) cannot redirect it. Redirects
are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from ops import errors

EXCERPT_CHARS = 500


class TargetRefused(Exception):
    """The URL may not be delivered to (the message names the field's problem)."""


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def target_resolve(url: str) -> tuple[str, int, str]:
    """(host, port, address to connect to) for ``url``, or ``TargetRefused`` saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(errors.WEBHOOK_URL_SCHEME)
    if parts.username or parts.password:
        raise TargetRefused(errors.WEBHOOK_URL_CREDENTIALS)
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(errors.WEBHOOK_URL_SCHEME) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(errors.WEBHOOK_URL_UNRESOLVED.format(host=host)) from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise TargetRefused(errors.WEBHOOK_URL_UNRESOLVED.format(host=host))
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        # every address the name has: an attacker's name may answer one public and one private
        for address in addresses:
            if not _public(address):
                raise TargetRefused(errors.WEBHOOK_URL_PRIVATE.format(host=host, address=address))
    return host, port, str(addresses[0])


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body`` to ``url`` (guarded), reading at most a short excerpt of the answer."""
    started = time.monotonic()

    def done(status: int | None, excerpt: str = "", error: str = "") -> Answer:
        return Answer(status, excerpt[:EXCERPT_CHARS], error[:500], int((time.monotonic() - started) * 1000))

    try:
        host, port, address = target_resolve(url)
    except TargetRefused as exc:
        return done(None, error=str(exc))
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def connect_to_checked_address(
        _: tuple[str, int], timeout: float | None = None, source_address: tuple[str, int] | None = None
    ) -> socket.socket:
        return socket.create_connection((address, port), timeout, source_address)

    connection._create_connection = connect_to_checked_address  # type: ignore[attr-defined]
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")
        return done(response.status, excerpt)
    except (OSError, http.client.HTTPException) as exc:
        return done(None, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        connection.close()
