"""REST API plumbing shared by every app: problem-details errors (RFC 9457), method-scoped
permission classes, and cursor pagination whose bad ``cursor`` is a 400 naming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, pagination, permissions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler


def problem_details_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error as application/problem+json: type, title, status, detail, and the
    offending fields under ``errors``."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    if isinstance(exc, Http404):  # a scoped fetch found nothing: the documented ``not_found`` problem
        exc = exceptions.NotFound(str(exc.args[0]) if exc.args else None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    status = response.status_code
    body: dict[str, Any] = {
        "type": f"https://backoffice.invalid/problems/{getattr(exc, 'default_code', 'error')}",
        "title": response.status_text,
        "status": status,
    }
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        body["detail"] = "The request has invalid fields."
        body["errors"] = data if isinstance(data, dict) else {"non_field_errors": data}
    elif isinstance(data, dict) and "detail" in data:
        body["detail"] = str(data["detail"])
    else:
        body["detail"] = str(data)
    body |= getattr(exc, "problem_members", {})  # extension members an exception names (RFC 9457 §3.2)
    response.data = _printable(body)
    response.content_type = "application/problem+json"
    request = context.get("request")
    if request is not None:  # a problem is JSON whatever the view renders otherwise (the schema: YAML)
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    return response


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong, and under ``errors`` the fields at fault.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["type", "title", "status"],
}
PROBLEM_RESPONSES = {
    "400": "Bad input: ``errors`` names each field (or query parameter) at fault; nothing was written.",
    "401": "No credentials, or an API key that cannot be used: unknown, revoked, expired or not yet approved "
    "(the problem ``type`` says which). Sent with ``WWW-Authenticate: Bearer``.",
    "403": "Not allowed: the key lacks the operation's scope (``api_key_scope_missing``), is used from outside "
    "its IP allow-list (``api_key_ip_not_allowed``), or the caller's role does not allow it (``permission_denied``).",
    "404": "No such object for this caller (outside their scope, or none at all).",
    "409": "The object is not in a state that allows this, or a request with the same Idempotency-Key is still "
    "running (with Retry-After).",
    "429": "The key's rate limit is used up: wait ``Retry-After`` seconds.",
}
WRITE_PROBLEM_RESPONSES = {"422": "Refused on its merits (a limit, a policy, an idempotency key reused)."}

_T = "https://backoffice.invalid/problems/"
PROBLEM_EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("invalid", {"type": _T + "invalid", "title": "Bad Request", "status": 400,
                        "detail": "The request has invalid fields.", "errors": {"amount": ["A valid number is required."]}}),
    "401": ("api_key_revoked", {"type": _T + "api_key_revoked", "title": "Unauthorized", "status": 401,
                                "detail": "The API key k3x9q2m7ab was revoked on 2026-11-29 20:15 UTC."}),
    "403": ("api_key_scope_missing", {"type": _T + "api_key_scope_missing", "title": "Forbidden", "status": 403,
                                      "detail": "The API key k3x9q2m7ab lacks the scope 'payments:write' that this "
                                      "operation needs (it holds: payments:read).",
                                      "required_scope": "payments:write", "key_scopes": ["payments:read"]}),
    "404": ("not_found", {"type": _T + "not_found", "title": "Not Found", "status": 404,
                          "detail": "No Client matches the given query."}),
    "409": ("idempotency_key_in_progress", {"type": _T + "idempotency_key_in_progress", "title": "Conflict",
                                            "status": 409, "detail": "A request with this Idempotency-Key is still "
                                            "being processed."}),
    "422": ("idempotency_key_reused", {"type": _T + "idempotency_key_reused", "title": "Unprocessable Entity",
                                       "status": 422, "detail": "The Idempotency-Key was used with another body.",
                                       "errors": {"Idempotency-Key": ["used before with another amount"]},
                                       "mismatch": ["amount"]}),
    "429": ("throttled", {"type": _T + "throttled", "title": "Too Many Requests", "status": 429,
                          "detail": "Request was throttled. Expected available in 42 seconds."}),
    # Only where an operation declares it (an outside system answers inside the request).
    "502": ("payment_refused", {"type": _T + "payment_refused", "title": "Bad Gateway", "status": 502,
                                "detail": "The request has invalid fields.",
                                "errors": {"non_field_errors": ["The payment provider refused the payment intent "
                                                                "(card declined): deposit D-2026-000123 failed."]}}),
}  # fmt: skip
RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}


def problem_responses_hook(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing: every operation declares its problem+json error responses,
    each with an example."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            declared = PROBLEM_RESPONSES | (WRITE_PROBLEM_RESPONSES if method != "get" else {})
            for code, description in declared.items():
                name, example = PROBLEM_EXAMPLES[code]
                content = {
                    "application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"},
                        "examples": {name: {"value": example}},
                    }
                }
                response: dict[str, Any] = {"description": description, "content": content}
                if code in ("409", "429"):
                    response["headers"] = RETRY_AFTER_HEADER
                operation["responses"].setdefault(code, response)
            for code, response in operation["responses"].items():  # others the operation declares itself
                if code in PROBLEM_EXAMPLES and "content" not in response:
                    name, example = PROBLEM_EXAMPLES[code]
                    response["content"] = {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"},
                            "examples": {name: {"value": example}},
                        }
                    }
    return result


def _printable(value: Any) -> Any:
    """The problem as UTF-8 can carry it: a message that quotes the caller's lone surrogate
    ("\ud800" is not a valid choice) shows it escaped instead of failing to encode (a 500)."""
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class ScopedPermission(permissions.BasePermission):
    """Map each HTTP method to the Django permissions it needs, in one place per resource:
    ``scope_map = {"GET": ["ops.view_client_status"], "POST": ["ops.manage_clients"]}``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        needed = getattr(view, "scope_map", {}).get(request.method, None)
        if needed is None:
            return False
        return all(request.user.has_perm(p) for p in needed)


class DecisionPermission(permissions.BasePermission):
    """Map each action of a resource to the can-function that decides it, in one place:
    ``decision_map = {"list": client_can_list, "create": client_can_register}``. A refusal is a 403
    whose detail is the Decision's reason. Decisions about one object are asked by the action once
    it has fetched the object (through the scoped selector)."""

    message: str | None = None

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        can = getattr(view, "decision_map", {}).get(getattr(view, "action", None))
        if can is None:
            return False
        decision = can(request.user)
        if not decision:
            self.message = decision.reason
        return bool(decision)


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers, but a page that is no page (``0``, ``x``, a NUL byte, past the end) is a
    bad value of the ``page`` parameter: a 400 naming it, as any other bad input."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({self.page_query_param: [str(exc.detail)]}) from None


class CursorPagination(pagination.CursorPagination):
    """Every API list: an opaque ``cursor`` (follow ``next`` / ``previous``), newest first by id —
    unique and never changing, so a row inserted or changed while a caller pages is neither
    skipped nor repeated. A cursor that is no cursor (tampered, a NUL byte) is a 400 naming it."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({self.cursor_query_param: [str(exc.detail)]}) from None

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= (self.max_page_size or 0)):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return super().get_page_size(request)


BIGINT_MAX = 2**63 - 1


def object_id(pk: str | None) -> int:
    """A path's object id as the database can look it up; anything else names no object: 404."""
    text = pk or ""
    if not (text.isascii() and text.isdigit()) or int(text) > BIGINT_MAX:
        raise Http404
    return int(text)


class TypedInput:
    """A serializer mixin: a JSON body keeps its types. DRF would turn a number into text for a text
    field (``1e20`` → ``"1e+20"``); here a text field takes a JSON string only. A related field's
    slug is checked as text (no NUL byte, no lone surrogate, not over-long) before the database
    sees it, where a NUL byte would be an error and a 500."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors: dict[str, list[str]] = {}
            for name, field in self.fields.items():
                value = data.get(name)
                if field.read_only or value is None:
                    continue
                if isinstance(field, serializers.CharField | serializers.SlugRelatedField) and not isinstance(
                    value, str
                ):
                    errors[name] = ["Expected a string."]
                elif isinstance(field, serializers.SlugRelatedField):
                    try:
                        serializers.CharField(max_length=200, allow_blank=True).run_validation(value)
                    except exceptions.ValidationError as exc:
                        errors[name] = exc.detail  # type: ignore[assignment]
            if errors:
                raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


UNKNOWN_FIELD = "Unknown field: this operation does not take it."


class StrictInput(TypedInput):
    """``TypedInput``, and a field the operation does not take is a 400 naming it: a misspelt
    ``ammount`` or a staff-only field sent by a portal is refused, not silently dropped."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(name) for name in data.keys() if name not in known)
            if unknown:
                raise exceptions.ValidationError({name: [UNKNOWN_FIELD] for name in unknown})
        return super().to_internal_value(data)
