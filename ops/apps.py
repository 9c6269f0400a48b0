from django.apps import AppConfig


class OpsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from audit.evidence import register_evidence_part
        from ops import api_key_actions, approval_actions, signals  # noqa: F401 - registers the actions and receivers
        from ops.selectors import decisions_evidence_part

        register_evidence_part(decisions_evidence_part, order=90, about_client=False)  # the regulator's evidence pack
