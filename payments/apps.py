from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = "Payments and ledger"

    def ready(self) -> None:
        from payments import approval_actions  # noqa: F401 - registers the maker-checker actions
