"""Structured logs: one JSON object per line (``LOG_FORMAT=json``, the default) or a readable line
for a developer's console (``LOG_FORMAT=console``, the dev settings' default).

Every record - Django's, Celery's, the apps' plain ``logging`` calls and ``structlog`` loggers alike -
goes through the same structlog processors, which add the request id and the acting actor (from
:mod:`audit.context`, set by the request middleware and the Celery task base) and, inside a Celery
task, the task's id and name (bound by ``backoffice.celery.ActorTask``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog

from audit.context import current_actor, current_request_info

if TYPE_CHECKING:  # the settings import this module: nothing here may need Django set up
    from django.http import HttpRequest, HttpResponse

FORMATS = ("json", "console")

access_log = logging.getLogger("backoffice.request")


def add_request_context(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The request id and the actor of whatever is running now (a request, a task, a command)."""
    request_id = current_request_info().request_id
    if request_id and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    actor = current_actor()
    if actor is not None and "actor" not in event_dict:
        event_dict["actor"] = actor.label
    return event_dict


def _pre_chain() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,  # task_id / task_name inside a Celery task
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # a few well-known extras of Django's and our own records (never the request object itself)
        structlog.stdlib.ExtraAdder(
            allow=["status_code", "method", "path", "status", "duration_ms", "view", "actor", "security"]
        ),
        add_request_context,
    ]


def formatter(fmt: str) -> dict[str, Any]:
    """A ``logging.config`` formatter entry rendering every record as ``fmt`` (json or console)."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        processors.append(structlog.processors.format_exc_info)  # the traceback as one "exception" string
    processors.append(renderer)
    return {"()": structlog.stdlib.ProcessorFormatter, "foreign_pre_chain": _pre_chain(), "processors": processors}


def configure_structlog() -> None:
    """``structlog.get_logger()`` loggers hand their events to the standard library, so they share
    the handlers and formatters of ``settings.LOGGING``."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_pre_chain()[:4],
            add_request_context,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class AccessLogMiddleware:
    """One line per request: method, path, view, status and duration, with the request id and the
    actor (a staff user signed in by the session or an API credential) like every other line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        extra: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "view": view_label(request),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        user = getattr(request, "user", None)
        if getattr(user, "is_authenticated", False) and hasattr(user, "get_username"):
            extra["actor"] = user.get_username()  # type: ignore[union-attr]  # the staff user (also one signed in by this request)
        access_log.info("request", extra=extra)
        return response


def view_label(request: HttpRequest) -> str:
    """The URL pattern's name (a bounded set, fit for a metric label), not the path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    return str(match.view_name or match._func_path)
