"""The second step of a staff sign-in: enrol an authenticator (first sign-in, or after a reset),
or enter a code from it (or a recovery code). The password step is Django's login view.

A wrong code is a failed sign-in: it is sent as Django's ``user_login_failed`` signal (so the
audit trail, the security log and django-axes see it like a wrong password), and once the
username or the IP is locked out, the half-signed-in session ends and the lockout page answers.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import segno
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from ops import errors
from ops.errors import OpsError
from ops.forms import SecondFactorEnrolForm, SecondFactorForm
from ops.middleware import second_factor_not_required
from ops.models import User
from ops.services.second_factor import (
    second_factor_enrol_confirm,
    second_factor_enrol_start,
    second_factor_enrolled,
    second_factor_verify,
)


def _user(request: HttpRequest) -> Any:
    assert isinstance(request.user, User)
    return request.user


def _next(request: HttpRequest) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(request: HttpRequest, name: str) -> str:
    return f"{reverse(name)}?{urlencode({REDIRECT_FIELD_NAME: _next(request)})}"


def _locked_out(request: HttpRequest, username: str) -> HttpResponse | None:
    """The lockout page (and the end of the session) when ``username`` or this IP is locked."""
    credentials = {"username": username}
    if AxesProxyHandler.is_locked(request, credentials):
        logout(request)
        return get_lockout_response(request, None, credentials)
    return None


@second_factor_not_required
def second_factor_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.is_verified():
        return redirect(_next(request))
    if not second_factor_enrolled(user):
        return redirect(_with_next(request, "second-factor-enrol"))
    if (locked := _locked_out(request, user.username)) is not None:
        return locked
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = second_factor_verify(user=user, code=form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        credentials = {"username": user.username, "step": "second_factor"}
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):  # this failure reached the limit
            logout(request)
            return get_lockout_response(request, None, credentials)
        form.add_error("code", errors.SECOND_FACTOR_WRONG)
    status = 400 if request.method == "POST" else 200
    return render(request, "registration/second_factor.html", {"form": form, "next": _next(request)}, status=status)


@second_factor_not_required
def second_factor_enrol(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if second_factor_enrolled(user):
        return redirect(_with_next(request, "second-factor"))
    if request.method != "POST":
        device = second_factor_enrol_start(user=user)
        return _enrol_page(request, device, SecondFactorEnrolForm(initial={"device": device.pk}))
    form = SecondFactorEnrolForm(request.POST)
    raw_id = request.POST.get("device", "")
    valid_id = raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18
    device = TOTPDevice.objects.filter(user=user, confirmed=False, pk=int(raw_id)).first() if valid_id else None
    if device is None:  # an old page, or a forged one: start again with a new secret
        return redirect(_with_next(request, "second-factor-enrol"))
    if form.is_valid():
        try:
            device, codes = second_factor_enrol_confirm(user=user, device_id=device.pk, code=form.cleaned_data["code"])
        except OpsError as exc:
            form.add_error("code", str(exc))
        else:
            otp_login(request, device)
            return render(request, "registration/recovery_codes.html", {"codes": codes, "next": _next(request)})
    return _enrol_page(request, device, form, status=400)


def _enrol_page(
    request: HttpRequest, device: TOTPDevice, form: SecondFactorEnrolForm, status: int = 200
) -> HttpResponse:
    uri = device.config_url
    secret = b32encode(device.bin_key).decode()
    # segno writes the QR code as plain SVG (no script): served inline, nothing from a CDN
    qr_svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", omitsize=False)
    context = {
        "form": form,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "qr_svg": mark_safe(qr_svg),  # noqa: S308 - generated here from our own URI, no user markup
        "next": _next(request),
    }
    response = render(request, "registration/second_factor_enrol.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the secret is not kept by any cache
    return response
