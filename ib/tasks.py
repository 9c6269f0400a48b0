"""Work of the ib app after commit and on a schedule. Each task takes ids (or nothing) and calls a
service; each is safe to retry (the services are idempotent)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def commission_lines_post_task(*, run_id: int | None = None) -> int:
    """Post the lines of a commission run (or every unposted line) to the ledger."""
    from ib.services.money import commission_lines_post

    return commission_lines_post(run_id=run_id)


@shared_task(acks_late=True)
def commissions_release_due_task() -> int:
    """Daily: commissions whose hold period is over become available (and anything left unposted
    is posted first, so a run whose posting task was lost is caught up)."""
    from django.utils import timezone

    from ib.services.money import commission_lines_post, commissions_release_due

    commission_lines_post()
    return commissions_release_due(today=timezone.localdate())


@shared_task(ignore_result=True)
def deals_pull_task() -> dict[str, int]:
    """Every minute (beat): store and process what the trading platform closed since the last
    pull. A run that dies between storing a page and processing it leaves the stored batch for the
    next run to process first."""
    from audit.context import Actor, acting_as
    from ib.services.feed import deals_pull

    with acting_as(Actor.system("ib.deals_pull")):
        return deals_pull()


@shared_task(acks_late=True, ignore_result=True)
def commission_run_task(*, run_id: int) -> None:
    from ib.services.runs import commission_run_execute

    commission_run_execute(run_id=run_id)


@shared_task(ignore_result=True)
def commission_run_yesterday_task() -> int:
    from ib.services.runs import commission_run_yesterday

    return commission_run_yesterday().pk
