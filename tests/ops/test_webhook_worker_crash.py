"""A real Celery worker delivering webhooks is killed with ``kill -9`` while 1,000 events are
pending: after a restart every event is delivered, none twice with different ids, and every
request's signature verifies with the reference library (``standardwebhooks``).

How the worker is caught in the middle of a delivery, without any test-only path: the receiver (a
threading HTTP server on 127.0.0.1) records its 200th request and does not answer it; once it holds
it the test kills the worker. That delivery was received but never recorded as delivered, so it is
sent again after the restart, with the same ``webhook-id``: at least once, never under another id.
Beat's sweep (``webhooks_sweep_task``) is queued by the test every second, as beat would every
``WEBHOOK_SWEEP_INTERVAL_SECONDS``; the worker's lease and re-queue delay are shortened so that the
dead worker's claim runs out in seconds."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from backoffice.celery import app
from ops.events import EventType
from ops.models import DeliveryStatus, OutboxEvent, WebhookDelivery
from ops.roles import Role
from ops.services.events import event_publish
from ops.services.webhooks import webhook_endpoint_create
from ops.tasks import webhooks_sweep_task
from tests.factories import client, staff
from tests.ops.receiver import Receiver
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

EVENTS = 1000
HOLD_AT = 200
ENV = {
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": "2",
    "WEBHOOK_LEASE_SECONDS": "3",
    "WEBHOOK_REQUEUE_AFTER_SECONDS": "3",
}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    app.control.purge()
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
    app.control.purge()


def _delivered() -> int:
    return WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count()


def test_worker_killed_with_1000_events_pending_delivers_every_event_under_its_own_id(
    workers: list[Worker], tmp_path: Path
) -> None:
    with Receiver(hold_at=HOLD_AT) as receiver:
        _, secret = webhook_endpoint_create(
            url=receiver.url, description="crash test", event_types=[EventType.CLIENT_STATUS_CHANGED],
            actor=staff(Role.ADMIN),
        )  # fmt: skip
        subject = client()
        for batch in range(EVENTS // 100):  # ten transactions of a hundred events each
            with transaction.atomic():
                for n in range(batch * 100, batch * 100 + 100):
                    event_publish(type=EventType.CLIENT_STATUS_CHANGED, subject=subject, data={"n": n})
        ids = {
            str(pk)
            for pk in OutboxEvent.objects.filter(type=EventType.CLIENT_STATUS_CHANGED).values_list("id", flat=True)
        }
        assert len(ids) == EVENTS

        doomed = Worker("webhooks-doomed", tmp_path / "doomed.log", env=ENV, pool="prefork")
        workers.append(doomed)
        doomed.wait_ready()
        assert receiver.holding.wait(120), "the worker never got to the 200th delivery"
        doomed.kill9()  # with one delivery in flight and most still pending
        receiver.release.set()
        assert _delivered() < EVENTS - 500
        in_flight = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, lease_until__isnull=False)
        assert in_flight.count() == 1  # claimed by the dead worker, never recorded

        restarted = Worker("webhooks-restarted", tmp_path / "restarted.log", env=ENV, pool="prefork")
        workers.append(restarted)
        restarted.wait_ready()
        deadline = time.monotonic() + 240
        while _delivered() < EVENTS and time.monotonic() < deadline:
            webhooks_sweep_task.delay()  # beat's sweep
            time.sleep(1)
        received = receiver.snapshot()

    assert _delivered() == EVENTS
    assert WebhookDelivery.objects.count() == EVENTS
    by_n: dict[int, set[str]] = defaultdict(set)
    for request in received:
        payload = Webhook(secret).verify(request.body, request.headers)  # raises unless it verifies
        by_n[payload["data"]["n"]].add(request.webhook_id)
    assert sorted(by_n) == list(range(EVENTS))
    assert all(len(webhook_ids) == 1 for webhook_ids in by_n.values())  # never under another id
    assert {request.webhook_id for request in received} == ids
    # the request in flight when the worker died was sent again, with the same id and body
    held = received[HOLD_AT - 1]
    again = [r for r in received if r.webhook_id == held.webhook_id]
    assert len(again) >= 2 and {r.body for r in again} == {held.body}
    assert json.loads(held.body)["type"] == "client.status_changed"
