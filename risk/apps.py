from django.apps import AppConfig


class RiskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "risk"
    verbose_name = "Risk and monitoring"

    def ready(self) -> None:
        from risk import approval_actions  # noqa: F401 - registers the maker-checker actions
