"""Outbound webhook pages (administrators): the endpoints, one endpoint's secrets and delivery log,
and the actions on them (create, change, disable, enable, rotate the secret, replay a delivery).

A new secret is shown once: the service returns it, the view keeps it in the session until the
endpoint page has shown it, and nothing shows it again.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ops.forms import WebhookDisableForm, WebhookEndpointForm
from ops.models import DeliveryStatus, User, WebhookDelivery, WebhookEndpoint, WebhookSecret
from ops.selectors import webhook_delivery_list, webhook_endpoint_get, webhook_endpoint_list
from ops.services import webhooks as services
from ops.services.webhooks import WebhookError

_SHOW_ONCE_KEY = "webhooks.show_once"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _refused(form: Form, exc: WebhookError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


def _show_once(request: HttpRequest, endpoint: WebhookEndpoint, secret: str) -> None:
    request.session[_SHOW_ONCE_KEY] = {"endpoint": endpoint.pk, "secret": secret}


def webhooks_view(request: HttpRequest) -> HttpResponse:
    """GET: the endpoints and the form to add one. POST: add it."""
    user = _user(request)
    services.webhooks_can_view(user).require(PermissionDenied)
    form = WebhookEndpointForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        services.webhook_endpoint_can_create(user).require(PermissionDenied)
        if form.is_valid():
            try:
                endpoint, secret = services.webhook_endpoint_create(
                    url=form.cleaned_data["url"],
                    description=form.cleaned_data["description"],
                    event_types=form.cleaned_data["event_types"],
                    actor=user,
                )
            except WebhookError as exc:
                _refused(form, exc)
            else:
                _show_once(request, endpoint, secret)
                messages.success(request, f"Endpoint {endpoint} created.")
                return redirect("webhook-endpoint", pk=endpoint.pk)
        status = 400
    return render(request, "ops/webhooks.html", {"endpoints": webhook_endpoint_list(), "form": form}, status=status)


def _endpoint_page(
    request: HttpRequest,
    endpoint: WebhookEndpoint,
    *,
    form: WebhookEndpointForm | None = None,
    disable_form: WebhookDisableForm | None = None,
    status: int = 200,
) -> HttpResponse:
    shown = request.session.get(_SHOW_ONCE_KEY)
    new_secret = None
    if shown and shown.get("endpoint") == endpoint.pk:
        new_secret = shown["secret"]
        del request.session[_SHOW_ONCE_KEY]
    delivery_status = request.GET.get("status", "")
    if delivery_status not in DeliveryStatus.values:
        delivery_status = ""
    now = timezone.now()
    secrets = [
        {"prefix": str(s), "created_at": s.created_at, "expires_at": s.expires_at}
        for s in WebhookSecret.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")
        if s.expires_at is None or s.expires_at > now
    ]
    response = render(
        request,
        "ops/webhook_endpoint.html",
        {
            "endpoint": endpoint,
            "new_secret": new_secret,
            "secrets": secrets,
            "deliveries": webhook_delivery_list(endpoint, status=delivery_status),
            "delivery_status": delivery_status,
            "statuses": DeliveryStatus.choices,
            "form": form
            or WebhookEndpointForm(
                initial={
                    "url": endpoint.url,
                    "description": endpoint.description,
                    "event_types": endpoint.event_types,
                }
            ),
            "disable_form": disable_form or WebhookDisableForm(),
        },
        status=status,
    )
    if new_secret:
        response["Cache-Control"] = "no-store"
    return response


def _get(request: HttpRequest, pk: int) -> WebhookEndpoint:
    services.webhooks_can_view(_user(request)).require(PermissionDenied)
    endpoint: WebhookEndpoint = webhook_endpoint_get(pk)
    return endpoint


def webhook_endpoint_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _endpoint_page(request, _get(request, pk))


@require_POST
def webhook_endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _get(request, pk)
    services.webhook_endpoint_can_change(_user(request), endpoint).require(PermissionDenied)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            services.webhook_endpoint_change(
                endpoint_id=endpoint.pk,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                event_types=form.cleaned_data["event_types"],
                actor=_user(request),
            )
        except WebhookError as exc:
            _refused(form, exc)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhook-endpoint", pk=endpoint.pk)
    return _endpoint_page(request, endpoint, form=form, status=400)


@require_POST
def webhook_endpoint_disable(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _get(request, pk)
    services.webhook_endpoint_can_change(_user(request), endpoint).require(PermissionDenied)
    form = WebhookDisableForm(request.POST)
    if form.is_valid():
        try:
            services.webhook_endpoint_disable(
                endpoint_id=endpoint.pk, actor=_user(request), reason=form.cleaned_data["reason"]
            )
        except WebhookError as exc:
            _refused(form, exc)
            return _endpoint_page(request, endpoint, disable_form=form, status=409)
        messages.success(request, "Endpoint disabled: nothing is sent to it until it is enabled again.")
        return redirect("webhook-endpoint", pk=endpoint.pk)
    return _endpoint_page(request, endpoint, disable_form=form, status=400)


@require_POST
def webhook_endpoint_enable(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _get(request, pk)
    services.webhook_endpoint_can_change(_user(request), endpoint).require(PermissionDenied)
    try:
        services.webhook_endpoint_enable(endpoint_id=endpoint.pk, actor=_user(request))
    except WebhookError as exc:
        messages.error(request, str(exc))
        return redirect("webhook-endpoint", pk=endpoint.pk)
    messages.success(request, "Endpoint enabled: the deliveries that waited are sent now.")
    return redirect("webhook-endpoint", pk=endpoint.pk)


@require_POST
def webhook_secret_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _get(request, pk)
    services.webhook_endpoint_can_change(_user(request), endpoint).require(PermissionDenied)
    secret = services.webhook_secret_rotate(endpoint_id=endpoint.pk, actor=_user(request))
    _show_once(request, endpoint, secret)
    messages.success(request, "New signing secret made; the previous one keeps signing for 24 hours.")
    return redirect("webhook-endpoint", pk=endpoint.pk)


@require_POST
def webhook_delivery_replay(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    endpoint = _get(request, pk)
    delivery: Any = WebhookDelivery.objects.filter(pk=delivery_pk, endpoint=endpoint).first()
    if delivery is None:
        raise Http404
    services.webhook_delivery_can_replay(_user(request), delivery).require(PermissionDenied)
    services.webhook_delivery_replay(delivery_id=delivery.pk, actor=_user(request))
    note = "" if endpoint.enabled else " It is sent when the endpoint is enabled again."
    messages.success(request, f"Event {delivery.event_id} queued to be sent again.{note}")
    return redirect("webhook-endpoint", pk=endpoint.pk)
