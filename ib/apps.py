from django.apps import AppConfig


class IbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ib"
    verbose_name = "Introducing brokers"

    def ready(self) -> None:
        from accounts.panels import register_client_panel
        from accounts.services.clients import register_registration_hook

        # registering: the change of partner; plan changes, plan assignment and moves in the tree; partners as API key owners
        from ib import api_key_owner, approval_actions, plan_actions  # noqa: F401
        from ib.services.partners import attribution_on_registration
        from ib.views import partner_panel

        register_registration_hook(attribution_on_registration)
        register_client_panel(partner_panel)

        from ib.services.money import deposit_reversed_hook
        from payments.hooks import register_deposit_reversal_hook

        register_deposit_reversal_hook(deposit_reversed_hook)  # a reversed deposit claws back its CPA

        from ib.services.money import deposit_reinstated_hook
        from payments.hooks import register_deposit_reinstated_hook

        register_deposit_reinstated_hook(deposit_reinstated_hook)  # a won chargeback restores the CPA

        from ib.selectors import deals_after_deposit
        from payments.hooks import register_evidence_section

        register_evidence_section(deals_after_deposit)  # a chargeback's evidence: the trading that followed

        from ib.selectors import partner_records_for_deposit
        from payments.hooks import register_case_record_section

        # a chargeback case's own records: the referring partner, its plan version, its commission lines
        register_case_record_section(partner_records_for_deposit)

        from ib.services.runs import register_run_finished_hook
        from ib.tasks import commission_lines_post_task

        def post_the_run(run_id: int) -> None:
            """A finished run's lines go to the ledger (the daily release task sweeps any left)."""
            commission_lines_post_task.delay(run_id=run_id)

        register_run_finished_hook(post_the_run)
