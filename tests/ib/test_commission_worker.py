"""A commission run whose worker is killed with ``kill -9`` in the middle, then run again by the
next worker: every line once, and the same totals as a run that was never interrupted.

How the run is caught in the middle, without a test-only path in the task: chunks hold one client
each (``COMMISSION_RUN_CHUNK_CLIENTS=1``), and the test holds a row lock on the third client, which
the third chunk's INSERT needs (its foreign key check takes a KEY SHARE lock on the client's row).
When Postgres shows the worker waiting for that lock, two chunks are committed and the third is
not: the worker is killed there. Its message was not acknowledged (``acks_late``), so the next
worker runs the task again after the visibility timeout: the two finished chunks add nothing, the
rest is written, the statements are issued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Client
from backoffice.celery import app
from ib.models import CommissionLine, CommissionRun, RunStatus, Statement
from ib.services.commissions import commission_preview
from ib.tasks import commission_run_task
from tests.backoffice.test_worker_faults import Relay, _waiting_for_a_lock, row_held
from tests.conftest import wait_for
from tests.factories import approved_client
from tests.ib.factories import deal, follow, plan, tree
from tests.ib.test_commission_engine import attribute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

DAY = date(2026, 10, 14)


@pytest.fixture
def relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    """The doomed worker and its successor, taking one client per chunk."""
    monkeypatch.setenv("COMMISSION_RUN_CHUNK_CLIENTS", "1")
    app.control.purge()
    workers = Relay(tmp_path)
    yield workers
    workers.stop()
    app.control.purge()


def test_run_killed_mid_run_and_rerun_equals_an_uninterrupted_run(relay: Relay) -> None:
    top, middle, bottom = tree("TOP", "MID", "BOT")
    version = plan(valid_from=date(2025, 1, 1), rules=[
        {"kind": "per_lot", "group": "fx", "rate": "8", "tier_shares": ["50", "30", "20"], "cap_per_day": "30",
         "client_rebate_pct": "10"}])  # fmt: skip
    follow(bottom, version, valid_from=date(2025, 1, 1))
    follow(middle, version, valid_from=date(2025, 1, 1))
    people = [approved_client(currency="EUR") for _ in range(5)]
    for i, person in enumerate(people):
        attribute(person, bottom if i % 2 == 0 else middle)
        for hour in range(8, 12):
            closed = timezone.make_aware(datetime(DAY.year, DAY.month, DAY.day, hour, 7))
            deal(person, lots=f"{i + 1}.{hour:02d}", closed_at=closed)
    # what an uninterrupted run pays: the run's own statement, previewed (nothing written)
    rules = [{"kind": "per_lot", "symbol_group": "fx", "rate": "8", "tier_shares": ["50", "30", "20"],
              "cap_per_day": "30", "client_rebate_pct": "10"}]  # fmt: skip
    expected = commission_preview(plan=version.plan, rules=rules, start=DAY, end=DAY)
    assert expected.total > 0 and set(expected.by_partner) == {top.pk, middle.pk, bottom.pk}

    # made here rather than by commission_run_start, whose task (queued on commit) the doomed worker,
    # already up, could take before the test holds its lock: the test queues the task itself
    run = CommissionRun.objects.create(period_start=DAY, period_end=DAY, started_by="finance")
    third = sorted(Client.objects.filter(deals__isnull=False).distinct().values_list("pk", flat=True))[2]

    def caught_mid_run() -> bool:
        progress = CommissionRun.objects.get(pk=run.pk)
        return _waiting_for_a_lock() and progress.progress_done == 2

    def start() -> object:
        result = commission_run_task.delay(run_id=run.pk)
        wait_for(caught_mid_run, timeout=30)
        return result

    relay.kill_mid_task(row_held(Client, third), start)
    wait_for(lambda: CommissionRun.objects.get(pk=run.pk).status == RunStatus.DONE, timeout=60)

    run.refresh_from_db()
    lines = CommissionLine.objects.filter(run=run)
    assert run.lines_created == lines.count() == CommissionLine.objects.count()
    with connection.cursor() as cursor:  # no line twice: one per deal, level and version
        cursor.execute(
            "SELECT count(*) FROM (SELECT deal_id, level, plan_version_id FROM ib_commissionline"
            " GROUP BY 1, 2, 3 HAVING count(*) > 1) twice"
        )
        assert cursor.fetchone() == (0,)
    paid: dict[int, Decimal] = {}
    rebates = Decimal("0")
    for line in lines:
        if line.partner_id is None:
            rebates += line.amount
        else:
            paid[line.partner_id] = paid.get(line.partner_id, Decimal("0")) + line.amount
    assert paid == expected.by_partner
    assert rebates == expected.rebates
    assert sum(paid.values(), rebates) == expected.total
    statements = {s.partner_id: s.total for s in Statement.objects.filter(period_start=DAY, period_end=DAY)}
    assert statements == expected.by_partner
