"""The second factor, enforced on every staff page, the session-authenticated staff API and the
Django admin.

After the password (Django's login view), a signed-in staff member who has not passed their
second factor in this session (``request.user.is_verified()``, set by django-otp's
``OTPMiddleware``) is sent to the verification page, or to enrolment when they have no
authenticator yet; the staff API answers 403 (problem+json) instead. Public views
(``login_not_required``: sign-in, health checks, PSP callbacks) and the views marked
``second_factor_not_required`` (enrolment, verification, sign-out) are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from rest_framework.views import APIView

from ops import errors
from ops.services.second_factor import second_factor_enrolled, second_factor_required

V = TypeVar("V", bound=Callable[..., Any])


def second_factor_not_required(view: V) -> V:
    """Mark a view a signed-in staff member may open before passing their second factor."""
    view.second_factor_required = False  # type: ignore[attr-defined]
    return view


def _is_api_view(view_func: Any) -> bool:
    cls = getattr(view_func, "cls", None)
    return isinstance(cls, type) and issubclass(cls, APIView)


class SecondFactorRequiredMiddleware(MiddlewareMixin):
    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user: Any = request.user
        if not user.is_authenticated or user.is_verified() or not second_factor_required(user):
            return None
        if _is_api_view(view_func):
            return JsonResponse(
                {
                    "type": "https://backoffice.invalid/problems/second_factor_required",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": errors.SECOND_FACTOR_REQUIRED_API,
                },
                status=403,
                content_type="application/problem+json",
            )
        if not getattr(view_func, "login_required", True) or not getattr(view_func, "second_factor_required", True):
            return None
        target = "second-factor" if second_factor_enrolled(user) else "second-factor-enrol"
        return redirect_to_login(request.get_full_path(), reverse(target))
