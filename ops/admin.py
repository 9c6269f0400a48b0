from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from ops.models import User


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin):
    """Read-only: staff users and roles change through the audited services (manage.py staff_*)."""

    list_display = ["username", "email", "is_active", "last_login"]
    list_filter = ["is_active", "groups"]
    search_fields = ["username", "email"]
    exclude = ["password", "user_permissions"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
