"""Payment work after commit and on a schedule. Each task takes ids and calls a service; every
one is safe to retry (idempotency keys on the PSP and the platform)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction

from accounts.platform import PlatformError


def _platform_failed(model: str, pk: int, error: str) -> None:
    from ops.models import RiskLevel
    from ops.services.work_items import work_item_open
    from payments.models import Hold, JournalEntry

    with transaction.atomic():
        subject = (JournalEntry if model == "entry" else Hold).objects.get(pk=pk)
        work_item_open(
            queue="platform_sync_mismatch",
            subject=subject,
            title=f"Platform balance not updated for {model} {pk}: {error}"[:200],
            risk_level=RiskLevel.HIGH,
            details={"error": error},
        )


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(PlatformError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=False,
    max_retries=5,
)
def platform_balance_push_task(self: Any, *, entry_id: int) -> list[str]:
    from payments.services.transfers import platform_balance_push

    try:
        return platform_balance_push(entry_id=entry_id)
    except PlatformError as exc:
        if self.request.retries >= self.max_retries:
            _platform_failed("entry", entry_id, str(exc))
            return []
        raise


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(PlatformError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=False,
    max_retries=5,
)
def platform_hold_push_task(self: Any, *, hold_id: int) -> str:
    from payments.services.reconciliation import platform_hold_push

    try:
        return platform_hold_push(hold_id=hold_id)
    except PlatformError as exc:
        if self.request.retries >= self.max_retries:
            _platform_failed("hold", hold_id, str(exc))
            return ""
        raise


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=5)
def payout_send_task(self: Any, *, withdrawal_id: int) -> str:
    from payments.services.withdrawals import payout_send

    return payout_send(withdrawal_id=withdrawal_id)


@shared_task(bind=True, acks_late=True, max_retries=5)
def deposit_refund_send_task(self: Any, *, deposit_id: int) -> str:
    """A refusal is final (the same refund would be refused again): an exception at once. Anything
    else (the database, the network) is retried with backoff, then becomes the exception too."""
    from payments.providers import PspError
    from payments.services.deposits import deposit_refund_failed, deposit_refund_send

    try:
        return deposit_refund_send(deposit_id=deposit_id)
    except PspError as exc:
        deposit_refund_failed(deposit_id=deposit_id, error=str(exc))
        return ""
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            deposit_refund_failed(deposit_id=deposit_id, error=f"not sent after {self.max_retries} retries: {exc}")
            return ""
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc


@shared_task(bind=True, acks_late=True, max_retries=5)
def chargeback_response_send_task(self: Any, *, case_id: int) -> str:
    """Send a chargeback's response to the PSP. A refusal is final: an exception at once (the
    deadline is near); anything else is retried with backoff, then becomes the exception too."""
    from payments.providers import PspError
    from payments.services.chargebacks import chargeback_response_failed, chargeback_response_send

    try:
        return chargeback_response_send(case_id=case_id)
    except PspError as exc:
        chargeback_response_failed(case_id=case_id, error=str(exc))
        return ""
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            chargeback_response_failed(case_id=case_id, error=f"not sent after {self.max_retries} retries: {exc}")
            return ""
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc


@shared_task(ignore_result=True)
def deposit_refunds_resend_task() -> list[int]:
    from payments.services.deposits import deposit_refunds_resend

    return deposit_refunds_resend()


@shared_task(acks_late=True, ignore_result=True)
def inbound_events_drain_task(*, older_than_seconds: int | None = None) -> int:
    """Apply the PSP callbacks waiting in the inbox, in batches (see ``inbound_events_drain``); beat
    runs it every minute for callbacks left behind, and the webhook queues it in "queued" mode."""
    from datetime import timedelta

    from audit.context import Actor, acting_as
    from payments.models import Channel
    from payments.providers import get_provider
    from payments.services.webhooks import inbound_events_drain

    older_than = timedelta(seconds=older_than_seconds) if older_than_seconds else None
    provider = get_provider(Channel.CARD).name  # the PSP acts; its signature said so
    with acting_as(Actor.system(f"webhook:{provider}")):
        return inbound_events_drain(older_than=older_than)


@shared_task(acks_late=True)
def statement_match_task(*, import_id: int) -> dict[str, int]:
    from payments.services.bank import statement_match

    return statement_match(import_id=import_id)


@shared_task
def reconcile_task() -> dict[str, int]:
    from payments.services.reconciliation import reconcile_all

    return reconcile_all()
