"""The API keys page (/staff/api-keys/): the keys, a request for a new one, revoke, rotate and
change scopes. A new key's secret (and a rotated key's new secret) is on the answer to that POST
only, never stored in clear, never shown again (``ops.services.api_keys``)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ops.api_keys import SCOPES, owner_kind
from ops.errors import OpsError
from ops.forms import ApiKeyRequestForm, ApiKeyRotateForm, ApiKeyScopesForm
from ops.models import ApiKey, ApiKeyStatus, ApprovalRequest, ApprovalStatus, User
from ops.services import api_keys as key_services
from ops.services.api_keys import CREATE_ACTION, WIDEN_ACTION, api_keys_can_manage


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _page(request: HttpRequest, *, form: ApiKeyRequestForm | None = None, status: int = 200) -> HttpResponse:
    api_keys_can_manage(_user(request)).require(PermissionDenied)
    keys = list(key_services.api_key_list())
    now = timezone.now()
    for key in keys:
        key.expired = key.expires_at is not None and key.expires_at <= now
        key.usable = key.status == ApiKeyStatus.ACTIVE and not key.expired
        key.allowed_scopes = sorted(owner_kind(key.owner_kind).scopes)
    pending = ApprovalRequest.objects.filter(action__in=[CREATE_ACTION, WIDEN_ACTION], status=ApprovalStatus.PENDING)
    return render(
        request,
        "ops/api_keys.html",
        {
            "keys": keys,
            "form": form or ApiKeyRequestForm(),
            "rotate_form": ApiKeyRotateForm(),
            "pending": {r.subject_id: r for r in pending},
            "scopes": SCOPES,
        },
        status=status,
    )


def api_keys_view(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _secret_page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    response = render(request, "ops/api_key_secret.html", context)
    response["Cache-Control"] = "no-store"  # the secret is in this answer only: no cache keeps it
    return response


@require_POST
def api_key_request(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    api_keys_can_manage(user).require(PermissionDenied)
    form = ApiKeyRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    kind, owner = form.cleaned_data["owner"]
    day = form.cleaned_data.get("expires_on")
    try:
        made = key_services.api_key_request(
            maker=user, name=form.cleaned_data["name"], owner_kind=kind, owner=owner,
            scopes=form.cleaned_data["scopes"], allowed_ips=form.cleaned_data["allowed_ips"],
            expires_at=datetime.combine(day, time(0, 0), tzinfo=UTC) if day else None,
            rate_per_minute=form.cleaned_data.get("rate_per_minute"), reason=form.cleaned_data["reason"],
        )  # fmt: skip
    except OpsError as exc:
        form.add_error(None, str(exc))
        return _page(request, form=form, status=409)
    return _secret_page(request, {"key": made.key, "token": made.token, "approval": made.approval, "rotated": None})


@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    api_keys_can_manage(user).require(PermissionDenied)
    get_object_or_404(ApiKey, pk=pk)
    reason = request.POST.get("reason", "")
    try:
        key = key_services.api_key_revoke(key_id=pk, actor=user, reason=reason)
    except OpsError as exc:
        messages.error(request, str(exc))
        return _page(request, status=409)
    messages.success(request, f"The key {key.prefix} is revoked: it stops working now.")
    return redirect("api-keys")


@require_POST
def api_key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    api_keys_can_manage(user).require(PermissionDenied)
    get_object_or_404(ApiKey, pk=pk)
    form = ApiKeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items()))
        return _page(request, status=400)
    try:
        rotated = key_services.api_key_rotate(
            key_id=pk, actor=user, reason=form.cleaned_data["reason"],
            overlap_until=timezone.now() + timedelta(hours=form.cleaned_data["overlap_hours"]),
        )  # fmt: skip
    except OpsError as exc:
        messages.error(request, str(exc))
        return _page(request, status=409)
    return _secret_page(request, {"key": rotated.new, "token": rotated.token, "approval": None, "rotated": rotated.old})


@require_POST
def api_key_scopes(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    api_keys_can_manage(user).require(PermissionDenied)
    get_object_or_404(ApiKey, pk=pk)
    form = ApiKeyScopesForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items()))
        return _page(request, status=400)
    try:
        approval = key_services.api_key_scopes_change(
            key_id=pk, actor=user, scopes=form.cleaned_data["scopes"], reason=form.cleaned_data["reason"]
        )
    except OpsError as exc:
        messages.error(request, str(exc))
        return _page(request, status=409)
    if approval is not None:
        messages.success(request, f"Request #{approval.pk}: another administrator approves the wider scopes.")
        return redirect("approval", pk=approval.pk)
    messages.success(request, "Scopes narrowed: in force now.")
    return redirect("api-keys")
