"""REST API plumbing shared by every app: problem-details errors (RFC 9457) and method-scoped
permission classes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler


def problem_details_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error as application/problem+json: type, title, status, detail, and the
    offending fields under ``errors``."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
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
    response.data = body
    response.content_type = "application/problem+json"
    return response


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
