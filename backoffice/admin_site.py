from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

from ops.permissions import ALLOWED, Decision, deny

ADMIN_NOT_ALLOWED = "Only administrators use the Django admin."


def admin_can_use(actor: Any) -> Decision:
    """The Django admin (configuration; read-only views of staff, audit, queues)."""
    if actor.is_active and actor.has_perm("ops.access_admin"):
        return ALLOWED
    return deny(ADMIN_NOT_ALLOWED)


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Back office administration"
    site_title = "Back office admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return bool(admin_can_use(request.user))


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"
