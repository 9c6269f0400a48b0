from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Client accounts"

    def ready(self) -> None:
        from accounts import approval_actions  # noqa: F401 - registers the maker-checker actions
        from accounts.services import retention  # noqa: F401 - registers the pseudonymisable fields
