from __future__ import annotations

from celery import shared_task


@shared_task
def simpay_settle_task() -> int:
    """Demo only: SimPay processes pending payouts and calls back (a real PSP does this itself)."""
    from sim import simpay

    return simpay.payouts_settle()
