"""Start-up checks: a CRM allow-list naming a field the back office cannot push stops the start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def crm_push_fields_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    from accounts.services.crm import CRM_FIELDS

    unknown = [f for f in settings.CRM_PUSH_FIELDS if f not in CRM_FIELDS]
    if not unknown:
        return []
    return [
        Error(
            f"CRM_PUSH_FIELDS names field(s) the back office cannot push: {', '.join(unknown)}",
            hint=f"Possible: {', '.join(CRM_FIELDS)}",
            id="accounts.E001",
        )
    ]
