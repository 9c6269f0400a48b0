from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Back office administration"
    site_title = "Back office admin"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.has_perm("ops.access_admin"))


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"
