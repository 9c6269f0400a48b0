"""API keys on the maker-checker engine: a new key, and wider scopes for a key, are approved by an
administrator other than the one who asked (``ops.services.api_keys``)."""

from __future__ import annotations

from typing import Any

from django.db import models

from ops import errors
from ops.api_keys import scopes_check
from ops.approvals import ApprovalAction, Payload, register
from ops.errors import OpsError
from ops.models import ApiKey, ApiKeyStatus
from ops.roles import Role
from ops.services.api_keys import CREATE_ACTION, WIDEN_ACTION


def _key(subject: models.Model) -> ApiKey:
    if not isinstance(subject, ApiKey):
        raise OpsError("The API key no longer exists.")
    return ApiKey.objects.get(pk=subject.pk)


def _validate_create(subject: models.Model, payload: Payload) -> None:
    key = _key(subject)
    if key.status != ApiKeyStatus.PENDING:
        raise OpsError(errors.API_KEY_NOT_PENDING.format(status=key.get_status_display().lower()))
    scopes_check(key.owner_kind, payload.get("scopes", []))


def _execute_create(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.api_keys import api_key_activate

    key = api_key_activate(key=_key(subject), payload=payload, request=request)
    return {"activated": key.prefix, "scopes": list(key.scopes)}


def _close_create(subject: models.Model, payload: Payload, request: Any) -> None:
    from ops.services.api_keys import api_key_refuse

    api_key_refuse(key=_key(subject), request=request)


def _show_create(payload: Payload) -> dict[str, str]:
    key = ApiKey.objects.filter(prefix=payload.get("prefix")).first()
    return {
        "Key": f"{key.name} ({payload.get('prefix')})" if key else str(payload.get("prefix")),
        "Owner": key.owner_label if key else "?",
        "Scopes": ", ".join(payload.get("scopes", [])),
        "Allowed addresses": ", ".join(payload.get("allowed_ips", [])) or "any",
        "Rate limit": f"{payload.get('rate_per_minute')} calls a minute",
        "Expires": str(payload.get("expires_at") or "never"),
    }


register(
    ApprovalAction(
        key=CREATE_ACTION,
        label="Issue an API key",
        subject_model=ApiKey,
        maker_permission="ops.manage_api_keys",
        policy=lambda subject, payload: [Role.ADMIN],
        validate=_validate_create,
        execute=_execute_create,
        describe=lambda subject, payload: f"Issue the API key {subject} to {getattr(subject, 'owner_label', '?')}",
        on_close=_close_create,
        show=_show_create,
    )
)


def _validate_widen(subject: models.Model, payload: Payload) -> None:
    key = _key(subject)
    if key.status != ApiKeyStatus.ACTIVE:
        raise OpsError(errors.API_KEY_NOT_ACTIVE.format(status=key.get_status_display().lower(), verb="widened"))
    wanted = scopes_check(key.owner_kind, payload.get("scopes", []))
    if not set(wanted) - set(payload.get("from", [])):
        raise OpsError(errors.API_KEY_NOT_WIDER)


def _execute_widen(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from ops.services.api_keys import api_key_scopes_widen

    key = api_key_scopes_widen(key=_key(subject), payload=payload, request=request)
    return {"scopes": list(key.scopes)}


register(
    ApprovalAction(
        key=WIDEN_ACTION,
        label="Widen an API key's scopes",
        subject_model=ApiKey,
        maker_permission="ops.manage_api_keys",
        policy=lambda subject, payload: [Role.ADMIN],
        validate=_validate_widen,
        execute=_execute_widen,
        describe=lambda subject, payload: f"Give the API key {subject} the scopes {', '.join(payload['scopes'])}",
        show=lambda payload: {"From": ", ".join(payload.get("from", [])), "To": ", ".join(payload.get("scopes", []))},
    )
)
