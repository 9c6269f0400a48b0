"""The trade feed: batches stored before they are processed, processed once, every bad row refused
with its reason (nothing of it stored, one work item per batch), duplicates without effect, two
batches racing over the same deals, the minute's pull from the platform (through a real worker),
and the import_deals command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.models import TradingAccount
from accounts.platform import PlatformError
from audit.actions import AuditAction
from audit.models import AuditEvent
from ib import errors
from ib.errors import DealFeedError
from ib.models import Deal, DealBatch, FeedCursor, FeedSource
from ib.services.feed import (
    CSV_COLUMNS,
    FEED_QUEUE,
    deal_batch_process,
    deal_batch_receive,
    deals_pull,
    deals_pull_page,
)
from ib.tasks import deals_pull_task
from ops.models import WorkItem
from sim.models import SimPlatformDeal
from sim.platform import SimulatedPlatform
from sim.trading import simulate_trading
from tests.conftest import ROOT, wait_for, worker_env
from tests.factories import approved_client
from tests.factories import client as make_client

pytestmark = pytest.mark.django_db

CLOSE = datetime(2026, 11, 2, 14, 5, tzinfo=UTC)
_logins = iter(range(700_001, 800_000))


def account(currency: str = "EUR") -> TradingAccount:
    """A client's trading account with a login (the platform side is not needed to import a file)."""
    c = make_client(base_currency=currency)
    return TradingAccount.objects.create(
        client=c, account_type=c.account_type, currency=currency, leverage=100, platform_group="real\\standard",
        login=str(next(_logins)),
    )  # fmt: skip


def row(acct: TradingAccount, deal_id: str, **changes: str) -> dict[str, str]:
    values = {
        "deal_id": deal_id, "login": acct.login or "", "symbol": "EURUSD", "side": "buy", "lots": "0.50",
        "open_time": (CLOSE - timedelta(minutes=30)).isoformat(), "close_time": CLOSE.isoformat(),
        "spread": "3.50", "commission": "0.00", "swap": "0.00", "profit": "-12.40", "currency": acct.currency,
    }  # fmt: skip
    return values | changes


def csv_text(*rows: dict[str, str], columns: tuple[str, ...] = CSV_COLUMNS) -> str:
    lines = [",".join(columns)] + [",".join(r.get(c, "") for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def imported(*rows: dict[str, str]) -> DealBatch:
    batch = deal_batch_receive(source=FeedSource.CSV, raw=csv_text(*rows), filename="deals.csv", received_by="tests")
    return deal_batch_process(batch_id=batch.pk)


def feed_items(batch: DealBatch) -> list[WorkItem]:
    return list(
        WorkItem.objects.filter(
            queue__code=FEED_QUEUE, subject_type=ContentType.objects.get_for_model(DealBatch), subject_id=str(batch.pk)
        )
    )


# --- good input ----------------------------------------------------------------------------------


def test_good_rows_are_stored_as_deals_of_the_accounts_client() -> None:
    acct = account()
    batch = imported(row(acct, "D1"), row(acct, "D2", side="SELL", lots="2", symbol="xauusd", swap="-1.5"))
    assert (batch.rows_total, batch.rows_new, batch.rows_duplicate, batch.rows_rejected) == (2, 2, 0, 0)
    assert batch.processed_at is not None and batch.rejections == []
    d2 = Deal.objects.get(deal_id="D2")
    assert (d2.client_id, d2.trading_account_id, d2.batch_id) == (acct.client_id, acct.pk, batch.pk)
    assert (d2.symbol, d2.side, d2.lots, d2.swap, d2.profit) == (
        "XAUUSD", "sell", Decimal("2.00"), Decimal("-1.50"), Decimal("-12.40"),
    )  # fmt: skip
    assert (d2.opened_at, d2.closed_at) == (CLOSE - timedelta(minutes=30), CLOSE)
    assert feed_items(batch) == []


def test_good_the_batch_is_stored_before_it_is_processed() -> None:
    acct = account()
    text = csv_text(row(acct, "D1"))
    batch = deal_batch_receive(source=FeedSource.CSV, raw=text.encode(), filename="deals.csv", received_by="tests")
    assert batch.raw == text and batch.processed_at is None and batch.rows_total == 1
    assert not Deal.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.DEAL_BATCH_RECEIVED, subject_id=str(batch.pk)).count() == 1


def test_good_processing_a_batch_twice_has_one_effect() -> None:
    acct = account()
    batch = imported(row(acct, "D1"), row(acct, "D2", lots="0"))
    again = deal_batch_process(batch_id=batch.pk)
    assert (again.rows_new, again.rows_duplicate, again.rows_rejected) == (1, 0, 1)
    assert Deal.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.DEAL_BATCH_PROCESSED, subject_id=str(batch.pk)).count() == 1
    assert len(feed_items(batch)) == 1


def test_good_the_same_deal_again_is_a_duplicate_without_effect() -> None:
    acct = account()
    first = imported(row(acct, "D1"), row(acct, "D2"))
    second = imported(row(acct, "D2"), row(acct, "D3"), row(acct, "D3"))
    assert (second.rows_new, second.rows_duplicate, second.rows_rejected) == (1, 2, 0)
    assert Deal.objects.get(deal_id="D2").batch_id == first.pk
    assert Deal.objects.count() == 3
    assert feed_items(second) == []


def test_good_times_without_offset_are_utc_and_other_offsets_are_converted() -> None:
    acct = account()
    imported(row(acct, "D1", open_time="2026-11-02 13:00:00", close_time="2026-11-02T16:05:00+02:00"))
    deal = Deal.objects.get(deal_id="D1")
    assert (deal.opened_at, deal.closed_at) == (datetime(2026, 11, 2, 13, 0, tzinfo=UTC), CLOSE)


# --- bad input: one row refused, nothing of it stored, a work item ----------------------------------


BAD_ROWS = [
    ("unknown_login", {"login": "424242"}, errors.ROW_UNKNOWN_LOGIN.format(login="424242")),
    ("zero_lots", {"lots": "0"}, errors.ROW_LOTS_NOT_POSITIVE.format(value="0")),
    ("negative_lots", {"lots": "-1.00"}, errors.ROW_LOTS_NOT_POSITIVE.format(value="-1.00")),
    (
        "close_before_open",
        {"open_time": "2026-11-02T15:00:00Z", "close_time": "2026-11-02T14:00:00Z"},
        errors.ROW_CLOSE_BEFORE_OPEN.format(closed="2026-11-02T14:00:00Z", opened="2026-11-02T15:00:00Z"),
    ),
    ("lots_not_a_number", {"lots": "one"}, errors.ROW_NOT_A_NUMBER.format(field="lots", value="one")),
    ("profit_not_a_number", {"profit": "12 EUR"}, errors.ROW_NOT_A_NUMBER.format(field="profit", value="12 EUR")),
    ("too_many_decimals", {"spread": "1.005"}, errors.ROW_TOO_MANY_DECIMALS.format(field="spread", value="1.005")),
    ("not_finite", {"swap": "NaN"}, errors.ROW_NOT_A_NUMBER.format(field="swap", value="NaN")),
    ("too_large", {"profit": "1e20"}, errors.ROW_TOO_LARGE.format(field="profit", value="1e20")),
    ("bad_date", {"close_time": "02/11/2026"}, errors.ROW_NOT_A_TIME.format(field="close_time", value="02/11/2026")),
    ("impossible_date", {"open_time": "2026-02-30T10:00:00Z"},
     errors.ROW_NOT_A_TIME.format(field="open_time", value="2026-02-30T10:00:00Z")),
    ("missing_login", {"login": ""}, errors.ROW_MISSING.format(field="login")),
    ("bad_side", {"side": "hold"}, errors.ROW_BAD_SIDE.format(value="hold")),
    ("negative_spread", {"spread": "-1.00"}, errors.ROW_NEGATIVE.format(field="spread", value="-1.00")),
    ("negative_commission", {"commission": "-7"}, errors.ROW_NEGATIVE.format(field="commission", value="-7")),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "error"), [b[1:] for b in BAD_ROWS], ids=[b[0] for b in BAD_ROWS])
def test_bad_row_is_refused_with_its_reason_and_a_work_item(changes: dict[str, str], error: str) -> None:
    acct = account()
    batch = imported(row(acct, "GOOD1"), row(acct, "BAD1", **changes), row(acct, "GOOD2"))
    assert (batch.rows_total, batch.rows_new, batch.rows_rejected) == (3, 2, 1)
    assert batch.rejections == [{"row": 3, "deal_id": "BAD1", "error": error}]
    assert sorted(Deal.objects.values_list("deal_id", flat=True)) == ["GOOD1", "GOOD2"]
    (item,) = feed_items(batch)
    assert item.subject == batch and item.status == "open"
    assert f"batch #{batch.pk}" in item.title
    assert item.details["reasons"] == [f"row 3: {error}"]


def test_bad_currency_other_than_the_accounts_is_refused() -> None:
    acct = account("USD")
    batch = imported(row(acct, "D1", currency="EUR"))
    assert batch.rejections == [
        {"row": 2, "deal_id": "D1", "error": errors.ROW_WRONG_CURRENCY.format(currency="EUR", login=acct.login,
                                                                              expected="USD")}
    ]  # fmt: skip
    assert not Deal.objects.exists()


def test_bad_deal_id_seen_before_with_other_values_is_refused_and_the_first_stays() -> None:
    acct = account()
    first = imported(row(acct, "D1"))
    second = imported(row(acct, "D1", profit="99.00"), row(acct, "D2"))
    assert second.rejections == [
        {"row": 2, "deal_id": "D1", "error": errors.ROW_CONFLICT.format(deal_id="D1", batch=first.pk)}
    ]
    assert (second.rows_new, second.rows_duplicate, second.rows_rejected) == (1, 0, 1)
    deal = Deal.objects.get(deal_id="D1")
    assert (deal.profit, deal.batch_id) == (Decimal("-12.40"), first.pk)
    assert len(feed_items(second)) == 1


def test_bad_deal_id_twice_in_one_batch_with_other_values_keeps_the_first() -> None:
    acct = account()
    batch = imported(row(acct, "D1"), row(acct, "D1", lots="3.00"))
    assert batch.rejections == [
        {"row": 3, "deal_id": "D1", "error": errors.ROW_CONFLICT_IN_BATCH.format(deal_id="D1", row=2)}
    ]
    assert Deal.objects.get(deal_id="D1").lots == Decimal("0.50")


def test_bad_rows_of_one_batch_make_one_work_item_naming_each() -> None:
    acct = account()
    batch = imported(row(acct, "A", lots="0"), row(acct, "B", login="1"), row(acct, "C"))
    (item,) = feed_items(batch)
    assert item.details["refused"] == 2
    assert item.details["reasons"] == [
        f"row 2: {errors.ROW_LOTS_NOT_POSITIVE.format(value='0')}",
        f"row 3: {errors.ROW_UNKNOWN_LOGIN.format(login='1')}",
    ]
    other = imported(row(acct, "D", lots="-2"))
    assert len(feed_items(other)) == 1
    assert WorkItem.objects.filter(queue__code=FEED_QUEUE).count() == 2


BAD_FILES = [
    ("not_utf8", "deal_id,login\n".encode("utf-16"), errors.FEED_NOT_TEXT),
    ("empty", b"", errors.FEED_NO_HEADER.format(expected=",".join(CSV_COLUMNS))),
    ("header_only", (",".join(CSV_COLUMNS) + "\n").encode(), errors.FEED_NO_ROWS),
    (
        "missing_columns",
        b"deal_id,login,symbol,side,open_time,close_time,spread,commission,swap,profit\n1,2,3,4,5,6,7,8,9,10\n",
        errors.FEED_MISSING_COLUMNS.format(missing="lots, currency", expected=",".join(CSV_COLUMNS)),
    ),
]


@pytest.mark.parametrize(("raw", "error"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_refused_whole_and_nothing_is_stored(raw: bytes, error: str) -> None:
    with pytest.raises(DealFeedError) as refused:
        deal_batch_receive(source=FeedSource.CSV, raw=raw, filename="deals.csv", received_by="tests")
    assert refused.value.message == error and refused.value.field == "file"
    assert not DealBatch.objects.exists()


def test_bad_platform_page_that_is_not_json_is_refused() -> None:
    with pytest.raises(DealFeedError) as refused:
        deal_batch_receive(source=FeedSource.PLATFORM, raw="{deals", filename="", received_by="tests")
    assert refused.value.message.startswith("the platform page is not JSON")
    assert not DealBatch.objects.exists()


def test_good_platform_page_rows_are_numbered_by_position() -> None:
    acct = account()
    good = {
        k.replace("open_time", "opened_at").replace("close_time", "closed_at"): v for k, v in row(acct, "P1").items()
    }
    raw = json.dumps({"deals": [good, good | {"deal_id": "P2", "lots": "-1"}]})
    batch = deal_batch_process(
        batch_id=deal_batch_receive(source=FeedSource.PLATFORM, raw=raw, filename="", received_by="tests").pk
    )
    assert (batch.rows_new, batch.rejections) == (
        1, [{"row": 2, "deal_id": "P2", "error": errors.ROW_LOTS_NOT_POSITIVE.format(value="-1")}],
    )  # fmt: skip


# --- two batches at once ------------------------------------------------------------------------


def _process_together(batch_ids: list[int]) -> list[BaseException]:
    barrier = threading.Barrier(len(batch_ids))
    failures: list[BaseException] = []

    def work(batch_id: int) -> None:
        from audit.context import Actor, acting_as

        try:
            with acting_as(Actor.system("pytest")):
                barrier.wait(10)
                deal_batch_process(batch_id=batch_id)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(batch_id,)) for batch_id in batch_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failures


@pytest.mark.django_db(transaction=True)
def test_two_batches_racing_over_the_same_deals_store_each_once() -> None:
    acct = account()
    shared = [row(acct, f"S{n:04d}") for n in range(300)]
    a = [row(acct, f"A{n:04d}") for n in range(50)]
    b = [row(acct, f"B{n:04d}") for n in range(50)]
    first = deal_batch_receive(source=FeedSource.CSV, raw=csv_text(*shared, *a), filename="a.csv", received_by="t")
    second = deal_batch_receive(
        source=FeedSource.CSV, raw=csv_text(*reversed(shared), *b), filename="b.csv", received_by="t"
    )
    assert _process_together([first.pk, second.pk]) == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert Deal.objects.count() == 400
    assert first.rows_new + second.rows_new == 400
    assert first.rows_duplicate + second.rows_duplicate == 300
    assert first.rows_rejected == second.rows_rejected == 0
    assert Deal.objects.filter(batch=first).count() == first.rows_new


@pytest.mark.django_db(transaction=True)
def test_two_batches_racing_with_one_deal_id_of_different_values_store_one_and_refuse_the_other() -> None:
    acct = account()
    first = deal_batch_receive(source=FeedSource.CSV, raw=csv_text(row(acct, "X1")), filename="a", received_by="t")
    second = deal_batch_receive(
        source=FeedSource.CSV, raw=csv_text(row(acct, "X1", profit="5.00")), filename="b", received_by="t"
    )
    assert _process_together([first.pk, second.pk]) == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert Deal.objects.count() == 1
    winner, loser = (first, second) if first.rows_new else (second, first)
    assert (winner.rows_new, loser.rows_new, loser.rows_rejected) == (1, 0, 1)
    assert loser.rejections[0]["error"] == errors.ROW_CONFLICT.format(deal_id="X1", batch=winner.pk)
    assert len(feed_items(loser)) == 1 and feed_items(winner) == []


# --- the pull from the platform -----------------------------------------------------------------


def _trading_client() -> str:
    c = approved_client(currency="USD")
    login = c.trading_accounts.get().login
    assert login
    return login


def test_good_pull_stores_the_platforms_deals_page_by_page_and_moves_its_cursor() -> None:
    login = _trading_client()
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=30), end=now, accounts=[login], seed=7)
    assert made > 20
    result = deals_pull(page_size=10, max_pages=100)
    assert result == {"pages": -(-made // 10), "new_deals": made, "reprocessed": 0}
    assert Deal.objects.count() == made
    assert DealBatch.objects.filter(source=FeedSource.PLATFORM).count() == -(-made // 10)
    last = SimPlatformDeal.objects.order_by("-ticket").first()
    assert last is not None and FeedCursor.objects.get(name="platform").position == str(last.ticket)
    sim = SimPlatformDeal.objects.get(ticket=last.ticket)
    deal = Deal.objects.get(deal_id=str(last.ticket))
    assert (deal.login, deal.lots, deal.spread, deal.commission, deal.swap, deal.profit, deal.closed_at) == (
        login, sim.lots, sim.spread, sim.commission, sim.swap, sim.profit, sim.closed_at,
    )  # fmt: skip
    assert deals_pull(page_size=10) == {"pages": 0, "new_deals": 0, "reprocessed": 0}


def test_good_a_page_stored_but_never_processed_is_processed_by_the_next_pull_once() -> None:
    login = _trading_client()
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=10), end=now, accounts=[login], seed=3)
    stored = deals_pull_page(limit=5)  # the process dies here: stored, cursor moved, not processed
    assert stored is not None and stored.processed_at is None and not Deal.objects.exists()
    result = deals_pull(page_size=5)
    assert result["reprocessed"] == 1
    assert Deal.objects.count() == made
    assert DealBatch.objects.filter(processed_at__isnull=True).count() == 0
    assert DealBatch.objects.get(pk=stored.pk).rows_new == min(5, made)
    assert DealBatch.objects.aggregate(n=Sum("rows_duplicate"))["n"] == 0


def test_bad_platform_failure_stores_nothing_and_the_next_pull_catches_up() -> None:
    login = _trading_client()
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=5), end=now, accounts=[login], seed=5)
    SimulatedPlatform.inject_fault("closed_deals", "fail")
    with pytest.raises(PlatformError):
        deals_pull(page_size=100)
    assert not DealBatch.objects.exists()
    assert FeedCursor.objects.get(name="platform").position == ""  # the cursor did not move
    assert deals_pull(page_size=100)["new_deals"] == made


def test_good_deals_of_an_unknown_login_on_the_platform_are_refused_into_the_queue() -> None:
    from sim.models import SimPlatformAccount

    SimPlatformAccount.objects.create(
        login="5999999", idempotency_key="stray", name="Stray", group="real\\standard", leverage=100, currency="USD"
    )
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=10), end=now, accounts=["5999999"], seed=11)
    assert made > 0
    deals_pull(page_size=1000)
    batch = DealBatch.objects.get()
    assert (batch.rows_new, batch.rows_rejected) == (0, made)
    assert batch.rejections[0]["error"] == errors.ROW_UNKNOWN_LOGIN.format(login="5999999")
    assert len(feed_items(batch)) == 1


@pytest.mark.django_db(transaction=True)
def test_good_pull_runs_in_a_real_celery_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    login = _trading_client()
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=20), end=now, accounts=[login], seed=21)
    deals_pull_task.delay()
    wait_for(lambda: Deal.objects.count() == made, timeout=60)
    batch = DealBatch.objects.get()
    assert batch.received_by == "system:ib.deals_pull" and batch.processed_at is not None
    assert FeedCursor.objects.get(name="platform").position == str(SimPlatformDeal.objects.latest("ticket").ticket)


# --- the import_deals command -------------------------------------------------------------------


def test_good_command_imports_a_file_and_lists_refused_rows(tmp_path: Path, capsys: Any) -> None:
    acct = account()
    path = tmp_path / "deals.csv"
    path.write_text(csv_text(row(acct, "C1"), row(acct, "C2", lots="0")))
    call_command("import_deals", str(path))
    out = capsys.readouterr().out
    batch = DealBatch.objects.get()
    assert out.splitlines() == [
        f"refused row 3: {errors.ROW_LOTS_NOT_POSITIVE.format(value='0')}",
        f"batch #{batch.pk}: 2 rows, 1 new, 0 duplicate, 1 refused",
    ]
    assert batch.filename == "deals.csv" and Deal.objects.get().deal_id == "C1"


@pytest.mark.django_db(transaction=True)
def test_bad_file_makes_the_command_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("deal_id,login\n1,2\n")
    done = subprocess.run(
        [sys.executable, "manage.py", "import_deals", str(path)], cwd=ROOT, env=worker_env(), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    missing = ", ".join(c for c in CSV_COLUMNS if c not in ("deal_id", "login"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "CommandError: broken.csv: "
        + errors.FEED_MISSING_COLUMNS.format(missing=missing, expected=",".join(CSV_COLUMNS))
    ]
    assert not DealBatch.objects.exists()


def test_bad_missing_file_makes_the_command_fail(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("import_deals", str(tmp_path / "nope.csv"))


@pytest.mark.django_db(transaction=True)
def test_two_pulls_at_once_store_each_page_once() -> None:
    login = _trading_client()
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=10), end=now, accounts=[login], seed=13)
    barrier = threading.Barrier(2)
    stored: list[DealBatch | None] = []
    failures: list[BaseException] = []

    def pull() -> None:
        from audit.context import Actor, acting_as

        try:
            with acting_as(Actor.system("pytest")):
                barrier.wait(10)
                stored.append(deals_pull_page(limit=1000))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len([b for b in stored if b is not None]) == 1
    assert DealBatch.objects.get().rows_total == made
    assert deals_pull()["reprocessed"] == 1 and Deal.objects.count() == made


def test_the_pull_runs_every_minute() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["deals-pull"]
    assert (entry["task"], entry["schedule"]) == ("ib.tasks.deals_pull_task", 60.0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_pull_killed_between_storing_a_page_and_processing_it_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """kill -9 of the worker once the page is stored (batch committed, cursor moved) and while its
    processing waits to insert the deals: the restarted worker's run processes the stored batch."""
    from tests.backoffice.test_worker_faults import Relay, table_held

    login = _trading_client()
    now = timezone.now()
    made = simulate_trading(start=now - timedelta(days=20), end=now, accounts=[login], seed=17)
    relay = Relay(tmp_path)
    try:
        relay.kill_mid_task(table_held(Deal), deals_pull_task.delay)
    finally:
        relay.stop()
    batch = DealBatch.objects.get()
    assert (batch.rows_total, batch.rows_new, batch.rows_duplicate, batch.rows_rejected) == (made, made, 0, 0)
    assert Deal.objects.count() == made and batch.processed_at is not None
    assert FeedCursor.objects.get(name="platform").position == str(SimPlatformDeal.objects.latest("ticket").ticket)
    assert AuditEvent.objects.filter(action=AuditAction.DEAL_BATCH_PROCESSED).count() == 1
