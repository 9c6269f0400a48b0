"""/metrics: Prometheus figures for requests, work queues, SLA breaches, webhook lag, Celery queue
length and task failures, each moving with what it measures; never answered without the token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backoffice.celery import app
from ops.models import WorkItem
from ops.services.heartbeat import heartbeat_record
from ops.tasks import interaction_send_task, scheduler_heartbeat_task
from payments.models import InboundEvent, WebhookStatus
from tests.factories import work_item

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture(autouse=True)
def _token(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


@pytest.fixture
def celery_queue_empty() -> Iterator[None]:
    app.control.purge()
    yield
    app.control.purge()


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_bad_no_token_configured_turns_the_endpoint_off(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"])
def test_bad_a_missing_or_wrong_token_is_401(client: Client, header: str | None) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"' and b"backoffice_" not in response.content


def test_good_requests_are_counted_and_timed_by_view_and_status(client: Client) -> None:
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/")
    after = scrape(client)
    ok = {"view": "healthz", "method": "GET", "status": "200"}
    assert (
        value(after, "backoffice_http_requests_total", **ok) - value(before, "backoffice_http_requests_total", **ok)
        == 2
    )
    timed = {"view": "healthz", "method": "GET"}
    count = "backoffice_http_request_duration_seconds_count"
    assert value(after, count, **timed) - value(before, count, **timed) == 2
    unknown = {"view": "<unmatched>", "method": "GET", "status": "404"}  # no URL pattern: one label for all
    assert (
        value(after, "backoffice_http_requests_total", **unknown)
        - value(before, "backoffice_http_requests_total", **unknown)
        == 1
    )


def test_good_queue_depth_and_sla_breaches_follow_the_work_items(client: Client) -> None:
    before = scrape(client)
    assert ("backoffice_work_items_open", (("queue", "kyc_review"),)) in before  # every queue, even empty
    item = work_item("kyc_review")
    work_item("kyc_review")
    middle = scrape(client)
    assert (
        value(middle, "backoffice_work_items_open", queue="kyc_review")
        == value(before, "backoffice_work_items_open", queue="kyc_review") + 2
    )
    assert value(middle, "backoffice_work_items_overdue", queue="kyc_review") == 0
    WorkItem.objects.filter(pk=item.pk).update(due_at=timezone.now() - timedelta(minutes=1))  # its SLA passed
    after = scrape(client)
    assert value(after, "backoffice_work_items_overdue", queue="kyc_review") == 1


def test_good_webhook_lag_is_the_age_of_the_oldest_waiting_callback(client: Client) -> None:
    assert value(scrape(client), "backoffice_webhook_lag_seconds") == 0
    for n, age in enumerate([30, 120]):
        InboundEvent.objects.create(
            provider="simpay",
            event_id=f"evt_{n}",
            event_type="payment.succeeded",
            payload={},
            received_at=timezone.now() - timedelta(seconds=age),
        )
    samples = scrape(client)
    assert 120 <= value(samples, "backoffice_webhook_lag_seconds") < 130
    assert value(samples, "backoffice_webhook_events_waiting") == 2
    InboundEvent.objects.filter(event_id="evt_1").update(status=WebhookStatus.PROCESSED, processed_at=timezone.now())
    samples = scrape(client)
    assert 30 <= value(samples, "backoffice_webhook_lag_seconds") < 40
    assert value(samples, "backoffice_webhook_events_waiting") == 1


def test_good_scheduler_heartbeat_age(client: Client) -> None:
    assert ("backoffice_scheduler_heartbeat_age_seconds", ()) not in scrape(client)  # never ran
    heartbeat_record(worker="w1@host")
    assert 0 <= value(scrape(client), "backoffice_scheduler_heartbeat_age_seconds") < 10


def test_good_celery_queue_length_and_task_failures_are_read_from_the_broker(
    client: Client, celery_queue_empty: None
) -> None:
    before = scrape(client)
    assert value(before, "backoffice_celery_queue_length", queue="celery") == 0
    scheduler_heartbeat_task.delay()  # no worker runs in this test: it waits on the broker
    scheduler_heartbeat_task.delay()
    samples = scrape(client)
    assert value(samples, "backoffice_celery_queue_length", queue="celery") == 2
    failed = {"task": "ops.tasks.interaction_send_task"}
    # a task that fails (no such message), through Celery's own failure signal
    assert interaction_send_task.apply(kwargs={"interaction_id": 0}).failed()
    after = scrape(client)
    assert (
        value(after, "backoffice_celery_task_failures_total", **failed)
        - value(before, "backoffice_celery_task_failures_total", **failed)
        == 1
    )
