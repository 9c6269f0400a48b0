"""Outbound webhooks in the Standard Webhooks format: endpoints and their secrets (managed by
administrators, every change audited), the fan-out of the outbox into deliveries, and delivery by
workers with retries.

Delivery is at least once, always with the event's id as ``webhook-id``: a worker claims a due
delivery with a compare-and-set (``lease_until``), posts it outside any transaction, then records
the attempt. 2xx: delivered. 410: the receiver asked to be left alone; the endpoint is disabled
(audited, a work item in the ``webhook_failure`` queue) and its deliveries wait until an
administrator enables it again. Anything else (or no answer): retried after the next delay of
``WEBHOOK_RETRY_SCHEDULE_SECONDS`` with +/-20% jitter, and given up (a work item) when the
schedule is spent. Beat's sweep (``webhooks_sweep``) fans out what the outbox still holds and
re-queues deliveries that are due and unclaimed: a retry whose time has come, or one whose worker
died (its lease ran out, its task was never run).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from audit.actions import AuditAction
from audit.services import audit_record
from ops import errors
from ops.errors import OpsError
from ops.events import EventType
from ops.models import (
    DeliveryStatus,
    OutboxEvent,
    RiskLevel,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from ops.permissions import ALLOWED, Decision, deny
from ops.webhooks_http import TargetRefused, post, target_resolve

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret keeps signing this long after a rotation
FAN_OUT_BATCH = 500
SWEEP_BATCH = 2000
JITTER = 0.2


class WebhookError(OpsError):
    """A webhook endpoint change was refused; ``field`` names the form field at fault (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- who may ------------------------------------------------------------------------------------


def webhooks_can_view(actor: User) -> Decision:
    return ALLOWED if actor.has_perm("ops.manage_webhooks") else deny(errors.WEBHOOKS_NOT_ALLOWED)


def webhook_endpoint_can_create(actor: User) -> Decision:
    return webhooks_can_view(actor)


def webhook_endpoint_can_change(actor: User, endpoint: WebhookEndpoint) -> Decision:
    return webhooks_can_view(actor)


def webhook_delivery_can_replay(actor: User, delivery: WebhookDelivery) -> Decision:
    return webhooks_can_view(actor)


def events_can_list(actor: User) -> Decision:
    return ALLOWED if actor.has_perm("ops.view_events") else deny(errors.NOT_ALLOWED)


# --- endpoints ----------------------------------------------------------------------------------


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _clean(url: str, event_types: list[str]) -> tuple[str, list[str]]:
    url = (url or "").strip()
    try:
        target_resolve(url)
    except TargetRefused as exc:
        raise WebhookError(str(exc), field="url") from None
    if not event_types:
        raise WebhookError(errors.WEBHOOK_EVENT_TYPES_REQUIRED, field="event_types")
    for value in event_types:
        if value not in EventType.values:
            raise WebhookError(errors.WEBHOOK_UNKNOWN_EVENT_TYPE.format(type=value), field="event_types")
    return url, sorted(set(event_types))


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
    }


@transaction.atomic(durable=True)
def webhook_endpoint_create(
    *, url: str, description: str, event_types: list[str], actor: User
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint with its first signing secret; the secret is returned to be shown once."""
    webhook_endpoint_can_create(actor).require(WebhookError)
    url, event_types = _clean(url, event_types)
    endpoint = WebhookEndpoint.objects.create(
        url=url, description=(description or "").strip()[:200], event_types=event_types, created_by=actor
    )
    secret = WebhookSecret.objects.create(endpoint=endpoint, secret=secret_new())
    audit_record(action=AuditAction.WEBHOOK_ENDPOINT_CREATED, subject=endpoint, after=_snapshot(endpoint))
    return endpoint, secret.secret


def _lock(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)


@transaction.atomic(durable=True)
def webhook_endpoint_change(
    *, endpoint_id: int, url: str, description: str, event_types: list[str], actor: User
) -> WebhookEndpoint:
    endpoint = _lock(endpoint_id)
    webhook_endpoint_can_change(actor, endpoint).require(WebhookError)
    url, event_types = _clean(url, event_types)
    before = _snapshot(endpoint)
    endpoint.url, endpoint.description, endpoint.event_types = url, (description or "").strip()[:200], event_types
    endpoint.save(update_fields=["url", "description", "event_types"])
    after = _snapshot(endpoint)
    changed = [k for k in after if after[k] != before[k]]
    audit_record(
        action=AuditAction.WEBHOOK_ENDPOINT_CHANGED,
        subject=endpoint,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return endpoint


def _disable(endpoint: WebhookEndpoint, *, reason: str) -> None:
    before = _snapshot(endpoint)
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:500]
    endpoint.disabled_at = timezone.now()
    endpoint.save(update_fields=["enabled", "disabled_reason", "disabled_at"])
    audit_record(
        action=AuditAction.WEBHOOK_ENDPOINT_DISABLED,
        subject=endpoint,
        before={"enabled": before["enabled"]},
        after={"enabled": False},
        reason=reason,
    )


@transaction.atomic(durable=True)
def webhook_endpoint_disable(*, endpoint_id: int, actor: User, reason: str) -> WebhookEndpoint:
    """Stop delivering to the endpoint. Deliveries already made wait (pending) until it is enabled
    again; events published meanwhile are not fanned out to it (a receiver reads them from
    ``GET /api/v1/events``)."""
    endpoint = _lock(endpoint_id)
    webhook_endpoint_can_change(actor, endpoint).require(WebhookError)
    reason = (reason or "").strip()
    if not reason:
        raise WebhookError(errors.WEBHOOK_REASON_REQUIRED, field="reason")
    if not endpoint.enabled:
        raise WebhookError(errors.WEBHOOK_ALREADY_DISABLED)
    _disable(endpoint, reason=reason)
    return endpoint


@transaction.atomic(durable=True)
def webhook_endpoint_enable(*, endpoint_id: int, actor: User, reason: str = "") -> WebhookEndpoint:
    """Deliver again: the deliveries that waited are due at once (sent by the next sweep)."""
    endpoint = _lock(endpoint_id)
    webhook_endpoint_can_change(actor, endpoint).require(WebhookError)
    if endpoint.enabled:
        raise WebhookError(errors.WEBHOOK_ALREADY_ENABLED)
    try:
        target_resolve(endpoint.url)
    except TargetRefused as exc:
        raise WebhookError(str(exc), field="url") from None
    before_reason = endpoint.disabled_reason
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, "", None
    endpoint.save(update_fields=["enabled", "disabled_reason", "disabled_at"])
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now(), queued_at=None
    )
    audit_record(
        action=AuditAction.WEBHOOK_ENDPOINT_ENABLED,
        subject=endpoint,
        before={"enabled": False, "disabled_reason": before_reason},
        after={"enabled": True},
        reason=(reason or "").strip(),
    )
    return endpoint


@transaction.atomic(durable=True)
def webhook_secret_rotate(*, endpoint_id: int, actor: User) -> str:
    """A new signing secret (returned to be shown once). The secrets signing until now keep
    signing beside it for ``ROTATION_OVERLAP``, then expire."""
    endpoint = _lock(endpoint_id)
    webhook_endpoint_can_change(actor, endpoint).require(WebhookError)
    now = timezone.now()
    expires = now + ROTATION_OVERLAP
    old = WebhookSecret.objects.filter(endpoint=endpoint).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=expires))
    retiring = old.count()
    old.update(expires_at=expires)
    secret = WebhookSecret.objects.create(endpoint=endpoint, secret=secret_new(), created_at=now)
    audit_record(
        action=AuditAction.WEBHOOK_SECRET_ROTATED,
        subject=endpoint,
        after={"secret": str(secret), "previous_secrets_expire_at": expires.isoformat(), "retiring": retiring},
    )
    return secret.secret


def active_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    return list(
        WebhookSecret.objects.filter(endpoint=endpoint)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at", "-id")
        .values_list("secret", flat=True)
    )


@transaction.atomic(durable=True)
def webhook_delivery_replay(*, delivery_id: int, actor: User) -> WebhookDelivery:
    """Send the event to the endpoint again, with the same ``webhook-id`` (a receiver that already
    has it recognises it), whatever the delivery's state; the retry schedule starts over."""
    delivery = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=delivery_id)
    webhook_delivery_can_replay(actor, delivery).require(WebhookError)
    before = {"status": delivery.status, "attempts": delivery.attempts}
    now = timezone.now()
    delivery.status, delivery.failures, delivery.next_attempt_at, delivery.queued_at = (
        DeliveryStatus.PENDING,
        0,
        now,
        now,
    )
    delivery.save(update_fields=["status", "failures", "next_attempt_at", "queued_at"])
    audit_record(
        action=AuditAction.WEBHOOK_DELIVERY_REPLAYED,
        subject=delivery.endpoint,
        before=before,
        after={"delivery": delivery.pk, "event": str(delivery.event_id), "status": delivery.status},
    )
    if delivery.endpoint.enabled:
        transaction.on_commit(lambda: deliveries_queue([delivery.pk]))
    return delivery


# --- fan-out and the sweep ----------------------------------------------------------------------


def deliveries_queue(delivery_ids: list[int]) -> None:
    """Queue a task for each delivery (after the commit that made or reset them)."""
    from ops.tasks import webhook_deliver_task

    try:
        for delivery_id in delivery_ids:
            webhook_deliver_task.delay(delivery_id=delivery_id)
    except Exception:  # each is marked queued: the sweep queues them again after WEBHOOK_REQUEUE_AFTER_SECONDS
        logger.warning("webhooks: could not queue %d deliveries; beat's sweep will", len(delivery_ids))


def deliveries_create(events: list[OutboxEvent], *, now: datetime) -> list[int]:
    """The fan-out: one delivery per (event, endpoint enabled and subscribed to its type), due now
    and marked queued (the caller queues them after its commit). Returns their ids."""
    types = sorted({event.type for event in events})
    endpoints = list(WebhookEndpoint.objects.filter(enabled=True, event_types__overlap=types).only("id", "event_types"))
    if not endpoints:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now, queued_at=now, created_at=now)
            for event in events
            for endpoint in endpoints
            if event.type in endpoint.event_types
        ]
    )
    return [d.pk for d in deliveries]


def webhooks_fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    """Fan out the outbox's events not fanned out yet, oldest first (``event_publish`` fans out in
    its own transaction; this is for events written any other way). Concurrent calls take
    different events (SKIP LOCKED). Returns the number of events fanned out."""
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.filter(fanned_out_at__isnull=True)
            .order_by("created_at")
            .select_for_update(skip_locked=True)
            .only("id", "type")[:limit]
        )
        if not events:
            return 0
        now = timezone.now()
        ids = deliveries_create(events, now=now)
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(fanned_out_at=now)
        if ids:
            transaction.on_commit(lambda: deliveries_queue(ids))
    return len(events)


def webhooks_sweep(*, limit: int = SWEEP_BATCH) -> tuple[int, int]:
    """Beat's sweep: fan out the outbox's leftovers, then queue each delivery that is due, not held
    by a live claim, and not queued recently (a retry whose time has come; one whose worker died
    mid-attempt or before it). Returns (events fanned out, deliveries queued)."""
    fanned = 0
    for _ in range(SWEEP_BATCH // FAN_OUT_BATCH):  # bounded: the next sweep takes the rest
        batch = webhooks_fan_out()
        fanned += batch
        if batch < FAN_OUT_BATCH:
            break
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale))
            .filter(endpoint__enabled=True)
            .order_by("next_attempt_at")
            .select_for_update(of=("self",), skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
            transaction.on_commit(lambda: deliveries_queue(ids))
    return fanned, len(ids)


# --- one delivery -------------------------------------------------------------------------------


def webhook_body(event: OutboxEvent) -> bytes:
    """The payload, as Standard Webhooks suggests: type, timestamp (of the event) and data. The
    same bytes on every attempt."""
    payload = {
        "type": event.type,
        "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def webhook_signature(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` for each secret, space-separated (signed
    with the reference library)."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return " ".join(Webhook(secret).sign(msg_id, when, body.decode()) for secret in secrets)


def retry_delay(failures: int) -> timedelta | None:
    """The wait after the ``failures``-th failed attempt in a row (jittered), None once the
    schedule is spent."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE_SECONDS
    if failures > len(schedule):
        return None
    base = schedule[failures - 1]
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    result: str  # delivered | retry | gone | given_up | skipped
    status_code: int | None = None


def webhook_deliver(*, delivery_id: int) -> Outcome:
    """One attempt of one delivery (the task's body); a delivery not due, claimed by another
    worker, done, or whose endpoint is disabled is left alone."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        return Outcome(delivery_id, "skipped")
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        WebhookDelivery.objects.filter(pk=delivery_id, lease_until=lease).update(
            lease_until=None, queued_at=None, attempts=F("attempts") - 1
        )
        return Outcome(delivery_id, "skipped")
    msg_id = str(delivery.event_id)
    body = webhook_body(delivery.event)
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "backoffice-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secrets=active_secrets(endpoint), msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }
    started = timezone.now()
    answer = post(endpoint.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery_id,
            number=delivery.attempts,
            started_at=started,
            duration_ms=answer.duration_ms,
            status_code=answer.status_code,
            error=answer.error,
            response_excerpt=answer.excerpt,
        )
        code = answer.status_code
        if code is not None and 200 <= code < 300:
            # ours while the claim is: one conditional UPDATE (no row lock taken before)
            done = WebhookDelivery.objects.filter(
                pk=delivery_id, lease_until=lease, status=DeliveryStatus.PENDING
            ).update(
                status=DeliveryStatus.DELIVERED,
                delivered_at=timezone.now(),
                failures=0,
                lease_until=None,
                last_status_code=code,
            )
            return Outcome(delivery_id, "delivered" if done else "skipped", code)
        return _failed(delivery_id, lease, answer)


def _failed(delivery_id: int, lease: datetime, answer: Any) -> Outcome:
    """Record a failed attempt (in the attempt's transaction): schedule the next one, or give up;
    a 410 disables the endpoint."""
    from ops.services.work_items import work_item_open

    delivery = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=delivery_id)
    if delivery.lease_until != lease or delivery.status != DeliveryStatus.PENDING:
        # the claim ran out and another worker took over (or an administrator replayed it): it decides
        return Outcome(delivery_id, "skipped", answer.status_code)
    now = timezone.now()
    delivery.lease_until = None
    delivery.last_status_code = answer.status_code
    code = answer.status_code
    endpoint = delivery.endpoint
    delivery.failures += 1
    delivery.queued_at = None
    delay = retry_delay(delivery.failures)
    result = "retry"
    if code == 410:
        result = "gone"
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if endpoint.enabled:
            _disable(endpoint, reason=errors.WEBHOOK_GONE)
            work_item_open(
                queue="webhook_failure",
                subject=endpoint,
                title=f"Webhook endpoint {endpoint} disabled: the receiver answered 410 Gone",
                risk_level=RiskLevel.MEDIUM,
                details={"url": endpoint.url, "event": str(delivery.event_id)},
            )
    if delay is None:
        result = "given_up"
        delivery.status = DeliveryStatus.FAILED
        audit_record(
            action=AuditAction.WEBHOOK_DELIVERY_GIVEN_UP,
            subject=endpoint,
            after={"delivery": delivery.pk, "event": str(delivery.event_id), "attempts": delivery.attempts},
            reason=answer.error or f"HTTP {code}",
        )
        work_item_open(
            queue="webhook_failure",
            subject=endpoint,
            title=f"Webhook deliveries to {endpoint} given up after {delivery.attempts} attempts",
            risk_level=RiskLevel.MEDIUM,
            details={"url": endpoint.url, "last_error": answer.error or f"HTTP {code}"},
        )
    else:
        delivery.next_attempt_at = now + delay
    delivery.save(
        update_fields=["status", "failures", "queued_at", "next_attempt_at", "lease_until", "last_status_code"]
    )
    return Outcome(delivery_id, result, code)
