from typing import Any

from django.http import HttpRequest


def staff_context(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from ops.services.heartbeat import scheduler_status

    return {"staff_roles": user.roles, "scheduler": scheduler_status()}
