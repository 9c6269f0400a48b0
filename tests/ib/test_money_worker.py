"""The daily commission task in a real Celery worker: what the engine left unposted is posted,
and lines past their hold period become available; run again, it changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from ib.models import CommissionLine, LineStatus
from ib.services.money import partner_payables
from ib.tasks import commissions_release_due_task
from payments.services.ledger import ledger_verify
from tests.conftest import wait_for
from tests.factories import approved_client
from tests.ib.factories import tree
from tests.ib.lines import line
from tests.workers import Worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_good_daily_task_in_a_real_worker_posts_and_releases_once(tmp_path: Path) -> None:
    from backoffice.celery import app

    (partner,) = tree("WRK")
    c = approved_client(provision=False)
    today = timezone.localdate()
    due = line(partner, c, "11.00", available_on=today)
    later = line(partner, c, "4.00", available_on=today + timedelta(days=5))
    app.control.purge()
    worker = Worker("ib-money", tmp_path / "worker.log").wait_ready()
    try:
        commissions_release_due_task.delay()
        wait_for(lambda: CommissionLine.objects.filter(pk=due.pk, status=LineStatus.AVAILABLE).exists(), timeout=60)
        commissions_release_due_task.delay()
        wait_for(lambda: sum("succeeded" in x for x in worker.log_lines()) >= 2, timeout=60)
    finally:
        worker.stop()
    later.refresh_from_db()
    assert (later.status, later.entry is not None) == (LineStatus.PENDING, True)
    (payables,) = partner_payables(partner)
    assert (payables.pending, payables.available) == (Decimal("4.00"), Decimal("11.00"))
    assert payables.agree
    assert ledger_verify().breaks == []
