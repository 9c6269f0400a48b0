"""The ib app in the Django admin: symbol groups and symbols (configuration, kept in their history),
and the trade feed's batches and deals (read-only: they change only through the feed)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from ib.models import Deal, DealBatch, Symbol, SymbolGroup


def _configures(request: HttpRequest) -> bool:
    return bool(request.user.has_perm("ops.manage_configuration"))


def _browses(request: HttpRequest) -> bool:
    return _configures(request) or bool(request.user.has_perm("ops.access_admin"))


class _Configuration(SimpleHistoryAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _browses(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _browses(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _configures(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _configures(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # plans' rules and past commissions refer to them


class SymbolInline(admin.TabularInline):
    model = Symbol
    extra = 0

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SymbolGroup)
class SymbolGroupAdmin(_Configuration):
    list_display = ["name", "code"]
    inlines = [SymbolInline]


@admin.register(Symbol)
class SymbolAdmin(_Configuration):
    list_display = ["name", "group"]
    list_filter = ["group"]
    search_fields = ["name"]


class _ReadOnly(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _browses(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _browses(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DealBatch)
class DealBatchAdmin(_ReadOnly):
    list_display = ["id", "source", "filename", "received_at", "rows_total", "rows_new", "rows_duplicate",
                    "rows_rejected", "processed_at"]  # fmt: skip
    list_filter = ["source"]
    search_fields = ["filename", "sha256"]


@admin.register(Deal)
class DealAdmin(_ReadOnly):
    list_display = ["deal_id", "login", "symbol", "side", "lots", "closed_at", "spread", "commission", "currency"]
    list_filter = ["symbol", "side"]
    search_fields = ["deal_id", "login"]
    raw_id_fields = ["trading_account", "client", "batch"]
    list_select_related = ["batch"]
    show_full_result_count = False
