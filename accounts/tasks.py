"""Platform work, after commit, with retries. Each task takes ids and calls a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from accounts.crm import CrmError
from accounts.platform import PlatformError
from accounts.services import trading_accounts as svc


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(PlatformError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=False,
    max_retries=5,
)
def trading_account_provision_task(self: Any, *, account_id: int) -> str | None:
    try:
        return svc.trading_account_provision(account_id=account_id).login
    except PlatformError as exc:
        if self.request.retries >= self.max_retries:
            svc.trading_account_provision_failed(account_id=account_id, error=str(exc))
            return None
        raise


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(PlatformError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=False,
    max_retries=5,
)
def trading_account_push_task(self: Any, *, account_id: int) -> str:
    try:
        return svc.trading_account_push(account_id=account_id).status
    except PlatformError as exc:
        if self.request.retries >= self.max_retries:
            from django.db import transaction

            from accounts.models import TradingAccount
            from ops.services.work_items import work_item_open

            account = TradingAccount.objects.select_related("client").get(pk=account_id)
            with transaction.atomic():
                work_item_open(
                    queue="platform_sync_mismatch",
                    subject=account,
                    title=f"Could not push status to the platform for {account.login}",
                    risk_level="high",
                    details={"error": str(exc)[:500]},
                )
            return "failed"
        raise


@shared_task(ignore_result=True)
def platform_sync_task() -> dict[str, int]:
    return svc.platform_sync()


@shared_task(ignore_result=True)
def retention_pseudonymise_task() -> int:
    """Daily (beat): pseudonymise the clients whose retention period is over."""
    from accounts.services.retention import clients_pseudonymise_due

    return clients_pseudonymise_due()


# --- CRM sync (accounts.services.crm*) ------------------------------------------------------------


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(CrmError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def crm_push_deliver_task(self: Any, *, client_id: int) -> str:
    """After commit: push the client's newest pending CrmPush. Out of retries, the push stays pending
    for beat's resend (crm_pushes_resend_task), which gives up after GIVE_UP_AFTER."""
    from accounts.services.crm import crm_push_deliver

    return crm_push_deliver(client_id=client_id)


@shared_task(ignore_result=True)
def crm_pushes_resend_task(older_than_seconds: int = 60) -> dict[str, int]:
    from datetime import timedelta

    from accounts.services.crm import crm_pushes_resend

    return crm_pushes_resend(older_than=timedelta(seconds=older_than_seconds))


@shared_task(acks_late=True)
def crm_inbound_process_task(*, event_pk: int) -> str:
    from accounts.services.crm_inbound import crm_inbound_process

    return crm_inbound_process(event_pk=event_pk).status


@shared_task(ignore_result=True)
def crm_inbound_drain_task(older_than_seconds: int = 60) -> int:
    from datetime import timedelta

    from accounts.services.crm_inbound import crm_inbound_drain

    return crm_inbound_drain(older_than=timedelta(seconds=older_than_seconds))


@shared_task(ignore_result=True)
def crm_poll_task() -> int:
    from accounts.services.crm_inbound import crm_poll

    return crm_poll()


@shared_task(ignore_result=True)
def crm_compare_task() -> dict[str, int]:
    """Nightly (beat): the CRM against the back office, a work item per disagreement."""
    from accounts.services.crm_compare import crm_compare

    return crm_compare()
