from celery import shared_task


@shared_task(ignore_result=True)
def idempotency_keys_purge_task() -> int:
    from backoffice.idempotency import idempotency_keys_purge

    return idempotency_keys_purge()
