"""API keys for machines: the scopes, who may own a key, the key format, and the one scope check.

A key reads ``bo_<prefix>_<secret>``: the prefix (10 lowercase letters and digits) is shown in
lists and logs and finds the row; the secret (32 random bytes) is shown once and only the SHA-256
of the whole key is stored. A random 256-bit secret needs no slow password hash (nothing to guess),
so checking a key costs one indexed lookup and one hash, on every request.

Owners: a staff member (the key acts as that person: their roles still apply), the client area
(the broker's portal, server to server), or a kind registered by a higher app in its
``AppConfig.ready`` (``ib`` registers partners) — ops does not import the apps above it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils import timezone

from audit.context import Actor, ActorKind
from ops import errors
from ops.errors import OpsError
from ops.models import ApiKey, ApiKeyOwnerKind, ApiKeyStatus, User
from ops.permissions import ALLOWED, Decision, deny

TOKEN_START = "bo_"  # noqa: S105 - the format marker of a key, not a secret
PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PREFIX_LENGTH = 10

# scope -> what it allows, as the request form and the OpenAPI document say it
SCOPES: dict[str, str] = {
    "clients:read": "Read clients, their status and trading accounts (staff API)",
    "clients:write": "Register clients and move them through their lifecycle (staff API)",
    "payments:read": "Read withdrawals and deposits (staff API)",
    "payments:write": "Request withdrawals (staff API)",
    "events:read": "Read the events sent to webhook endpoints, to fill a gap (GET /api/v1/events)",
    "reports:read": "Read the reports' figures, charts and tables (staff API; the key's owner's report permissions apply)",
    "partner:read": "A partner's own clients, tree, statements and payouts (partner API)",
    "partner:write": "A partner raises and follows disputes (partner API)",
    "client_area": "The broker's client portal, server to server (client-area API)",
}
ANY_SCOPE = "*"  # an endpoint any active key may call (the OpenAPI document)


@dataclass(frozen=True)
class OwnerKind:
    """Who may own a key of this kind, which scopes such a key may hold, and how the audit trail
    names a call made with it."""

    kind: str
    label: str
    scopes: frozenset[str]
    model: type[models.Model] | None = None
    choices: Callable[[], Iterable[models.Model]] = field(default=lambda: ())
    actor: Callable[[ApiKey, Any], Actor] = field(default=lambda key, owner: _system_actor(key))
    is_active: Callable[[Any], bool] = field(default=lambda owner: True)


def _system_actor(key: ApiKey) -> Actor:
    return Actor(ActorKind.SYSTEM, f"api_key:{key.prefix}", f"client-area:{key.name} (API key {key.prefix})"[:150])


def _staff_actor(key: ApiKey, owner: Any) -> Actor:
    return Actor(ActorKind.STAFF, str(owner.pk), f"{owner.get_username()} (API key {key.prefix})"[:150])


_owner_kinds: dict[str, OwnerKind] = {
    ApiKeyOwnerKind.STAFF: OwnerKind(
        kind=ApiKeyOwnerKind.STAFF,
        label="a staff member",
        scopes=frozenset(
            {"clients:read", "clients:write", "payments:read", "payments:write", "events:read", "reports:read"}
        ),
        model=User,
        choices=lambda: User.objects.filter(is_active=True).order_by("username"),
        actor=_staff_actor,
        is_active=lambda owner: bool(owner.is_active),
    ),
    ApiKeyOwnerKind.CLIENT_AREA: OwnerKind(
        kind=ApiKeyOwnerKind.CLIENT_AREA, label="the client area", scopes=frozenset({"client_area"})
    ),
}


def register_owner_kind(kind: OwnerKind) -> OwnerKind:
    """A higher app names its owners (``ib``: partners) in its ``AppConfig.ready``."""
    if kind.kind not in ApiKeyOwnerKind.values:
        raise ValueError(f"unknown API key owner kind {kind.kind!r}")
    _owner_kinds[kind.kind] = kind
    return kind


def owner_kind(kind: str) -> OwnerKind:
    try:
        return _owner_kinds[kind]
    except KeyError:
        raise OpsError(f"Keys of {kind!r} owners are not available.") from None


def owner_kinds() -> list[OwnerKind]:
    return [_owner_kinds[k] for k in ApiKeyOwnerKind.values if k in _owner_kinds]


def scopes_check(kind: str, scopes: Iterable[str]) -> list[str]:
    """The scopes, sorted, if each exists and suits the owner kind; else an OpsError naming it."""
    spec = owner_kind(kind)
    wanted = sorted(set(scopes))
    if not wanted:
        raise OpsError(errors.API_KEY_NO_SCOPES)
    for scope in wanted:
        if scope not in SCOPES:
            raise OpsError(errors.API_KEY_UNKNOWN_SCOPE.format(scope=scope, choices=", ".join(SCOPES)))
        if scope not in spec.scopes:
            raise OpsError(
                errors.API_KEY_SCOPE_NOT_FOR_OWNER.format(
                    scope=scope, kind=spec.label, choices=", ".join(sorted(spec.scopes))
                )
            )
    return wanted


def networks_check(values: Iterable[str]) -> list[str]:
    """An allow-list as written by a person, normalised (``203.0.113.7`` -> ``203.0.113.7/32``)."""
    result = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            result.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise OpsError(errors.API_KEY_BAD_NETWORK.format(value=text)) from None
    return sorted(set(result))


def ip_allowed(key: ApiKey, ip: str | None) -> bool:
    if not key.allowed_ips:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in key.allowed_ips)


# --- the key itself ------------------------------------------------------------------------------


def token_new() -> tuple[str, str, str]:
    """A new key: (the whole key to show once, its prefix, the SHA-256 to store)."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    token = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
    return token, prefix, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "backslashreplace")).hexdigest()


def token_prefix(token: str) -> str | None:
    """The prefix a presented key claims, or None when it is not shaped like one of ours."""
    if not token.startswith(TOKEN_START):
        return None
    prefix, sep, secret = token[len(TOKEN_START) :].partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not secret or not all(c in PREFIX_ALPHABET for c in prefix):
        return None
    return prefix


def api_key_find(token: str) -> ApiKey | None:
    """The key whose secret this is (constant-time comparison of the hashes), whatever its state."""
    prefix = token_prefix(token)
    if prefix is None:
        return None
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, token_hash(token)):
        return None
    return key


def api_key_usable(key: ApiKey, *, now: Any = None) -> Decision:
    """Active and not expired (the 401s: a refusal here means the credential itself is no good)."""
    now = now or timezone.now()
    if key.status == ApiKeyStatus.REVOKED:
        when = key.revoked_at.strftime("%Y-%m-%d %H:%M UTC") if key.revoked_at else "?"
        return deny(errors.API_KEY_REVOKED_DETAIL.format(prefix=key.prefix, when=when))
    if key.status != ApiKeyStatus.ACTIVE:
        return deny(errors.API_KEY_INACTIVE_DETAIL.format(prefix=key.prefix, status=key.get_status_display().lower()))
    if key.expires_at is not None and key.expires_at <= now:
        when = key.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return deny(errors.API_KEY_EXPIRED_DETAIL.format(prefix=key.prefix, when=when))
    return ALLOWED


def api_key_can(key: ApiKey, scope: str) -> Decision:
    """May this key call an operation that needs ``scope``? The one scope check: the API's
    permission class asks it for every call made with a key (``ops.api.requires_scope``)."""
    usable = api_key_usable(key)
    if not usable:
        return usable
    if scope == ANY_SCOPE or scope in key.scopes:
        return ALLOWED
    return deny(
        errors.API_KEY_SCOPE_MISSING.format(prefix=key.prefix, scope=scope, held=", ".join(key.scopes) or "none")
    )


def api_key_owner_actor(key: ApiKey) -> Actor:
    """Whom the audit trail names for a call made with ``key``: its owner, with the key's prefix."""
    spec = owner_kind(key.owner_kind)
    return spec.actor(key, key.owner)
