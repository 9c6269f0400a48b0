from django.apps import AppConfig


class KycConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kyc"
    verbose_name = "KYC and AML"

    def ready(self) -> None:
        from accounts.panels import register_client_panel
        from kyc.views import kyc_panel

        register_client_panel(kyc_panel)
