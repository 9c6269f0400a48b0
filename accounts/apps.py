from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Client accounts"

    def ready(self) -> None:
        from accounts import (
            approval_actions,  # noqa: F401 - registers the maker-checker actions
            checks,  # noqa: F401 - registers the CRM allow-list check
        )
        from accounts.panels import register_client_panel
        from accounts.services import retention  # noqa: F401 - registers the pseudonymisable fields
        from accounts.views import crm_panel

        register_client_panel(crm_panel)
