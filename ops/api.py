"""The REST API's key authentication, scope check and per-key rate limit (DRF).

- :class:`ApiKeyAuthentication` (``Authorization: Bearer bo_<prefix>_<secret>``): an unknown,
  revoked, expired or not-yet-approved key is a 401 problem naming which; a call from outside the
  key's allow-list a 403. The call is attributed to the key's owner in the audit trail (the acting
  actor is set for the rest of the request). ``request.auth`` is the :class:`ops.models.ApiKey`;
  ``request.user`` is the staff owner, or an :class:`ApiCaller` for the other owners.
- :func:`requires_scope` builds the permission class an endpoint lists first:
  ``permission_classes = [requires_scope("partner:read", write="partner:write"), ...]``. A key
  without the scope is a 403 naming it; a session (staff in a browser) is left to the classes
  after it (roles). An endpoint without one refuses every key (fail closed).
- :class:`ApiKeyRateThrottle`: each key's ``rate_per_minute``, counted in the shared cache
  (Redis), a 429 with ``Retry-After`` beyond it.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from audit.context import actor_set, current_request_info, refusal_noted
from ops import errors
from ops.api_keys import api_key_can, api_key_find, api_key_owner_actor, api_key_usable, ip_allowed, owner_kind
from ops.models import ApiKey, ApiKeyOwnerKind

SCHEME = "Bearer"
LAST_USED_EVERY_SECONDS = 60  # last_used_at is written at most this often per key


class ApiKeyProblem(exceptions.AuthenticationFailed):
    """A 401 whose problem ``type`` says what is wrong with the key."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.default_code = code  # the problem handler's type: .../problems/<code>


class ApiKeyForbidden(exceptions.PermissionDenied):
    def __init__(self, detail: str, code: str, **members: Any) -> None:
        super().__init__(detail)
        self.default_code = code
        self.problem_members = members


class ApiCaller:
    """``request.user`` for a key that is not a staff member's (a partner's, the client area's):
    authenticated, holding no staff permission. Its ``key`` and ``owner`` say who it is."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.owner = key.owner

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False

    def get_username(self) -> str:
        return api_key_owner_actor(self.key).label

    def is_verified(self) -> bool:  # django-otp asks; a key is its own factor
        return True

    def __str__(self) -> str:
        return self.get_username()


def _when(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_EVERY_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)  # not audited: a usage stamp


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != SCHEME.lower():
            return None  # no key: another authenticator (the staff session) may know the caller
        key = api_key_find(token.strip())
        if key is None:
            raise ApiKeyProblem(errors.API_KEY_INVALID, "api_key_invalid")
        usable = api_key_usable(key)
        if not usable:
            code = {"revoked": "api_key_revoked", "active": "api_key_expired"}.get(key.status, "api_key_not_active")
            raise ApiKeyProblem(usable.reason, code)
        spec = owner_kind(key.owner_kind)
        owner = key.owner
        if key.owner_kind != ApiKeyOwnerKind.CLIENT_AREA and (owner is None or not spec.is_active(owner)):
            raise ApiKeyProblem(errors.API_KEY_OWNER_INACTIVE.format(owner=key.owner_label), "api_key_owner_inactive")
        ip = current_request_info().ip
        if not ip_allowed(key, ip):
            refusal_noted(errors.API_KEY_IP_NOT_ALLOWED.format(prefix=key.prefix, ip=ip))
            raise ApiKeyForbidden(
                errors.API_KEY_IP_NOT_ALLOWED.format(prefix=key.prefix, ip=ip or "an unknown address"),
                "api_key_ip_not_allowed",
            )
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is not None and not _takes_keys(view):
            raise ApiKeyForbidden(errors.API_KEY_ENDPOINT_CLOSED, "api_key_endpoint_closed")
        actor_set(api_key_owner_actor(key))  # the request middleware's actor scope ends it
        _when(key)
        user = owner if key.owner_kind == ApiKeyOwnerKind.STAFF else ApiCaller(key)
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return f'{SCHEME} realm="api"'


def _takes_keys(view: Any) -> bool:
    return any(isinstance(p, type) and issubclass(p, KeyScopePermission) for p in view.permission_classes)


class KeyScopePermission(BasePermission):
    """The scope a key needs here: ``read`` for GET/HEAD/OPTIONS, ``write`` for the others (no
    ``write``: keys may only read). Build one with :func:`requires_scope`."""

    read: str | None = None
    write: str | None = None

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # not a key: the permission classes after this one decide
        scope = self.read if request.method in SAFE_METHODS else self.write
        if scope is None:
            raise ApiKeyForbidden(errors.API_KEY_ENDPOINT_CLOSED, "api_key_endpoint_closed")
        decision = api_key_can(key, scope)
        if not decision:
            refusal_noted(decision.reason)
            raise ApiKeyForbidden(
                decision.reason, "api_key_scope_missing", required_scope=scope, key_scopes=list(key.scopes)
            )
        return True


def requires_scope(read: str | None, *, write: str | None = None) -> type[KeyScopePermission]:
    """The permission class for an endpoint a key may call with ``read`` (safe methods) and
    ``write`` (the others)."""
    return type(
        f"RequiresScope_{(read or 'none').replace(':', '_')}_{(write or 'none').replace(':', '_')}",
        (KeyScopePermission,),
        {"read": read, "write": write, "__module__": __name__},
    )


def scopes_of(view: Any, method: str) -> str | None:
    """The scope an operation of ``view`` needs (for the OpenAPI document)."""
    for permission in getattr(view, "permission_classes", ()):
        if isinstance(permission, type) and issubclass(permission, KeyScopePermission):
            return permission.read if method.upper() in SAFE_METHODS else permission.write
    return None


class ApiKeyRateThrottle(BaseThrottle):
    """Each key's own rate: at most ``rate_per_minute`` calls in a minute counted from the first
    call of the window. The counter is one cache entry per key (``API_RATE_LIMIT_CACHE``, Redis
    where REDIS_URL is set: shared by every web process); ``add`` + ``incr`` are atomic there."""

    window_seconds = 60

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        cache = caches[settings.API_RATE_LIMIT_CACHE]
        counter, started = f"apikey-rate:{key.prefix}:n", f"apikey-rate:{key.prefix}:t"
        now = time.time()
        for _ in range(3):
            if cache.add(counter, 1, timeout=self.window_seconds):
                cache.set(started, now, timeout=self.window_seconds)
                return True
            try:
                count = cache.incr(counter)
                break
            except ValueError:  # the window ended between add and incr: start a new one
                continue
        else:
            return True
        if count <= key.rate_per_minute:
            return True
        began = cache.get(started) or now
        self._wait = max(1.0, self.window_seconds - (now - float(began)))
        return False

    def wait(self) -> float | None:
        return self._wait


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ops.api.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "bo_<prefix>_<secret>",
            "description": (
                "An API key, sent as `Authorization: Bearer bo_<prefix>_<secret>`. Keys are requested on "
                "/staff/api-keys/ and work once a second administrator approves them. Each operation names the "
                "scope it needs (`x-required-scope`); a key without it gets 403 `api_key_scope_missing`. "
                "Unknown, revoked or expired keys get 401; a call from outside the key's IP allow-list 403. "
                "Each key has its own rate limit: beyond it, 429 with `Retry-After`."
            ),
        }
