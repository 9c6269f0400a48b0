"""Work of the risk app on a schedule and on demand. Each task takes ids (or nothing) and calls a
service; each is safe to retry (an alert is raised once per rule and key)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def rules_evaluate_task() -> dict[str, int]:
    """Every five minutes (beat): every rule in force over the new activity."""
    from risk.services import rules_evaluate_all

    return rules_evaluate_all()


@shared_task(ignore_result=True)
def rule_evaluate_task(*, rule_id: int, days: int = 1) -> int:
    """On demand (the rule's page): one rule over the last ``days``."""
    from datetime import timedelta

    from django.utils import timezone

    from risk.services import rule_evaluate

    now = timezone.now()
    return len(rule_evaluate(rule_id=rule_id, start=now - timedelta(days=days), end=now))


@shared_task(ignore_result=True)
def exposure_check_task() -> int:
    """Every five minutes (beat): the platform's open positions, its symbols and prices, then the
    exposure limits (in lots and in notional)."""
    from audit.context import Actor, acting_as
    from risk.services import exposure_check, instruments_refresh, positions_refresh

    with acting_as(Actor.system("risk.exposure_check")):
        positions_refresh()
        instruments_refresh()
        return len(exposure_check())


@shared_task(ignore_result=True)
def fx_gaps_close_task() -> int:
    """Every fifteen minutes (beat): close the gaps a rate now covers (a rate added in the admin;
    an approved proposal closes its gaps at once) and run their rules again."""
    from audit.context import Actor, acting_as
    from risk.services import fx_gaps_close_covered

    with acting_as(Actor.system("risk.fx_gaps_close")):
        return fx_gaps_close_covered()
