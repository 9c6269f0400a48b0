"""The security log's edge: refused requests and what the request noted, written after the
response (imported by MIDDLEWARE once the apps are ready; ``backoffice.middleware`` is also read by
LOGGING, before them)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse

from audit.context import RequestSecurity, SecurityNote, request_security_scope
from audit.models import SecurityEventKind
from audit.services import security_events_write

logger = logging.getLogger(__name__)


# A refused answer and what the security log calls it.
_REFUSED = {
    401: SecurityEventKind.UNAUTHENTICATED,
    403: SecurityEventKind.REFUSED,
    404: SecurityEventKind.NOT_FOUND,
    429: SecurityEventKind.RATE_LIMITED,
}
_NOT_LOGGED = ("/static/", "/healthz", "/favicon.ico")


class SecurityLogMiddleware:
    """The one place refused requests reach the security log (``audit.SecurityEvent``): every
    401, 403 and 429 answer, and a 404 a view gave a signed-in user (an object outside their
    scope: the scoped selectors answer 404), with the reason — the Decision's, carried by the
    PermissionDenied, the API's problem detail, or noted by ``Decision.require`` — plus whatever
    the request noted (a failed sign-in, a forged webhook: ``audit.services.security_event_note``).

    It writes after the response is made, outside every transaction the view opened (even with
    ATOMIC_REQUESTS), so the refused request's rollback cannot take the event with it; one INSERT
    per request that has anything to log, nothing for the others. Sits inside
    RequestContextMiddleware (request id and IP)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_security_scope() as gathered:
            response = self.get_response(request)
        notes = list(gathered.notes)
        refused = self._refusal(request, response, gathered)
        if refused is not None:
            notes.append(refused)
        if notes:
            user = getattr(request, "user", None)
            try:
                security_events_write(
                    notes,
                    # a staff user (signed in, or owning the API key used); a partner's key is not one
                    actor=user if isinstance(user, get_user_model()) and user.is_authenticated else None,
                    method=request.method or "",
                    path=request.path,
                    user_agent=request.headers.get("User-Agent", ""),
                )
            except DatabaseError:  # the answer stands; the line is in the security logger already
                logger.exception("security log: %d event(s) not stored", len(notes))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        request._security_exception = exception  # type: ignore[attr-defined]

    def _refusal(self, request: HttpRequest, response: HttpResponse, gathered: RequestSecurity) -> SecurityNote | None:
        kind = _REFUSED.get(response.status_code)
        if kind is None or request.path.startswith(_NOT_LOGGED):
            return None
        if kind == SecurityEventKind.NOT_FOUND:
            user = getattr(request, "user", None)
            if request.resolver_match is None or user is None or not user.is_authenticated:
                return None  # no such page, or nobody signed in: not a probe of someone's data
        return SecurityNote(kind=kind, reason=_reason(request, response, gathered), status=response.status_code)


def _reason(request: HttpRequest, response: HttpResponse, gathered: RequestSecurity) -> str:
    exception = getattr(request, "_security_exception", None)
    if isinstance(exception, PermissionDenied | Http404) and str(exception):
        return str(exception)
    data = getattr(response, "data", None)  # the API's problem details
    if isinstance(data, dict) and data.get("detail"):
        return str(data["detail"])
    return gathered.refusal
