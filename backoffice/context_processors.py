from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    """``nav``: the main navigation entries the signed-in viewer may open (backoffice.nav)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from backoffice.nav import nav_for

    return {"nav": nav_for(user)}
