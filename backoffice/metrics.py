"""Prometheus metrics at ``/metrics`` (prometheus-client).

Two kinds, chosen so that any number of web and worker processes report one truth:

* Per-process counters of the web process: requests by view, method and status, and their latency.
  Several gunicorn workers on one host share them through ``PROMETHEUS_MULTIPROC_DIR`` (the
  client's multiprocess mode); without it each process reports its own.
* Figures read at scrape time from where they live, so they are the same whichever process is
  scraped: open and overdue work items per queue (SLA breaches), the PSP callbacks waiting to be
  applied and the age of the oldest (webhook lag), Celery's queue lengths on the broker, the age of
  beat's heartbeat, and task failures, which workers count in Redis (a hash, one field per task)
  from Celery's ``task_failure`` signal.

The endpoint is never public: it answers only a request carrying ``Authorization: Bearer
<METRICS_TOKEN>``; with no token configured it is switched off (404)."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import REGISTRY, Collector

from backoffice.logs import view_label

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "backoffice_http_requests", "HTTP requests answered, by URL name, method and status.", ["view", "method", "status"]
)
LATENCY = Histogram(
    "backoffice_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL name and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

TASK_FAILURES_KEY = "backoffice:metrics:task_failures"


class MetricsMiddleware:
    """Counts and times every request (outermost, so everything under it is measured)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        view, method = view_label(request), request.method or "-"
        REQUESTS.labels(view=view, method=method, status=str(response.status_code)).inc()
        LATENCY.labels(view=view, method=method).observe(time.perf_counter() - started)
        return response


@contextlib.contextmanager
def broker_client(timeout: int = 2) -> Iterator[Any]:
    """A client of the broker's Redis (through the Celery app's connection, whatever form its URL
    takes), or an error within ``timeout`` seconds: one attempt, no retrying."""
    from backoffice.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        yield conn.default_channel.client  # type: ignore[attr-defined]  # the Redis transport's channel


def task_failure_record(task_name: str) -> None:
    """Called by the worker that saw the failure; never lets the counting fail the worker."""
    try:
        with broker_client() as client:
            client.hincrby(TASK_FAILURES_KEY, task_name[:200], 1)
    except Exception:  # the broker being down is reported by the health checks
        log.warning("task failure not counted: the broker is unreachable", exc_info=True)


class DatabaseCollector(Collector):
    """What the back office holds right now, read when Prometheus scrapes."""

    def collect(self) -> Iterator[Any]:
        yield from self._work_items()
        yield from self._webhooks()
        yield from self._outbound_webhooks()
        yield from self._scheduler()
        yield from self._broker()

    def _work_items(self) -> Iterator[Any]:
        from ops.models import OPEN_STATUSES, Queue

        now = timezone.now()
        rows = Queue.objects.annotate(
            open=Count("items", filter=Q(items__status__in=OPEN_STATUSES)),
            overdue=Count("items", filter=Q(items__status__in=OPEN_STATUSES, items__due_at__lt=now)),
        ).values_list("code", "open", "overdue")
        depth = GaugeMetricFamily("backoffice_work_items_open", "Open work items, by queue.", labels=["queue"])
        overdue = GaugeMetricFamily(
            "backoffice_work_items_overdue", "Open work items past their SLA due time, by queue.", labels=["queue"]
        )
        for code, open_count, overdue_count in rows:
            depth.add_metric([code], open_count)
            overdue.add_metric([code], overdue_count)
        yield depth
        yield overdue

    def _webhooks(self) -> Iterator[Any]:
        from payments.models import InboundEvent, WebhookStatus

        waiting = InboundEvent.objects.filter(status=WebhookStatus.RECEIVED).aggregate(
            count=Count("id"), oldest=Min("received_at")
        )
        lag = (timezone.now() - waiting["oldest"]).total_seconds() if waiting["oldest"] else 0.0
        yield GaugeMetricFamily(
            "backoffice_webhook_events_waiting", "PSP callbacks stored and not yet applied.", value=waiting["count"]
        )
        yield GaugeMetricFamily(
            "backoffice_webhook_lag_seconds",
            "Age of the oldest PSP callback stored and not yet applied (0 when none waits).",
            value=max(0.0, lag),
        )

    def _outbound_webhooks(self) -> Iterator[Any]:
        from ops.models import DeliveryStatus, WebhookDelivery

        now = timezone.now()
        pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
            count=Count("id"), oldest_due=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now))
        )
        lag = (now - pending["oldest_due"]).total_seconds() if pending["oldest_due"] else 0.0
        yield GaugeMetricFamily(
            "backoffice_outbound_webhooks_pending",
            "Outbound webhook deliveries not yet delivered (waiting for their next attempt or their endpoint).",
            value=pending["count"],
        )
        yield GaugeMetricFamily(
            "backoffice_outbound_webhook_lag_seconds",
            "How long the most overdue outbound webhook delivery has been due (0 when none is).",
            value=max(0.0, lag),
        )

    def _scheduler(self) -> Iterator[Any]:
        from ops.services.heartbeat import scheduler_status

        status = scheduler_status()
        if status.age_seconds is not None:
            yield GaugeMetricFamily(
                "backoffice_scheduler_heartbeat_age_seconds",
                "Seconds since Celery beat's heartbeat task last ran.",
                value=status.age_seconds,
            )

    def _broker(self) -> Iterator[Any]:
        try:
            with broker_client() as client:
                failures = client.hgetall(TASK_FAILURES_KEY)
                lengths = {queue: client.llen(queue) for queue in _celery_queues()}
        except Exception:  # the broker is down: its figures are missing, the rest is still scraped
            log.warning("broker metrics skipped: the broker is unreachable", exc_info=True)
            return
        counter = CounterMetricFamily(
            "backoffice_celery_task_failures", "Celery tasks that failed, by task (all workers).", labels=["task"]
        )
        for name, count in sorted(failures.items()):
            counter.add_metric([name.decode() if isinstance(name, bytes) else str(name)], int(count))
        yield counter
        queued = GaugeMetricFamily(
            "backoffice_celery_queue_length", "Tasks waiting on the broker, by Celery queue.", labels=["queue"]
        )
        for queue, length in lengths.items():
            queued.add_metric([queue], length)
        yield queued


def _celery_queues() -> list[str]:
    from backoffice.celery import app

    return sorted({str(app.conf.task_default_queue)} | {queue.name for queue in app.conf.task_queues or []})


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(DatabaseCollector())
    return registry


class _ProcessMetrics(Collector):
    """This process's own metrics (the default registry: the request counters, GC, process)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def _authorised(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


@login_not_required
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        return HttpResponseNotFound("metrics are off: set METRICS_TOKEN\n", content_type="text/plain")
    if not _authorised(request):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
