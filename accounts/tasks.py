"""Platform work, after commit, with retries. Each task takes ids and calls a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

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
