from typing import Any

from celery import shared_task

from kyc.services.expiry import documents_expiry_sweep, periodic_review_sweep


@shared_task(ignore_result=True)
def kyc_expiry_task() -> dict[str, int]:
    return documents_expiry_sweep()


@shared_task(ignore_result=True)
def kyc_periodic_review_task() -> int:
    return periodic_review_sweep()


@shared_task(ignore_result=True, acks_late=True)
def rescreen_all_task(*, version_id: int) -> dict[str, int]:
    """Every client against a new list version (after each import)."""
    from kyc.services.screening import clients_rescreen

    return clients_rescreen(version_id=version_id)  # no fork inside a worker: its own threads could deadlock a child


@shared_task(ignore_result=True)
def client_screen_task(*, client_id: int) -> int:
    from kyc.services.screening import client_screen

    return client_screen(client_id=client_id)


@shared_task(ignore_result=True, acks_late=True)
def sanctions_import_task(*, path: str, name: str) -> int:
    """Import an uploaded list file (kept under KYC_STORAGE_ROOT) as a new version."""
    from pathlib import Path

    from kyc.models import KycStorage
    from kyc.services.screening import import_file

    rows = 0
    for progress in import_file(Path(KycStorage().path(path)), name):
        rows = progress.rows
    return rows


# --- identity verification (kyc.services.identity) ----------------------------------------------


@shared_task(bind=True, acks_late=True, max_retries=None)
def identity_check_submit_task(self: Any, *, check_id: int) -> str:
    """After commit: send the check to the provider. A refusal or a timeout is retried with
    exponential backoff (IDENTITY_CHECK_RETRY_BASE_SECONDS, doubling, at most an hour apart);
    after IDENTITY_CHECK_MAX_RETRIES the check lands in the "check not completed" queue."""
    from django.conf import settings

    from kyc.identity import IdentityProviderError
    from kyc.services.identity import identity_check_give_up, identity_check_submit

    try:
        return identity_check_submit(check_id=check_id).status
    except IdentityProviderError as exc:
        if self.request.retries >= settings.IDENTITY_CHECK_MAX_RETRIES:
            return identity_check_give_up(check_id=check_id, error=str(exc)).status
        countdown = min(3600, settings.IDENTITY_CHECK_RETRY_BASE_SECONDS * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from None


@shared_task(acks_late=True)
def identity_result_process_task(*, result_pk: int) -> str:
    from kyc.services.identity import identity_result_process

    return identity_result_process(result_pk=result_pk).status


@shared_task(ignore_result=True)
def identity_results_drain_task(older_than_seconds: int = 60) -> int:
    from datetime import timedelta

    from kyc.services.identity import identity_results_drain

    return identity_results_drain(older_than=timedelta(seconds=older_than_seconds))
