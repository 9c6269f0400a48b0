"""Scheduled and deferred work of the ib app. Each task takes ids (or nothing) and calls a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def deals_pull_task() -> dict[str, int]:
    """Every minute (beat): store and process what the trading platform closed since the last
    pull. A run that dies between storing a page and processing it leaves the stored batch for the
    next run to process first."""
    from audit.context import Actor, acting_as
    from ib.services.feed import deals_pull

    with acting_as(Actor.system("ib.deals_pull")):
        return deals_pull()
