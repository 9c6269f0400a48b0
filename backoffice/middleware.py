"""Request id and acting user for everything a request does (audit events, history, logs)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from audit.context import Actor, RequestInfo, acting_as, actor_scope, request_scope

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        info = RequestInfo(request_id=request_id, ip=client_ip(request))
        with request_scope(info):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                with acting_as(Actor.staff(user)):
                    response = self.get_response(request)
            else:  # an API key may name the actor later (ops.api); it ends with the request
                with actor_scope():
                    response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ClientErrorLogFilter(logging.Filter):
    """A 4xx answer (403 refused, 404 not found) is the server working as designed: Django's one
    line says what was asked, without the traceback of the exception that produced it. Server
    errors (5xx) keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


BODY_TOO_LARGE = "The request is {size} bytes; the limit is {limit} bytes. Nothing was read or stored."


class RequestBodyLimitMiddleware:
    """Refuse a request whose declared body is above MAX_REQUEST_BODY_BYTES before anything reads it
    (413): an oversized upload is never spooled to disk or parsed. Django's own limits
    (DATA_UPLOAD_MAX_MEMORY_SIZE, the per-form file limits) still apply below this one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0  # Django reads an unparsable length as no body
        limit = settings.MAX_REQUEST_BODY_BYTES
        if size > limit:
            logging.getLogger("security").warning("request body of %s bytes refused: %s", size, request.path)
            return HttpResponse(
                BODY_TOO_LARGE.format(size=size, limit=limit), status=413, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)
