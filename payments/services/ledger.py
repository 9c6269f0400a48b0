"""The double-entry ledger: accounts, posting journal entries, holds, reversals, verification.

These functions compose: they run inside the caller's transaction (plain ``atomic()``), so a
deposit's credit, its status change and its audit event commit or roll back together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Client, TradingAccount
from audit.context import current_actor
from audit.history import fast_update_rows
from ops.services.approvals import payload_hash as request_hash
from payments import errors
from payments.currencies import currency_check
from payments.errors import IdempotencyConflict, PaymentError
from payments.locks import balances_lock, client_credit_at_commit, hold_lock, house_balance_add_at_commit
from payments.models import (
    CLIENT_KINDS,
    AccountKind,
    Balance,
    EntryKind,
    Hold,
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    Posting,
)

# --- accounts ---------------------------------------------------------------------------------


def _account_create(*, code: str, kind: AccountKind, currency: str, name: str, **links: Any) -> LedgerAccount:
    """The account with this code, opened (with its balance row) on first use. Accounts are never
    closed or renamed, so the common case is one indexed read with no savepoint."""
    existing = LedgerAccount.objects.filter(code=code).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        account, created = LedgerAccount.objects.get_or_create(
            code=code, defaults={"kind": kind, "currency": currency, "name": name, **links}
        )
        if created:
            Balance.objects.create(
                account=account,
                currency=currency,
                non_negative=kind in CLIENT_KINDS,
                sign=account.sign,
            )
    return account


def wallet_for(*, client: Client, currency: str) -> LedgerAccount:
    """The client's wallet in that currency, opened on first use."""
    currency = currency_check(currency)
    return _account_create(
        code=f"wallet:{client.reference}:{currency}",
        kind=AccountKind.CLIENT_WALLET,
        currency=currency,
        name=f"{client.display_name} {currency} wallet",
        client=client,
    )


def wallets_for(pairs: Sequence[tuple[Client, str]]) -> list[LedgerAccount]:
    """``wallet_for`` of each (client, currency), in one read for those already open."""
    codes = [f"wallet:{client.reference}:{currency_check(currency)}" for client, currency in pairs]
    found = {account.code: account for account in LedgerAccount.objects.filter(code__in=set(codes))}
    return [
        found[code] if code in found else wallet_for(client=client, currency=currency)
        for code, (client, currency) in zip(codes, pairs, strict=True)
    ]


def trading_ledger_account_for(*, account: TradingAccount) -> LedgerAccount:
    return _account_create(
        code=f"trading:{account.client.reference}:{account.pk}",
        kind=AccountKind.TRADING,
        currency=account.currency,
        name=f"{account.client.display_name} trading account {account.login or account.pk} ({account.currency})",
        client=account.client,
        trading_account=account,
    )


def house_account(kind: AccountKind, currency: str, *, ref: str = "") -> LedgerAccount:
    """The broker's own accounts: PSP clearing (per PSP), bank (per IBAN), fees, revenue, suspense."""
    currency = currency_check(currency)
    suffix = f":{ref}" if ref else ""
    return _account_create(
        code=f"{kind.value}{suffix}:{currency}",
        kind=kind,
        currency=currency,
        name=f"{AccountKind(kind).label}{' ' + ref if ref else ''} ({currency})",
        external_ref=ref,
    )


def psp_clearing_account(currency: str) -> LedgerAccount:
    """The card PSP's clearing account: card money the PSP holds for the broker until it settles."""
    from payments.models import Channel
    from payments.providers import get_provider

    return house_account(AccountKind.PSP_CLEARING, currency, ref=get_provider(Channel.CARD).name)


# --- posting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    account: LedgerAccount
    amount: Decimal  # debit > 0, credit < 0


def debit(account: LedgerAccount, amount: Decimal) -> Line:
    return Line(account, amount)


def credit(account: LedgerAccount, amount: Decimal) -> Line:
    return Line(account, -amount)


def _check_lines(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise PaymentError(errors.TOO_FEW_POSTINGS)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.amount == 0:
            raise PaymentError(errors.AMOUNT_NOT_POSITIVE.format(field="amount"), field="amount")
        totals[line.account.currency] += line.amount
    for currency, total in totals.items():
        if total != 0:
            raise PaymentError(errors.UNBALANCED.format(currency=currency, total=total))


@dataclass(frozen=True)
class Post:
    """One journal entry to post (see ``ledger_post``)."""

    key: str
    kind: EntryKind
    memo: str
    lines: Sequence[Line]
    source: str = ""
    request: dict[str, Any] | None = None
    release_hold: Hold | None = None
    reverses: JournalEntry | None = None
    # Its lines that only increase a client balance are added at COMMIT (``client_credit_at_commit``)
    # instead of under a lock taken now: for a caller that reads none of those balances again in
    # its transaction (a batch of deposits credited to wallets).
    credit_at_commit: bool = False

    def fingerprint(self) -> str:
        return request_hash(
            self.request
            if self.request is not None
            else {"kind": self.kind, "lines": [(line.account.pk, str(line.amount)) for line in self.lines]}
        )


def ledger_post(
    *,
    key: str,
    kind: EntryKind,
    memo: str,
    lines: Sequence[Line],
    source: str = "",
    request: dict[str, Any] | None = None,
    release_hold: Hold | None = None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Post one balanced journal entry, once per idempotency key. The same key with the same
    request returns the entry already posted; with a different request it is refused (422).

    Balances are locked in account-id order, checked (a client account's available balance may
    not go below zero), and updated in the same transaction. ``release_hold`` releases a hold in
    the same step (a withdrawal paid: the hold goes, the wallet is debited)."""
    post = Post(key, kind, memo, lines, source, request, release_hold, reverses)
    return ledger_post_many([post])[0]


def ledger_post_many(posts: Sequence[Post]) -> list[JournalEntry]:
    """Post several entries in one step, all or none: what ``ledger_post`` does for one, with one
    statement per table for all of them (one key lookup, one lock of every client balance involved
    in account-id order, one INSERT of the entries and one of their postings, one UPDATE of the
    locked balances, one increment per house account at commit). Lines apply in order, so a later
    entry sees the balances an earlier one left. A key already posted with the same request returns
    its entry; any refusal (a key replayed with another request, insufficient funds) refuses all."""
    if not posts:
        return []
    fingerprints = []
    for post in posts:
        _check_lines(post.lines)
        fingerprints.append(post.fingerprint())
    keys = [post.key for post in posts]
    if len(set(keys)) != len(keys):
        raise IdempotencyConflict(next(k for k in keys if keys.count(k) > 1))
    existing = {e.idempotency_key: e for e in JournalEntry.objects.filter(idempotency_key__in=keys)}
    for post, fingerprint in zip(posts, fingerprints, strict=True):
        if post.key in existing and existing[post.key].request_hash != fingerprint:
            raise IdempotencyConflict(post.key)
    todo = [(post, fp) for post, fp in zip(posts, fingerprints, strict=True) if post.key not in existing]
    if not todo:
        return [existing[key] for key in keys]
    # Client balances (and any account whose hold is released here) are locked now, in account-id
    # order, and checked: they are the ones that may not go below zero. House balances (clearing,
    # bank, fees, suspense...) have no such check and are shared by every payment: they are
    # incremented by commit writes, sent with the COMMIT in account-id order, so a deposit holds the
    # clearing account's row only while it commits instead of for the rest of its transaction.
    checked_ids: set[int] = set()
    house: dict[int, tuple[Decimal, int]] = {}
    credits: dict[int, tuple[Decimal, int]] = {}
    split: list[tuple[list[Line], list[Line]]] = []
    for post, _ in todo:
        hold_account = post.release_hold.account_id if post.release_hold is not None else None
        checked, house_lines = [], []
        for line in post.lines:
            if line.account.pk == hold_account or (line.account.is_client and not _credit_at_commit(post, line)):
                checked.append(line)
            elif line.account.is_client:
                _tally(credits, line)
            else:
                house_lines.append(line)
        split.append((checked, house_lines))
        checked_ids.update(line.account.pk for line in checked)
    actor = current_actor()
    actor_label = actor.label if actor else "unknown"
    with transaction.atomic():
        balances = balances_lock(checked_ids)
        now = timezone.now()
        for (post, _), (checked, house_lines) in zip(todo, split, strict=True):
            if post.release_hold is not None:
                hold = hold_lock(post.release_hold.pk)
                if hold.status != HoldStatus.ACTIVE:
                    raise PaymentError(errors.HOLD_NOT_ACTIVE.format(hold=hold.pk, status=hold.status))
                hold.status = HoldStatus.CAPTURED
                hold.closed_at = now
                hold.save(update_fields=["status", "closed_at"])
                balances[hold.account_id].held -= hold.amount
            for line in checked:
                balance = balances[line.account.pk]
                available_before = balance.ledger - balance.held
                balance.ledger += balance.sign * line.amount
                balance.postings_count += 1
                balance.updated_at = now
                if balance.non_negative and balance.ledger < balance.held:
                    raise PaymentError(
                        errors.INSUFFICIENT_FUNDS.format(amount=abs(line.amount), available=available_before),
                        field="amount",
                    )
            for line in house_lines:
                _tally(house, line)
        entries = [
            JournalEntry(
                idempotency_key=post.key,
                request_hash=fingerprint,
                kind=post.kind,
                memo=post.memo[:300],
                source=post.source,
                reverses=post.reverses,
                actor_label=actor_label,
                created_at=now,
            )
            for post, fingerprint in todo
        ]
        try:
            with transaction.atomic():
                JournalEntry.objects.bulk_create(entries)
        except IntegrityError:  # a key posted by a concurrent transaction a moment ago
            taken = set(JournalEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
            raise IdempotencyConflict(next((k for k in keys if k in taken), keys[0])) from None
        Posting.objects.bulk_create(
            [
                Posting(entry=entry, account=line.account, currency=line.account.currency, amount=line.amount)
                for entry, (post, _) in zip(entries, todo, strict=True)
                for line in post.lines
            ]
        )
        if balances:
            fast_update_rows(list(balances.values()), Balance, ["ledger", "held", "postings_count", "updated_at"])
        for account_id, (total, count) in credits.items():
            client_credit_at_commit(account_id=account_id, amount=total, postings=count, at=now)
        for account_id, (total, count) in house.items():
            house_balance_add_at_commit(account_id=account_id, amount=total, postings=count, at=now)
    posted = {entry.idempotency_key: entry for entry in entries}
    return [posted.get(key) or existing[key] for key in keys]


def _tally(totals: dict[int, tuple[Decimal, int]], line: Line) -> None:
    """Add a line to its account's (sum, count of postings), for one increment at commit."""
    total, count = totals.get(line.account.pk, (Decimal(0), 0))
    totals[line.account.pk] = (total + line.amount, count + 1)


def _credit_at_commit(post: Post, line: Line) -> bool:
    """A client line of a ``credit_at_commit`` post that increases the balance (by the account's own
    direction), so that it can wait for the COMMIT."""
    return post.credit_at_commit and line.account.sign * line.amount > 0


def ledger_reverse(*, entry: JournalEntry, key: str, memo: str) -> JournalEntry:
    """Correct an entry by posting its mirror image (entries are never changed)."""
    if JournalEntry.objects.filter(reverses=entry).exclude(idempotency_key=key).exists():
        raise PaymentError(errors.ALREADY_REVERSED.format(entry=entry.pk))
    lines = [Line(p.account, -p.amount) for p in entry.postings.select_related("account")]
    return ledger_post(
        key=key,
        kind=EntryKind.REVERSAL,
        memo=memo,
        lines=lines,
        source=f"payments.journalentry:{entry.pk}",
        reverses=entry,
    )


# --- holds ------------------------------------------------------------------------------------


def hold_place(*, account: LedgerAccount, amount: Decimal, reason: str) -> Hold:
    with transaction.atomic():
        balance = balances_lock([account.pk])[account.pk]
        if balance.ledger - balance.held < amount:
            raise PaymentError(
                errors.INSUFFICIENT_FUNDS.format(amount=amount, available=balance.ledger - balance.held), field="amount"
            )
        balance.held += amount
        balance.updated_at = timezone.now()
        balance.save(update_fields=["held", "updated_at"])
        return Hold.objects.create(account=account, amount=amount, reason=reason[:200])


def hold_release(*, hold: Hold) -> Hold:
    with transaction.atomic():
        balance = balances_lock([hold.account_id])[hold.account_id]
        hold = hold_lock(hold.pk)
        if hold.status != HoldStatus.ACTIVE:
            raise PaymentError(errors.HOLD_NOT_ACTIVE.format(hold=hold.pk, status=hold.status))
        hold.status = HoldStatus.RELEASED
        hold.closed_at = timezone.now()
        hold.save(update_fields=["status", "closed_at"])
        balance.held -= hold.amount
        balance.updated_at = timezone.now()
        balance.save(update_fields=["held", "updated_at"])
        return hold


# --- reading and verifying --------------------------------------------------------------------


def balance_of(account: LedgerAccount | int) -> Balance:
    """Constant time: one primary-key read of the maintained balance row."""
    return Balance.objects.get(pk=account.pk if isinstance(account, LedgerAccount) else account)


@dataclass
class VerifyReport:
    entries: int
    postings: int
    accounts: int
    holds: int
    breaks: list[str]

    @property
    def ok(self) -> bool:
        return not self.breaks


VERIFY_UNBALANCED_SQL = """
    SELECT p.entry_id, p.currency, SUM(p.amount) FROM payments_posting p
    GROUP BY p.entry_id, p.currency HAVING SUM(p.amount) <> 0 ORDER BY p.entry_id LIMIT 50
"""
VERIFY_SHORT_SQL = """
    SELECT e.id FROM payments_journalentry e LEFT JOIN payments_posting p ON p.entry_id = e.id
    GROUP BY e.id HAVING COUNT(p.id) < 2 ORDER BY e.id LIMIT 50
"""
VERIFY_BALANCES_SQL = """
    SELECT a.code, b.ledger, b.sign * COALESCE(s.total, 0), b.held, COALESCE(h.total, 0),
           b.postings_count, COALESCE(s.n, 0)
    FROM payments_balance b
    JOIN payments_ledgeraccount a ON a.id = b.account_id
    LEFT JOIN (SELECT account_id, SUM(amount) AS total, COUNT(*) AS n FROM payments_posting GROUP BY account_id) s
        ON s.account_id = b.account_id
    LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM payments_hold WHERE status = 'active' GROUP BY account_id) h
        ON h.account_id = b.account_id
    WHERE b.ledger <> b.sign * COALESCE(s.total, 0) OR b.held <> COALESCE(h.total, 0)
       OR b.postings_count <> COALESCE(s.n, 0) OR b.currency <> a.currency
    ORDER BY a.code LIMIT 50
"""
VERIFY_NO_BALANCE_SQL = """
    SELECT a.code FROM payments_ledgeraccount a LEFT JOIN payments_balance b ON b.account_id = a.id
    WHERE b.account_id IS NULL ORDER BY a.code LIMIT 50
"""
VERIFY_CURRENCY_SQL = """
    SELECT p.id, a.code, p.currency, a.currency FROM payments_posting p
    JOIN payments_ledgeraccount a ON a.id = p.account_id WHERE p.currency <> a.currency ORDER BY p.id LIMIT 50
"""


def ledger_verify() -> VerifyReport:
    """Every entry balanced per currency with at least two postings, every posting in its
    account's currency, every balance equal to the sum of its postings and its holds. Runs in
    one repeatable-read snapshot so concurrent postings cannot show as breaks."""
    breaks: list[str] = []
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if own_transaction:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute(VERIFY_UNBALANCED_SQL)
        breaks += [f"entry {e} does not balance in {c}: postings sum to {t}" for e, c, t in cursor.fetchall()]
        cursor.execute(VERIFY_SHORT_SQL)
        breaks += [f"entry {e} has fewer than two postings" for (e,) in cursor.fetchall()]
        cursor.execute(VERIFY_CURRENCY_SQL)
        breaks += [f"posting {p} on {a} is in {c}, the account holds {ac}" for p, a, c, ac in cursor.fetchall()]
        cursor.execute(VERIFY_NO_BALANCE_SQL)  # a house increment at commit would find no row to update
        breaks += [f"account {code} has no balance row" for (code,) in cursor.fetchall()]
        cursor.execute(VERIFY_BALANCES_SQL)
        for code, ledger, expected, held, holds, count, n in cursor.fetchall():
            if ledger != expected:
                breaks.append(f"balance of {code} is {ledger}, its postings sum to {expected}")
            if held != holds:
                breaks.append(f"held amount of {code} is {held}, its active holds sum to {holds}")
            if count != n:
                breaks.append(f"balance of {code} counts {count} postings, there are {n}")
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM payments_journalentry), (SELECT COUNT(*) FROM payments_posting),"
            " (SELECT COUNT(*) FROM payments_balance), (SELECT COUNT(*) FROM payments_hold)"
        )
        row = cursor.fetchone()
    assert row is not None
    return VerifyReport(entries=row[0], postings=row[1], accounts=row[2], holds=row[3], breaks=breaks)
