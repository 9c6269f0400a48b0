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
