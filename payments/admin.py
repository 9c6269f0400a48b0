"""The payments app in the Django admin: FX rates (added by an admin; a rate is a fact of its time,
so it is never edited or deleted: a correction is a newer rate). Each addition goes through
``payments.services.fx.fx_rate_add``, checked by it and in the audit trail. Finance and risk
officers propose a missing rate from its gap's page instead (another finance officer approves)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from payments.errors import PaymentError
from payments.models import FxRate
from payments.services.fx import fx_rate_add, fx_rate_clean


class FxRateAdminForm(forms.ModelForm):
    class Meta:
        model = FxRate
        fields = ["base", "quote", "rate", "as_of", "source"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                data["base"], data["quote"], data["rate"] = fx_rate_clean(
                    base=data["base"], quote=data["quote"], rate=data["rate"], as_of=data["as_of"]
                )
            except PaymentError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    form = FxRateAdminForm
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
        saved = fx_rate_add(base=obj.base, quote=obj.quote, rate=obj.rate, as_of=obj.as_of, source=obj.source)
        obj.pk = saved.pk
