from django.apps import AppConfig


class KycConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kyc"
    verbose_name = "KYC and AML"

    def ready(self) -> None:
        from accounts.panels import register_client_panel
        from accounts.services.clients import register_transition_guard
        from kyc import approval_actions  # noqa: F401 - registers the EDD approval
        from kyc.services.risk import approval_guard
        from kyc.views import kyc_panel

        register_client_panel(kyc_panel)
        register_transition_guard(approval_guard)
        from accounts.services.clients import register_details_hook
        from kyc.services.screening import rescreen_on_name_change

        register_details_hook(rescreen_on_name_change)
        from accounts.services.retention import register_pseudonymise_hook
        from kyc.services.retention import documents_pseudonymise

        register_pseudonymise_hook(documents_pseudonymise)
        from accounts.services.crm import register_crm_field
        from kyc.selectors import kyc_status

        register_crm_field("kyc_status", kyc_status)
        from audit.evidence import register_evidence_part
        from kyc.selectors import documents_evidence_part

        register_evidence_part(documents_evidence_part, order=20)  # the regulator's evidence pack
