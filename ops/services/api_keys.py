"""API keys: request (maker-checker), revoke, rotate, change scopes. Every change is audited.

How the secret reaches the maker: it is made when the key is *requested*, shown once on the
response to that request, and only its hash is stored; the key row waits in ``pending`` and works
only once another administrator approves it (``api_key.create``). Nothing ever stores the secret
in clear (not the approval's payload or result, not the audit trail, not a cache), so no page can
show it twice; a maker who lost it asks for a new key. A rotation shows the new key's secret once
to the administrator who rotates, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.api_keys import networks_check, owner_kind, scopes_check, token_new
from ops.errors import OpsError
from ops.models import ApiKey, ApiKeyOwnerKind, ApiKeyStatus, ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny

CREATE_ACTION = "api_key.create"
WIDEN_ACTION = "api_key.widen_scopes"


def api_keys_can_manage(actor: User) -> Decision:
    """The API keys page and everything on it: request, revoke, rotate (administrators)."""
    if actor.is_authenticated and actor.has_perm("ops.manage_api_keys"):
        return ALLOWED
    return deny(errors.API_KEYS_NOT_ALLOWED)


def api_key_list() -> Any:
    return ApiKey.objects.select_related("created_by", "revoked_by", "owner_type", "replaces").order_by(
        "-created_at", "-id"
    )


def api_key_get(pk: int, *, for_update: bool) -> ApiKey:
    query = ApiKey.objects.filter(pk=pk)
    if for_update:
        query = query.select_for_update(of=("self",))
    key = query.first()
    if key is None:
        raise OpsError("No such API key.")
    return key


def snapshot(key: ApiKey) -> dict[str, Any]:
    """A key as the audit trail records it (never the secret; the hash neither: it is not news)."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "owner": f"{key.owner_kind}:{key.owner_label}",
        "scopes": list(key.scopes),
        "allowed_ips": list(key.allowed_ips),
        "rate_per_minute": key.rate_per_minute,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "status": key.status,
    }


@dataclass(frozen=True)
class KeyRequested:
    key: ApiKey
    approval: ApprovalRequest
    token: str  # shown once to the maker, stored nowhere


def _owner_fields(kind: str, owner: models.Model | None) -> dict[str, Any]:
    spec = owner_kind(kind)
    if kind == ApiKeyOwnerKind.CLIENT_AREA:
        return {"owner_type": None, "owner_id": ""}
    if owner is None or (spec.model is not None and not isinstance(owner, spec.model)):
        raise OpsError(errors.API_KEY_OWNER_REQUIRED.format(kind=spec.label))
    if not spec.is_active(owner):
        raise OpsError(errors.API_KEY_OWNER_INACTIVE.format(owner=owner))
    return {"owner_type": ContentType.objects.get_for_model(owner), "owner_id": str(owner.pk)}


@transaction.atomic(durable=True)
def api_key_request(
    *,
    maker: User,
    name: str,
    owner_kind: str,
    owner: models.Model | None,
    scopes: list[str],
    allowed_ips: list[str],
    expires_at: datetime | None,
    rate_per_minute: int | None,
    reason: str,
) -> KeyRequested:
    """Ask for a new key: it is made now (pending, its hash stored) and works once another
    administrator approves the ``api_key.create`` request. The secret is in the result only."""
    from ops.services.approvals import approval_create

    api_keys_can_manage(maker).require(OpsError)
    if not name.strip():
        raise OpsError("Name the key: what it is for.")
    if expires_at is not None and expires_at <= timezone.now():
        raise OpsError(errors.API_KEY_EXPIRY_PAST)
    token, prefix, hashed = token_new()
    key = ApiKey(
        name=name.strip()[:100],
        prefix=prefix,
        secret_hash=hashed,
        owner_kind=owner_kind,
        scopes=scopes_check(owner_kind, scopes),
        allowed_ips=networks_check(allowed_ips),
        rate_per_minute=rate_per_minute or settings.API_KEY_DEFAULT_RATE_PER_MINUTE,
        expires_at=expires_at,
        created_by=maker,
        **_owner_fields(owner_kind, owner),
    )
    key.full_clean(exclude=["status"])  # a protected FSM field: set by its transitions only
    key.save()
    audit_record(action=AuditAction.API_KEY_REQUESTED, subject=key, after=snapshot(key), reason=reason)
    approval = approval_create(
        action=CREATE_ACTION, subject=key, payload=_create_payload(key), maker=maker, reason=reason
    )
    return KeyRequested(key=key, approval=approval, token=token)


def _create_payload(key: ApiKey) -> dict[str, Any]:
    """What the checker approves, fixed by the payload hash: the key's prefix, owner and powers."""
    return {
        "prefix": key.prefix,
        "secret_hash": key.secret_hash,
        "owner_kind": key.owner_kind,
        "owner_id": key.owner_id,
        "scopes": list(key.scopes),
        "allowed_ips": list(key.allowed_ips),
        "rate_per_minute": key.rate_per_minute,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def api_key_activate(*, key: ApiKey, payload: dict[str, Any], request: ApprovalRequest) -> ApiKey:
    """The approved ``api_key.create``: the pending key starts working (inside the engine's
    transaction). The key must still be exactly what was approved."""
    key = api_key_get(key.pk, for_update=True)
    if key.status != ApiKeyStatus.PENDING:
        raise OpsError(errors.API_KEY_NOT_PENDING.format(status=key.get_status_display().lower()))
    if _create_payload(key) != payload:
        raise OpsError(errors.TAMPERED_PAYLOAD)
    before = snapshot(key)
    key.activate()
    key.activated_at = timezone.now()
    key.save()
    audit_record(
        action=AuditAction.API_KEY_ACTIVATED, subject=key, before=before, after=snapshot(key),
        reason=f"approval #{request.pk}",
    )  # fmt: skip
    return key


def api_key_refuse(*, key: ApiKey, request: ApprovalRequest) -> None:
    """The ``api_key.create`` request closed without approval: the key will never work."""
    key = api_key_get(key.pk, for_update=True)
    if key.status != ApiKeyStatus.PENDING:
        return
    before = snapshot(key)
    key.refuse()
    key.save()
    audit_record(
        action=AuditAction.API_KEY_REFUSED, subject=key, before=before, after=snapshot(key),
        reason=f"approval #{request.pk} {request.status}",
    )  # fmt: skip


@transaction.atomic(durable=True)
def api_key_revoke(*, key_id: int, actor: User, reason: str) -> ApiKey:
    """Stop a key now (no approval: taking power away is never held up)."""
    api_keys_can_manage(actor).require(OpsError)
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    key = api_key_get(key_id, for_update=True)
    if key.status not in (ApiKeyStatus.ACTIVE, ApiKeyStatus.PENDING):
        raise OpsError(errors.API_KEY_NOT_ACTIVE.format(status=key.get_status_display().lower(), verb="revoked"))
    before = snapshot(key)
    key.revoke()
    key.revoked_at = timezone.now()
    key.revoked_by = actor
    key.revoke_reason = reason.strip()
    key.save()
    audit_record(action=AuditAction.API_KEY_REVOKED, subject=key, before=before, after=snapshot(key), reason=reason)
    if key.status == ApiKeyStatus.REVOKED:
        _withdraw_pending(key, reason)
    return key


def _withdraw_pending(key: ApiKey, reason: str) -> None:
    from ops.selectors import approval_pending
    from ops.services.approvals import approval_withdraw

    for action in (CREATE_ACTION, WIDEN_ACTION):
        pending = approval_pending(action, key)
        if pending is not None:
            approval_withdraw(request_id=pending.pk, reason=f"key revoked: {reason}")


@dataclass(frozen=True)
class KeyRotated:
    old: ApiKey
    new: ApiKey
    token: str  # shown once to the administrator who rotated, stored nowhere


@transaction.atomic(durable=True)
def api_key_rotate(*, key_id: int, actor: User, overlap_until: datetime, reason: str) -> KeyRotated:
    """A new secret for the same key: a new key with the same owner, scopes, allow-list, rate and
    expiry works at once; the old one keeps working until ``overlap_until`` (the overlap), then
    expires. No approval: nothing is added to what the owner may do."""
    api_keys_can_manage(actor).require(OpsError)
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    now = timezone.now()
    longest = settings.API_KEY_MAX_ROTATION_OVERLAP_DAYS
    if not now <= overlap_until <= now + timedelta(days=longest):
        raise OpsError(errors.API_KEY_OVERLAP_RANGE.format(days=longest))
    old = api_key_get(key_id, for_update=True)
    if old.status != ApiKeyStatus.ACTIVE or (old.expires_at is not None and old.expires_at <= now):
        status = "expired" if old.status == ApiKeyStatus.ACTIVE else old.get_status_display().lower()
        raise OpsError(errors.API_KEY_NOT_ACTIVE.format(status=status, verb="rotated"))
    successor = ApiKey.objects.filter(replaces=old).first()
    if successor is not None:
        raise OpsError(errors.API_KEY_ALREADY_ROTATED.format(prefix=successor.prefix))
    token, prefix, hashed = token_new()
    new = ApiKey.objects.create(
        name=old.name, prefix=prefix, secret_hash=hashed, owner_kind=old.owner_kind, owner_type=old.owner_type,
        owner_id=old.owner_id, scopes=list(old.scopes), allowed_ips=list(old.allowed_ips),
        rate_per_minute=old.rate_per_minute, expires_at=old.expires_at, replaces=old, created_by=actor,
        status=ApiKeyStatus.ACTIVE, activated_at=now,
    )  # fmt: skip
    before = snapshot(old)
    old.expires_at = min(overlap_until, old.expires_at) if old.expires_at else overlap_until
    old.save(update_fields=["expires_at"])
    audit_record(
        action=AuditAction.API_KEY_ROTATED, subject=old, before=before,
        after=snapshot(old) | {"rotated_to": new.prefix}, reason=reason,
    )  # fmt: skip
    audit_record(
        action=AuditAction.API_KEY_ACTIVATED, subject=new, after=snapshot(new) | {"rotated_from": old.prefix},
        reason=reason,
    )  # fmt: skip
    return KeyRotated(old=old, new=new, token=token)


@transaction.atomic(durable=True)
def api_key_scopes_change(*, key_id: int, actor: User, scopes: list[str], reason: str) -> ApprovalRequest | None:
    """New scopes for a key. Fewer (or the same) take effect at once; any scope the key did not
    hold goes to another administrator (``api_key.widen_scopes``): the request is returned."""
    from ops.services.approvals import approval_create

    api_keys_can_manage(actor).require(OpsError)
    if not reason.strip():
        raise OpsError(errors.REASON_REQUIRED)
    key = api_key_get(key_id, for_update=True)
    if key.status != ApiKeyStatus.ACTIVE:
        raise OpsError(errors.API_KEY_NOT_ACTIVE.format(status=key.get_status_display().lower(), verb="changed"))
    wanted = scopes_check(key.owner_kind, scopes)
    if set(wanted) - set(key.scopes):
        return approval_create(
            action=WIDEN_ACTION, subject=key, payload={"from": list(key.scopes), "scopes": wanted}, maker=actor,
            reason=reason,
        )  # fmt: skip
    before = snapshot(key)
    key.scopes = wanted
    key.save(update_fields=["scopes"])
    audit_record(
        action=AuditAction.API_KEY_SCOPES_NARROWED, subject=key, before=before, after=snapshot(key), reason=reason
    )
    return None


def api_key_scopes_widen(*, key: ApiKey, payload: dict[str, Any], request: ApprovalRequest) -> ApiKey:
    """The approved ``api_key.widen_scopes`` (inside the engine's transaction)."""
    key = api_key_get(key.pk, for_update=True)
    if key.status != ApiKeyStatus.ACTIVE:
        raise OpsError(errors.API_KEY_NOT_ACTIVE.format(status=key.get_status_display().lower(), verb="widened"))
    if list(key.scopes) != list(payload["from"]):  # changed since it was asked: ask again
        raise OpsError(errors.PAYLOAD_CHANGED)
    before = snapshot(key)
    key.scopes = scopes_check(key.owner_kind, payload["scopes"])
    key.save(update_fields=["scopes"])
    audit_record(
        action=AuditAction.API_KEY_SCOPES_WIDENED, subject=key, before=before, after=snapshot(key),
        reason=f"approval #{request.pk}",
    )  # fmt: skip
    return key
