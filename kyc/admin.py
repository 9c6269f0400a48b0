from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from kyc.models import RiskFactor
from kyc.services.risk import RISK_FACTOR_CONFIGURABLE


class RiskFactorForm(forms.ModelForm):
    change_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded in the audit trail.")

    class Meta:
        model = RiskFactor
        fields = list(RISK_FACTOR_CONFIGURABLE)


@admin.register(RiskFactor)
class RiskFactorAdmin(admin.ModelAdmin):
    """Admins tune the risk score's factors; every change goes through the audited service.
    Factors are added and removed with the code that computes them, not here."""

    form = RiskFactorForm
    list_display = ["label", "code", "points", "forces_edd", "is_active"]
    readonly_fields = ["code"]

    def _configurer(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("ops.manage_configuration"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._configurer(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        # The admin lists an app only for users with a permission labelled "kyc.*"; who may tune
        # the factors is decided by ops roles.
        return self._configurer(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._configurer(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retire a factor with is_active instead

    def save_model(self, request: HttpRequest, obj: RiskFactor, form: Any, change: bool) -> None:
        from kyc.services.risk import risk_factor_configure

        changes = {n: form.cleaned_data[n] for n in form.changed_data if n != "change_reason"}
        saved = risk_factor_configure(risk_factor_id=obj.pk, changes=changes, reason=form.cleaned_data["change_reason"])
        obj.refresh_from_db()
        obj.pk = saved.pk
