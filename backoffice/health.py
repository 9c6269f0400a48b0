"""Health checks for load balancers and monitoring, without login, one line per check.

* ``/healthz`` - liveness: the process answers (no dependency is asked; restart it if this fails).
* ``/healthz/ready`` - readiness: the database and the broker (Redis) answer; 503 takes this web
  process out of the load balancer until they do.
* ``/healthz/status`` - everything an on-call engineer watches: the database, the broker, a Celery
  worker answering a ping, and Celery beat's heartbeat (``/healthz/jobs`` shows that one alone).

Each answers 200 when every check passes and 503 naming the checks that failed. The details say
what failed (a connection refused, no worker) but carry no secret (no URL, no password)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'failing'} ({self.detail})"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}"


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return CheckResult("database", False, _error(exc))
    return CheckResult("database", True, "SELECT 1 answered")


def check_broker() -> CheckResult:
    from backoffice.metrics import broker_client

    try:
        with broker_client() as client:
            client.ping()
    except Exception as exc:
        return CheckResult("redis", False, _error(exc))
    return CheckResult("redis", True, "PING answered")


def check_workers() -> CheckResult:
    from backoffice.celery import app

    if not check_broker().ok:  # a ping through a dead broker would only wait for its retries
        return CheckResult("workers", False, "not asked: the broker does not answer")
    try:
        replies = app.control.ping(timeout=settings.HEALTH_WORKER_PING_SECONDS) or []
    except Exception as exc:
        return CheckResult("workers", False, _error(exc))
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return CheckResult(
            "workers", False, f"no Celery worker answered a ping within {settings.HEALTH_WORKER_PING_SECONDS} s"
        )
    return CheckResult("workers", True, f"{len(names)} answered")


def check_beat() -> CheckResult:
    from ops.services.heartbeat import scheduler_status

    try:
        status = scheduler_status()
    except Exception as exc:
        return CheckResult("beat", False, _error(exc))
    return CheckResult("beat", status.seen_at is not None and not status.stalled, status.summary)


def _report(checks: list[Callable[[], CheckResult]]) -> HttpResponse:
    results = [check() for check in checks]
    failing = [r.name for r in results if not r.ok]
    head = f"failing: {', '.join(failing)}" if failing else "ok"
    if failing:
        log.warning("health check failing: %s", ", ".join(failing))
    body = "\n".join([head, *(r.line for r in results)]) + "\n"
    return HttpResponse(body, content_type="text/plain", status=503 if failing else 200)


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
def healthz_ready(request: HttpRequest) -> HttpResponse:
    return _report([check_database, check_broker])


@login_not_required
def healthz_status(request: HttpRequest) -> HttpResponse:
    return _report([check_database, check_broker, check_workers, check_beat])
