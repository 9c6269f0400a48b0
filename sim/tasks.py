from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task
def simpay_settle_task() -> int:
    """Demo only: SimPay processes pending payouts and calls back (a real PSP does this itself), and
    the simulated PSPs send again the payment callbacks the back office has not taken yet."""
    from sim import simpay

    return simpay.payouts_settle() + simpay.callbacks_deliver()


@shared_task(bind=True, acks_late=True, max_retries=8)
def simcrm_deliver_task(self: Any, *, notification_id: int) -> int:
    """The simulated CRM sends a change notification (it retries a refused or unanswered one)."""
    import urllib.error

    from sim import crm

    try:
        status = crm.notification_deliver(notification_id=notification_id)
    except urllib.error.URLError as exc:
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from None
    if status >= 300 and status != 400:
        raise self.retry(countdown=2 ** (self.request.retries + 1))
    return status


@shared_task(bind=True, acks_late=True, max_retries=8)
def simidv_deliver_task(self: Any, *, notification_id: int) -> int:
    """The simulated identity provider sends a check's signed result (it retries a refused or
    unanswered one)."""
    import urllib.error

    from sim import idv

    try:
        status = idv.notification_deliver(notification_id=notification_id)
    except urllib.error.URLError as exc:
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from None
    if status >= 300 and status != 400:
        raise self.retry(countdown=2 ** (self.request.retries + 1))
    return status


@shared_task(bind=True, acks_late=True, max_retries=8)
def simsms_deliver_task(self: Any, *, callback_id: int) -> int:
    """The simulated SMS provider sends a callback (it retries a refused or unanswered one)."""
    import urllib.error

    from sim import sms

    try:
        status = sms.callback_deliver(callback_id=callback_id)
    except urllib.error.URLError as exc:
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from None
    if status >= 300 and status != 400:
        raise self.retry(countdown=2 ** (self.request.retries + 1))
    return status
