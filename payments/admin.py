"""The payments app in the Django admin: FX rates (added by an admin; a rate is a fact of its time,
so it is never edited or deleted: a correction is a newer rate). Each addition is in the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.actions import AuditAction
from audit.services import audit_record
from payments.models import FxRate


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ["base", "quote", "rate", "as_of", "source"]
    list_filter = ["base", "quote", "source"]
    date_hierarchy = "as_of"

    def _configures(self, request: HttpRequest) -> bool:
        from payments.selectors import fx_rate_can_add

        return bool(fx_rate_can_add(request.user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._configures(request) or bool(request.user.has_perm("ops.access_admin"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._configures(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: FxRate, form: Any, change: bool) -> None:
        from django.db import transaction

        obj.base, obj.quote = obj.base.upper(), obj.quote.upper()
        with transaction.atomic():
            obj.save()
            audit_record(
                action=AuditAction.FX_RATE_ADDED,
                subject=obj,
                after={"pair": f"{obj.base}/{obj.quote}", "rate": str(obj.rate), "as_of": obj.as_of.isoformat()},
            )
