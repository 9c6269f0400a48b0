from __future__ import annotations

from celery import shared_task


@shared_task
def simpay_settle_task() -> int:
    """Demo only: SimPay processes pending payouts and calls back (a real PSP does this itself), and
    the simulated PSPs send again the payment callbacks the back office has not taken yet."""
    from sim import simpay

    return simpay.payouts_settle() + simpay.callbacks_deliver()
