from django.apps import AppConfig


class IbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ib"
    verbose_name = "Introducing brokers"

    def ready(self) -> None:
        from accounts.panels import register_client_panel
        from accounts.services.clients import register_registration_hook
        from ib import api_key_owner, approval_actions  # noqa: F401 - registers the change of partner, key owners
        from ib.services.partners import attribution_on_registration
        from ib.views import partner_panel

        register_registration_hook(attribution_on_registration)
        register_client_panel(partner_panel)
