from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = "Payments and ledger"

    def ready(self) -> None:
        from accounts.panels import register_client_panel
        from payments import approval_actions  # noqa: F401 - registers the maker-checker actions
        from payments.views import payments_panel

        register_client_panel(payments_panel)
        from accounts.services.crm import register_crm_field
        from payments.selectors import client_wallet_balances

        register_crm_field("balances", client_wallet_balances)
        from audit.evidence import register_evidence_part
        from payments.selectors import client_evidence_part

        register_evidence_part(client_evidence_part, order=30)  # the regulator's evidence pack
        from audit.evidence import register_evidence_case
        from payments.selectors import chargeback_evidence_case, chargeback_get_for

        register_evidence_case(  # a chargeback's own pack
            "chargebacks",
            load=lambda actor, pk: chargeback_get_for(actor, pk, for_write=False),
            describe=chargeback_evidence_case,
        )
