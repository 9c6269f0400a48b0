"""The trade feed: closed deals from the trading platform (pulled page by page) or from a deal
report file (CSV), stored as a batch before anything is done with them (invariant 6), then
processed once.

Processing checks every row on its own: a row that names no known trading account, a lot size not
above zero, a close before the open, a currency other than the account's, a number or time that
does not read, or a deal id already received with other values is refused with its reason (kept on
the batch, by row) and nothing of it is stored; the batch's refusals open one work item in the
trade feed exception queue. A deal id already received with the same values is a duplicate and
changes nothing. The rest are inserted together, deduplicated by deal id by the database itself
(``ON CONFLICT DO NOTHING``), so two batches carrying the same deal at the same moment store it once.

The deal report file (CSV, UTF-8, comma-separated, a header line naming the columns in any order):

    deal_id,login,symbol,side,lots,open_time,close_time,spread,commission,swap,profit,currency

``side`` is buy or sell; ``lots`` above zero, at most 2 decimals; times ISO 8601 (UTC when no
offset is given); ``spread`` (the broker's spread or markup revenue), ``commission`` (charged to
the client, neither below zero), ``swap`` and ``profit`` in the account's ``currency``, at most 2
decimals. Rows are numbered as the file's lines (the header is line 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import TradingAccount
from accounts.platform import ClosedDeal, get_platform
from audit.actions import AuditAction
from audit.context import current_actor
from audit.services import audit_record
from ib import errors
from ib.errors import DealFeedError
from ib.models import Deal, DealBatch, FeedCursor, FeedSource
from ops.models import RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.work_items import work_item_open

CSV_COLUMNS = (
    "deal_id", "login", "symbol", "side", "lots", "open_time", "close_time", "spread", "commission", "swap",
    "profit", "currency",
)  # fmt: skip
# The platform feed names the times as the gateway's ClosedDeal does.
_FEED_NAMES = {"opened_at": "open_time", "closed_at": "close_time"}
FEED_QUEUE = "trade_feed_exception"
PLATFORM_CURSOR = "platform"
_MONEY_LIMIT = Decimal("1e15")  # Deal's money columns hold 18 digits, 2 of them decimals
_LOTS_LIMIT = Decimal("1e11")
_INSERT_CHUNK = 5000


def deal_can_import(actor: User) -> Decision:
    """Import a deal report file (finance and risk)."""
    if not actor.is_authenticated or not actor.has_perm("ops.import_deals"):
        return deny(errors.NOT_ALLOWED_IMPORT_DEALS)
    return ALLOWED


# --- reading a batch -----------------------------------------------------------------------------


def _as_text(raw: str | bytes) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DealFeedError(errors.FEED_NOT_TEXT) from None


def _csv_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    expected = ",".join(CSV_COLUMNS)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DealFeedError(errors.FEED_NO_HEADER.format(expected=expected))
        names = [h.strip().lower() for h in header]
        missing = [c for c in CSV_COLUMNS if c not in names]
        if missing:
            raise DealFeedError(errors.FEED_MISSING_COLUMNS.format(missing=", ".join(missing), expected=expected))
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # a blank line
            row = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(names)}
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DealFeedError(errors.FEED_BAD_CSV.format(line=reader.line_num, why=exc)) from None
    if not rows:
        raise DealFeedError(errors.FEED_NO_ROWS)
    return rows


def _feed_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """The platform feed's page: ``{"deals": [...]}`` (or a bare list), each deal named as the
    gateway's ``ClosedDeal``."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DealFeedError(errors.FEED_NOT_JSON.format(why=exc), field="raw") from None
    deals = document.get("deals") if isinstance(document, dict) else document
    if not isinstance(deals, list):
        raise DealFeedError(errors.FEED_NOT_JSON.format(why="no list of deals"), field="raw")
    rows = []
    for number, deal in enumerate(deals, 1):
        if not isinstance(deal, dict):
            deal = {}
        row = {_FEED_NAMES.get(k, k): "" if v is None else str(v).strip() for k, v in deal.items()}
        rows.append((number, row))
    return rows


def _rows(source: str, text: str) -> list[tuple[int, dict[str, str]]]:
    return _csv_rows(text) if source == FeedSource.CSV else _feed_rows(text)


# --- checking a row ------------------------------------------------------------------------------


class RowRefused(Exception):
    pass


@dataclass(frozen=True)
class DealRow:
    row: int
    values: dict[str, Any]
    fingerprint: str


def _text(row: dict[str, str], field: str, limit: int) -> str:
    value = row.get(field, "")
    if not value:
        raise RowRefused(errors.ROW_MISSING.format(field=field))
    if len(value) > limit:
        raise RowRefused(errors.ROW_TOO_LONG.format(field=field, limit=limit))
    return value


def _number(row: dict[str, str], field: str, limit: Decimal) -> Decimal:
    value = _text(row, field, 40)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RowRefused(errors.ROW_NOT_A_NUMBER.format(field=field, value=value)) from None
    if not number.is_finite():
        raise RowRefused(errors.ROW_NOT_A_NUMBER.format(field=field, value=value))
    if abs(number) >= limit:
        raise RowRefused(errors.ROW_TOO_LARGE.format(field=field, value=value))
    if number != number.quantize(Decimal("0.01"), rounding=ROUND_DOWN):
        raise RowRefused(errors.ROW_TOO_MANY_DECIMALS.format(field=field, value=value))
    return number.quantize(Decimal("0.01"))


def _moment(row: dict[str, str], field: str) -> datetime:
    value = _text(row, field, 40)
    try:
        moment = parse_datetime(value.replace(" UTC", "Z"))
    except ValueError:
        moment = None
    if moment is None:
        raise RowRefused(errors.ROW_NOT_A_TIME.format(field=field, value=value))
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def deal_fingerprint(values: dict[str, Any]) -> str:
    """The hash of a deal's values (amounts to the cent, times in UTC): a deal id seen again with
    another hash is refused. Anything that stores a Deal outside the feed should use it too."""

    def cents(value: Any) -> str:
        return str(Decimal(value).quantize(Decimal("0.01")))

    canonical = [
        str(values["deal_id"]), str(values["login"]), str(values["symbol"]).upper(), str(values["side"]).lower(),
        cents(values["lots"]), values["opened_at"].astimezone(UTC).isoformat(),
        values["closed_at"].astimezone(UTC).isoformat(), cents(values["spread"]), cents(values["commission"]),
        cents(values["swap"]), cents(values["profit"]), str(values["currency"]).upper(),
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def _check(number: int, row: dict[str, str], accounts: dict[str, TradingAccount]) -> DealRow:
    deal_id = _text(row, "deal_id", 40)
    login = _text(row, "login", 32)
    symbol = _text(row, "symbol", 32).upper()
    side = _text(row, "side", 10).lower()
    if side not in ("buy", "sell"):
        raise RowRefused(errors.ROW_BAD_SIDE.format(value=row["side"]))
    lots = _number(row, "lots", _LOTS_LIMIT)
    if lots <= 0:
        raise RowRefused(errors.ROW_LOTS_NOT_POSITIVE.format(value=row["lots"]))
    opened, closed = _moment(row, "open_time"), _moment(row, "close_time")
    if closed < opened:
        raise RowRefused(errors.ROW_CLOSE_BEFORE_OPEN.format(closed=row["close_time"], opened=row["open_time"]))
    money = {field: _number(row, field, _MONEY_LIMIT) for field in ("spread", "commission", "swap", "profit")}
    for field in ("spread", "commission"):
        if money[field] < 0:
            raise RowRefused(errors.ROW_NEGATIVE.format(field=field, value=row[field]))
    currency = _text(row, "currency", 3).upper()
    account = accounts.get(login)
    if account is None:
        raise RowRefused(errors.ROW_UNKNOWN_LOGIN.format(login=login))
    if currency != account.currency:
        raise RowRefused(errors.ROW_WRONG_CURRENCY.format(currency=currency, login=login, expected=account.currency))
    values: dict[str, Any] = {
        "deal_id": deal_id, "login": login, "trading_account_id": account.pk, "client_id": account.client_id,
        "symbol": symbol, "side": side, "lots": lots, "opened_at": opened, "closed_at": closed, **money,
        "currency": currency,
    }  # fmt: skip
    return DealRow(row=number, values=values, fingerprint=deal_fingerprint(values))


# --- receiving and processing --------------------------------------------------------------------


@transaction.atomic
def deal_batch_receive(*, source: str, raw: str | bytes, filename: str, received_by: str) -> DealBatch:
    """Store a batch exactly as received (nothing is processed yet). Refuses, with one line and
    nothing stored, what cannot be read as a batch at all: not text, a CSV header lacking a column,
    no rows, a feed page that is not JSON (``DealFeedError``)."""
    if source not in FeedSource.values:
        raise DealFeedError(errors.FEED_UNKNOWN_SOURCE.format(source=source), field="source")
    text = _as_text(raw)
    rows = _rows(source, text)
    batch = DealBatch.objects.create(
        source=source,
        filename=filename[:200],
        raw=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        rows_total=len(rows),
        received_by=received_by[:150],
    )
    audit_record(
        action=AuditAction.DEAL_BATCH_RECEIVED,
        subject=batch,
        after={"source": source, "file": batch.filename, "rows": len(rows), "sha256": batch.sha256},
    )
    return batch


_DEAL_COLUMNS = (
    ("deal_id", "varchar"), ("login", "varchar"), ("trading_account_id", "bigint"), ("client_id", "bigint"),
    ("symbol", "varchar"), ("side", "varchar"), ("lots", "numeric"), ("opened_at", "timestamptz"),
    ("closed_at", "timestamptz"), ("spread", "numeric"), ("commission", "numeric"), ("swap", "numeric"),
    ("profit", "numeric"), ("currency", "varchar"), ("fingerprint", "varchar"),
)  # fmt: skip


def _bound_cursor() -> psycopg.Cursor[Any]:
    """A cursor of Django's connection (its transaction) that sends parameters apart from the SQL:
    a column of thousands of values goes as one binary array, not quoted into the statement text."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _known(deal_ids: list[str]) -> dict[str, tuple[str, int]]:
    """The fingerprint and batch of each of ``deal_ids`` already stored."""
    table = Deal._meta.db_table
    with _bound_cursor() as cursor:
        cursor.execute(
            f"SELECT deal_id, fingerprint, batch_id FROM {table} WHERE deal_id = ANY(%s::varchar[])",  # noqa: S608
            [deal_ids],
        )
        return {deal_id: (fingerprint, batch_pk) for deal_id, fingerprint, batch_pk in cursor.fetchall()}


def _insert(rows: list[DealRow], batch: DealBatch) -> set[str]:
    """Insert the rows (in deal id order, so two batches racing over the same deals wait for each
    other instead of deadlocking); a deal id already there is left as it is. Returns the ids this
    batch stored."""
    stored: set[str] = set()
    rows = sorted(rows, key=lambda r: r.values["deal_id"])
    names = ", ".join(name for name, _ in _DEAL_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in _DEAL_COLUMNS)
    sql = (
        f"INSERT INTO {Deal._meta.db_table} ({names}, batch_id, received_at) "  # noqa: S608 - our own column names
        f"SELECT {names}, %s, %s FROM unnest({arrays}) AS t({names}) ORDER BY deal_id "
        "ON CONFLICT (deal_id) DO NOTHING RETURNING deal_id"
    )
    now = timezone.now()
    with _bound_cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            columns = [
                [r.fingerprint if name == "fingerprint" else r.values[name] for r in chunk] for name, _ in _DEAL_COLUMNS
            ]
            cursor.execute(sql, [batch.pk, now, *columns])
            stored.update(deal_id for (deal_id,) in cursor.fetchall())
    return stored


@transaction.atomic(durable=True)
def deal_batch_process(*, batch_id: int) -> DealBatch:
    """Process a stored batch once: a batch already processed is returned as it is (a second call,
    or two workers at once, have one effect)."""
    batch = DealBatch.objects.select_for_update().get(pk=batch_id)
    if batch.processed_at is not None:
        return batch
    refused: list[dict[str, Any]] = []
    duplicates = 0
    try:
        rows = _rows(batch.source, batch.raw)
    except DealFeedError as exc:  # stored by other means than deal_batch_receive
        rows = []
        refused.append({"row": 0, "deal_id": "", "error": exc.message})
    logins = {row.get("login", "") for _, row in rows}
    accounts = {a.login: a for a in TradingAccount.objects.filter(login__in=logins - {""}) if a.login}
    valid: dict[str, DealRow] = {}
    for number, row in rows:
        try:
            deal = _check(number, row, accounts)
        except RowRefused as exc:
            refused.append({"row": number, "deal_id": row.get("deal_id", "")[:40], "error": str(exc)})
            continue
        deal_id = deal.values["deal_id"]
        first = valid.get(deal_id)
        if first is None:
            valid[deal_id] = deal
        elif first.fingerprint == deal.fingerprint:
            duplicates += 1
        else:
            refused.append({"row": number, "deal_id": deal_id,
                            "error": errors.ROW_CONFLICT_IN_BATCH.format(deal_id=deal_id, row=first.row)})  # fmt: skip

    def compare(deal: DealRow, seen: tuple[str, int]) -> None:
        nonlocal duplicates
        if seen[0] == deal.fingerprint:
            duplicates += 1
        else:
            refused.append({"row": deal.row, "deal_id": deal.values["deal_id"],
                            "error": errors.ROW_CONFLICT.format(deal_id=deal.values["deal_id"], batch=seen[1])})  # fmt: skip

    before = _known(list(valid))
    fresh = []
    for deal_id, deal in valid.items():
        if deal_id in before:
            compare(deal, before[deal_id])
        else:
            fresh.append(deal)
    stored = _insert(fresh, batch)
    raced = [deal for deal in fresh if deal.values["deal_id"] not in stored]
    if raced:  # stored by another batch committed meanwhile: a duplicate, or the same id with other values
        after = _known([deal.values["deal_id"] for deal in raced])
        for deal in raced:
            compare(deal, after[deal.values["deal_id"]])
    refused.sort(key=lambda r: (r["row"], r["deal_id"]))
    batch.rows_total = len(rows)
    batch.rows_new = len(stored)
    batch.rows_duplicate = duplicates
    batch.rows_rejected = len(refused)
    batch.rejections = refused
    batch.processed_at = timezone.now()
    batch.save(
        update_fields=["rows_total", "rows_new", "rows_duplicate", "rows_rejected", "rejections", "processed_at"]
    )
    counts = {"rows": batch.rows_total, "new": batch.rows_new, "duplicate": duplicates, "rejected": len(refused)}
    audit_record(action=AuditAction.DEAL_BATCH_PROCESSED, subject=batch, after=counts)
    if refused:
        work_item_open(
            queue=FEED_QUEUE,
            subject=batch,
            title=f"Trade feed: {len(refused)} deal(s) refused in batch #{batch.pk} ({batch.get_source_display()})",
            risk_level=RiskLevel.MEDIUM,
            details={
                "batch": f"#{batch.pk} {batch.filename}".strip(),
                "refused": len(refused),
                "reasons": [f"row {r['row']}: {r['error']}" for r in refused[:20]]
                + ([f"... and {len(refused) - 20} more on the batch page"] if len(refused) > 20 else []),
            },
        )
    return batch


# --- pulling from the platform -------------------------------------------------------------------


def _feed_deal(deal: ClosedDeal) -> dict[str, str]:
    return {
        "deal_id": deal.deal_id, "login": deal.login, "symbol": deal.symbol, "side": deal.side,
        "lots": str(deal.lots), "opened_at": deal.opened_at.isoformat(), "closed_at": deal.closed_at.isoformat(),
        "spread": str(deal.spread), "commission": str(deal.commission), "swap": str(deal.swap),
        "profit": str(deal.profit), "currency": deal.currency,
    }  # fmt: skip


def deals_pull_page(*, limit: int) -> DealBatch | None:
    """Store the platform's next page of closed deals as a batch (not yet processed) and move the
    cursor past it. The platform is asked outside any transaction; the page is stored only if the
    cursor is still where it was read (compare-and-set under the cursor row's lock), so two pulls
    at once store it once. None when there is nothing new (or another pull stored it first)."""
    FeedCursor.objects.get_or_create(name=PLATFORM_CURSOR)
    after = FeedCursor.objects.get(name=PLATFORM_CURSOR).position or None
    deals = get_platform().closed_deals(after=after, limit=limit)
    if not deals:
        return None
    with transaction.atomic(durable=True):
        cursor = FeedCursor.objects.select_for_update().get(name=PLATFORM_CURSOR)
        if (cursor.position or None) != after:
            return None
        actor = current_actor()
        batch = deal_batch_receive(
            source=FeedSource.PLATFORM,
            raw=json.dumps({"after": after, "deals": [_feed_deal(d) for d in deals]}),
            filename=f"closed deals after {after or 'the first'}",
            received_by=actor.label if actor else "platform",
        )
        cursor.position = deals[-1].deal_id
        cursor.updated_at = timezone.now()
        cursor.save(update_fields=["position", "updated_at"])
        return batch


def deals_pull(*, page_size: int | None = None, max_pages: int | None = None) -> dict[str, int]:
    """Pull what the platform closed since the last pull, page by page, each page stored and then
    processed. Platform batches stored but never processed (the process died in between) are
    processed first."""
    page_size = page_size or settings.DEALS_PULL_PAGE_SIZE
    max_pages = max_pages or settings.DEALS_PULL_MAX_PAGES
    left_over = DealBatch.objects.filter(source=FeedSource.PLATFORM, processed_at__isnull=True).order_by("id")
    reprocessed = 0
    for batch_id in list(left_over.values_list("id", flat=True)):
        deal_batch_process(batch_id=batch_id)
        reprocessed += 1
    pages = deals = 0
    while pages < max_pages:
        batch = deals_pull_page(limit=page_size)
        if batch is None:
            break
        deals += deal_batch_process(batch_id=batch.pk).rows_new
        pages += 1
    return {"pages": pages, "new_deals": deals, "reprocessed": reprocessed}
