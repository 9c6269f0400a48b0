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
        from accounts.views import crm_panel, sign_ins_panel

        register_client_panel(crm_panel)
        register_client_panel(sign_ins_panel)
        from accounts.selectors import client_get_for
        from audit.evidence import register_evidence_part, register_evidence_subject

        register_evidence_subject(lambda actor, pk: client_get_for(actor, pk, for_write=False))
        from accounts.selectors import client_evidence_part

        register_evidence_part(client_evidence_part, order=10)  # the regulator's evidence pack
