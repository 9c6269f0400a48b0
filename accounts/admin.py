from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.models import AccountType


class AccountTypeForm(forms.ModelForm):
    change_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded in the audit trail.")

    class Meta:
        model = AccountType
        fields = [
            "code", "name", "currencies", "default_leverage", "max_leverage", "platform_group", "min_deposit",
            "swap_free", "corporate_only", "is_active",
        ]  # fmt: skip


@admin.register(AccountType)
class AccountTypeAdmin(admin.ModelAdmin):
    """Admins configure the account types; every change goes through the audited service."""

    form = AccountTypeForm
    list_display = [
        "name",
        "code",
        "currencies",
        "default_leverage",
        "max_leverage",
        "platform_group",
        "min_deposit",
        "is_active",
    ]

    def _configurer(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("ops.manage_configuration"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._configurer(request) or bool(request.user.has_perm("ops.view_client_status"))

    def has_module_permission(self, request: HttpRequest) -> bool:
        # The admin lists an app (and answers its /admin/accounts/ page) only for users with a
        # permission labelled "accounts.*"; who may see account types is decided by ops roles.
        return self.has_view_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._configurer(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._configurer(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retire a type with is_active instead: clients and accounts refer to it

    def save_model(self, request: HttpRequest, obj: AccountType, form: Any, change: bool) -> None:
        from accounts.services.account_types import account_type_configure

        names = form.changed_data if change else list(form.cleaned_data)
        changes = {n: form.cleaned_data[n] for n in names if n != "change_reason"}
        saved = account_type_configure(
            account_type_id=obj.pk if change else None, changes=changes, reason=form.cleaned_data["change_reason"]
        )
        obj.pk = saved.pk
