from celery import shared_task

from kyc.services.expiry import documents_expiry_sweep, periodic_review_sweep


@shared_task(ignore_result=True)
def kyc_expiry_task() -> dict[str, int]:
    return documents_expiry_sweep()


@shared_task(ignore_result=True)
def kyc_periodic_review_task() -> int:
    return periodic_review_sweep()
