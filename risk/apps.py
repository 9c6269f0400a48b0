from django.apps import AppConfig


class RiskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "risk"
    verbose_name = "Risk and monitoring"

    def ready(self) -> None:
        from audit.evidence import register_evidence_case
        from risk import approval_actions  # noqa: F401 - registers the maker-checker actions
        from risk.selectors import alert_evidence_case, alert_get_for, sar_evidence_case, sar_get_for

        # their own evidence packs (``/audit/evidence/<kind>/<id>.zip``)
        register_evidence_case("risk-alerts", load=alert_get_for, describe=alert_evidence_case)
        register_evidence_case("sars", load=sar_get_for, describe=sar_evidence_case)
