"""Net deposits read from the summed days (reporting.models.NetDepositDay) and from the postings made
since are the figures the postings alone give, whatever the filters; the ledger reconciles with
them exactly; a posting made after a refresh is in the figures at once, and a day summed before
its last posting was made is summed again at the next refresh."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from audit.context import Actor, acting_as
from payments.models import AccountKind, JournalEntry, Posting
from payments.services.ledger import ledger_reverse
from reporting.filters import ReportFilter, filters_from
from reporting.models import NetDepositDay, SummaryMark
from reporting.reports import report_build
from reporting.services import net_deposit_days_refresh
from tests.factories import card_deposit
from tests.reporting.world import world

pytestmark = pytest.mark.django_db

FILTERS = [{}, {"currency": "EUR"}, {"channel": "card"}, {"channel": "bank"}, {"region": "uk"},
           {"staff": "mgr"}, {"account_type": "pro"}]  # fmt: skip


def _net(**data: str) -> dict[str, Any]:
    """The payments report's net deposits: its table, and its trend charts' points."""
    bar = ReportFilter(data)
    assert bar.is_valid(), bar.form.errors
    report = report_build("payments", filters_from(bar))
    (table,) = [t for t in report.tables if t.testid == "net-deposits"]
    trends = [(c.title, c.series) for c in report.charts if c.title.startswith("Net deposits")]
    return {"table": table.rows, "trends": trends}


def _ledger_net() -> Decimal:
    """What the client wallets were credited, from the postings themselves."""
    wallets = Posting.objects.filter(account__kind__in=(AccountKind.CLIENT_WALLET, AccountKind.TRADING))
    return -sum((p.amount for p in wallets), Decimal(0))


def _reverse_deposit(amount: str) -> None:
    entry = JournalEntry.objects.filter(kind="deposit", postings__amount=Decimal(f"-{amount}")).get()
    with acting_as(Actor.system("test")), transaction.atomic():
        ledger_reverse(entry=entry, key=f"chargeback:{entry.pk}", memo="chargeback")


def test_good_summed_days_give_the_figures_of_the_postings_for_every_filter() -> None:
    world()
    _reverse_deposit("250.00")  # a chargeback: a reversal of a deposit counts against it
    before = {str(data): _net(**data) for data in map(dict, FILTERS)}
    assert before[str({})]["table"] == [["EUR", "1,400.00 EUR", "100.00 EUR", "1,300.00 EUR"]]
    assert before[str({"channel": "bank"})]["table"] == []

    tomorrow = timezone.localdate() + timedelta(days=1)
    assert net_deposit_days_refresh(today=tomorrow) == timezone.localdate()  # today summed too
    assert NetDepositDay.objects.exists()
    after = {str(data): _net(**data) for data in map(dict, FILTERS)}
    assert after == before
    assert _ledger_net() == Decimal("1300.00")  # the ledger's own sum: 1650 in, 250 reversed, 100 paid out


def test_good_a_posting_after_the_refresh_is_in_the_figures_at_once() -> None:
    w = world()
    net_deposit_days_refresh()  # up to yesterday: today's postings are read from the ledger
    assert SummaryMark.objects.get().through == timezone.localdate() - timedelta(days=1)
    card_deposit(w.de, "75.00")
    assert _net()["table"] == [["EUR", "1,725.00 EUR", "100.00 EUR", "1,625.00 EUR"]]


def test_good_a_day_summed_again_takes_in_a_posting_made_after_it_was_first_summed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world()
    monkeypatch.setattr("reporting.services.BATCH", 1)  # every row its own INSERT: none lost between batches
    tomorrow = timezone.localdate() + timedelta(days=1)
    net_deposit_days_refresh(today=tomorrow)
    rows = NetDepositDay.objects.count()
    assert rows == 2  # gb's and de's day (the withdrawal is gb's too)
    net_deposit_days_refresh(today=tomorrow)  # again: nothing counted twice
    assert NetDepositDay.objects.count() == rows
    assert _net()["table"] == [["EUR", "1,650.00 EUR", "100.00 EUR", "1,550.00 EUR"]]
    card_deposit(w.de, "75.00")  # today, already summed: as a transaction still open at the refresh
    assert _net()["table"] == [["EUR", "1,650.00 EUR", "100.00 EUR", "1,550.00 EUR"]]
    net_deposit_days_refresh(today=tomorrow)
    assert _net()["table"] == [["EUR", "1,725.00 EUR", "100.00 EUR", "1,625.00 EUR"]]


def test_good_beat_sums_the_days_every_hour_through_the_task() -> None:
    from celery.schedules import crontab
    from django.conf import settings

    from reporting.tasks import net_deposit_days_refresh_task

    entry = settings.CELERY_BEAT_SCHEDULE["net-deposit-days-refresh"]
    assert entry["task"] == net_deposit_days_refresh_task.name and entry["schedule"] == crontab(minute=5)
    world()
    net_deposit_days_refresh_task()  # as the worker runs it: the days up to yesterday
    assert SummaryMark.objects.get().through == timezone.localdate() - timedelta(days=1)
