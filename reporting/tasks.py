from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def report_snapshots_task(*, frequency: str) -> list[int]:
    from reporting.snapshots import snapshots_run

    return snapshots_run(frequency=frequency)


@shared_task(autoretry_for=(OSError,), retry_backoff=5, max_retries=5)
def snapshot_send_task(*, snapshot_id: int) -> int:
    from reporting.snapshots import snapshot_send

    return snapshot_send(snapshot_id=snapshot_id)


@shared_task(ignore_result=True)
def net_deposit_days_refresh_task() -> None:
    from reporting.services import net_deposit_days_refresh

    net_deposit_days_refresh()
