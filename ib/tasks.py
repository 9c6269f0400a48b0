"""Commission work on Celery: a run's body, and the nightly run of the day before. Tasks take
ids and call a service; a run's message is acknowledged late, so a worker killed midway hands it
to the next, which runs it again (its finished chunks are not written twice)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def commission_run_task(*, run_id: int) -> None:
    from ib.services.runs import commission_run_execute

    commission_run_execute(run_id=run_id)


@shared_task(ignore_result=True)
def commission_run_yesterday_task() -> int:
    from ib.services.runs import commission_run_yesterday

    return commission_run_yesterday().pk
