from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from ops.models import ApprovalRequest, Queue, User, WorkItem


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


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class QueueForm(forms.ModelForm):
    change_reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded in the audit trail.")

    class Meta:
        model = Queue
        fields = ["name", "sla_minutes", "roles", "escalation_target", "lead"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    """Admins tune SLAs, roles, escalation targets and leads; every change is audited."""

    form = QueueForm
    list_display = ["name", "code", "sla_minutes", "roles", "escalation_target", "lead"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # queues come from ops/queues.py through migrations

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("ops.manage_queues"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("ops.manage_queues") or request.user.has_perm("ops.view_all_queues"))

    def save_model(self, request: HttpRequest, obj: Queue, form: Any, change: bool) -> None:
        from ops.services.queues import queue_configure

        changes = {name: form.cleaned_data[name] for name in form.changed_data if name != "change_reason"}
        queue_configure(queue_id=obj.pk, changes=changes, reason=form.cleaned_data["change_reason"])


@admin.register(WorkItem)
class WorkItemAdmin(_ReadOnly):
    list_display = ["id", "title", "queue", "status", "owner", "due_at", "escalation_level"]
    list_filter = ["queue", "status"]
    search_fields = ["title"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("ops.view_all_queues"))


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(_ReadOnly):
    list_display = ["id", "summary", "action", "status", "maker_label", "created_at"]
    list_filter = ["status", "action"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("ops.view_audit_trail"))
