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
from payments.locks import balances_lock, hold_lock, house_balance_add
from payments.models import (
    CLIENT_KINDS,
    HOUSE_BALANCE_BUCKETS,
    AccountKind,
    Balance,
    BalanceBucket,
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
            if kind not in CLIENT_KINDS:
                BalanceBucket.objects.bulk_create(
                    [BalanceBucket(account=account, bucket=n) for n in range(HOUSE_BALANCE_BUCKETS)]
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
    # Missing ones are opened in code order: two batches opening the same new wallets cannot deadlock.
    for code, (client, currency) in sorted(zip(codes, pairs, strict=True), key=lambda pair: pair[0]):
        if code not in found:
            found[code] = wallet_for(client=client, currency=currency)
    return [found[code] for code in codes]


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


def partner_payable_account(
    *, partner_id: int, partner_code: str, partner_name: str, currency: str, available: bool
) -> LedgerAccount:
    """What the broker owes a partner (an introducing broker) in commissions, in one currency:
    ``ib-pending:<code>:<CCY>`` while the commissions are in their hold period,
    ``ib-payable:<code>:<CCY>`` once they may be paid out. ``external_ref`` is ``partner:<id>``
    (payments knows partners only by that reference). A house account: it may go below zero when
    a commission already paid is clawed back (the partner then owes it, netted from the next payout)."""
    currency = currency_check(currency)
    kind = AccountKind.IB_PAYABLE if available else AccountKind.IB_PAYABLE_PENDING
    prefix, label = ("ib-payable", "commissions payable") if available else ("ib-pending", "commissions pending")
    return _account_create(
        code=f"{prefix}:{partner_code}:{currency}",
        kind=kind,
        currency=currency,
        name=f"{partner_name} {label} ({currency})",
        external_ref=f"partner:{partner_id}",
    )


def chargeback_receivable_account(*, client: Client, currency: str) -> LedgerAccount:
    """What a client owes the broker of its chargebacks in one currency, where the wallet could not
    cover them (the wallet itself never goes below zero). An asset of the broker: a house account
    naming the client, so it shows among the client's accounts."""
    currency = currency_check(currency)
    return _account_create(
        code=f"cb-receivable:{client.reference}:{currency}",
        kind=AccountKind.CHARGEBACK_RECEIVABLE,
        currency=currency,
        name=f"{client.display_name} chargeback receivable ({currency})",
        client=client,
    )


def commission_expense_account(currency: str) -> LedgerAccount:
    """The broker's commission expense in one currency (debited by every commission earned)."""
    return house_account(AccountKind.COMMISSION_EXPENSE, currency)


def psp_clearing_account(currency: str, provider: str = "") -> LedgerAccount:
    """A card PSP's clearing account: card money the PSP holds for the broker until it settles (the
    card channel's own PSP unless ``provider`` names the one routing chose)."""
    from payments.models import Channel
    from payments.providers import get_provider

    return house_account(AccountKind.PSP_CLEARING, currency, ref=provider or get_provider(Channel.CARD).name)


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
    statement per table for all of them. Three steps: ``_plan`` (check, find what is already
    posted), ``_lock`` (the client balances and holds involved, in id order), ``_write`` (entries,
    postings, balances). Lines apply in order, so a later entry sees the balances an earlier one
    left. A key already posted with the same request returns its entry; any refusal (a key replayed
    with another request, insufficient funds) refuses all."""
    plan = _plan(posts)
    posted: dict[str, JournalEntry] = {}
    if plan.todo:
        with transaction.atomic():
            posted = _write(plan, _lock(plan))
    return [posted.get(key) or plan.existing[key] for key in plan.keys]


@dataclass
class _Plan:
    keys: list[str]  # of every post, in order
    existing: dict[str, JournalEntry]  # key -> entry already posted (with the same request)
    todo: list[tuple[Post, str]]  # the posts still to post, with their request fingerprints
    client_ids: set[int]  # the balance rows to lock: client accounts, and any whose hold is released


@dataclass
class _Locked:
    balances: dict[int, Balance]
    holds: dict[int, Hold]


def _plan(posts: Sequence[Post]) -> _Plan:
    """Check every post (balanced, two lines or more, keys distinct), and find the ones already
    posted: one read, no lock."""
    fingerprints = []
    for post in posts:
        _check_lines(post.lines)
        fingerprints.append(post.fingerprint())
    keys = [post.key for post in posts]
    if len(set(keys)) != len(keys):
        raise IdempotencyConflict(next(k for k in keys if keys.count(k) > 1))
    existing = {e.idempotency_key: e for e in JournalEntry.objects.filter(idempotency_key__in=keys)} if posts else {}
    for post, fingerprint in zip(posts, fingerprints, strict=True):
        if post.key in existing and existing[post.key].request_hash != fingerprint:
            raise IdempotencyConflict(post.key)
    todo = [(post, fp) for post, fp in zip(posts, fingerprints, strict=True) if post.key not in existing]
    client_ids = {line.account.pk for post, _ in todo for line in post.lines if line.account.is_client}
    client_ids |= {post.release_hold.account_id for post, _ in todo if post.release_hold is not None}
    return _Plan(keys=keys, existing=existing, todo=todo, client_ids=client_ids)


def _lock(plan: _Plan) -> _Locked:
    """Lock the client balances the posts touch (account-id order), then the holds they release (id
    order), as ``hold_release`` does. House balances are not locked here: see ``_write``."""
    balances = balances_lock(plan.client_ids)
    hold_ids = sorted({post.release_hold.pk for post, _ in plan.todo if post.release_hold is not None})
    return _Locked(balances=balances, holds={pk: hold_lock(pk) for pk in hold_ids})


def _write(plan: _Plan, locked: _Locked) -> dict[str, JournalEntry]:
    """Apply the posts to the locked client balances (refusing any that would take an available
    balance below zero), insert the entries and their postings, save the balances, and add each
    house account's lines to one of its balance buckets (``house_balance_add``): a few shared rows
    that every payment posts to, spread so that concurrent payments do not wait for each other.
    Returns the new entries by key."""
    balances, now = locked.balances, timezone.now()
    house: dict[int, tuple[Decimal, int]] = {}  # account id -> (change in its own direction, postings)
    for post, _ in plan.todo:
        if post.release_hold is not None:
            hold = locked.holds[post.release_hold.pk]
            if hold.status != HoldStatus.ACTIVE:
                raise PaymentError(errors.HOLD_NOT_ACTIVE.format(hold=hold.pk, status=hold.status))
            hold.status = HoldStatus.CAPTURED
            hold.closed_at = now
            hold.save(update_fields=["status", "closed_at"])
            balances[hold.account_id].held -= hold.amount
        for line in post.lines:
            if line.account.pk not in balances:
                total, count = house.get(line.account.pk, (Decimal(0), 0))
                house[line.account.pk] = (total + line.account.sign * line.amount, count + 1)
                continue
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
    actor = current_actor()
    entries = [
        JournalEntry(
            idempotency_key=post.key,
            request_hash=fingerprint,
            kind=post.kind,
            memo=post.memo[:300],
            source=post.source,
            reverses=post.reverses,
            actor_label=actor.label if actor else "unknown",
            created_at=now,
        )
        for post, fingerprint in plan.todo
    ]
    try:
        with transaction.atomic():
            JournalEntry.objects.bulk_create(entries)
    except IntegrityError:  # a key posted by a concurrent transaction a moment ago
        keys = plan.keys
        taken = set(JournalEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
        raise IdempotencyConflict(next((k for k in keys if k in taken), keys[0])) from None
    Posting.objects.bulk_create(
        [
            Posting(entry=entry, account=line.account, currency=line.account.currency, amount=line.amount)
            for entry, (post, _) in zip(entries, plan.todo, strict=True)
            for line in post.lines
        ]
    )
    if balances:
        fast_update_rows(list(balances.values()), Balance, ["ledger", "held", "postings_count", "updated_at"])
    for account_id in sorted(house):
        total, count = house[account_id]
        house_balance_add(account_id=account_id, amount=total, postings=count, at=now)
    return {entry.idempotency_key: entry for entry in entries}


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


_BALANCE_OF_SQL = """
    SELECT b.account_id, b.currency, b.ledger + COALESCE(k.ledger, 0) AS ledger, b.held, b.non_negative, b.sign,
           b.postings_count + COALESCE(k.n, 0) AS postings_count, GREATEST(b.updated_at, k.updated_at) AS updated_at
    FROM payments_balance b
    LEFT JOIN LATERAL (SELECT SUM(ledger) AS ledger, SUM(postings_count) AS n, MAX(updated_at) AS updated_at
                       FROM payments_balancebucket WHERE account_id = b.account_id) k ON true
    WHERE b.account_id = %s
"""


def balance_of(account: LedgerAccount | int) -> Balance:
    """Constant time, one read: the account's balance row, plus its buckets' for a house account
    (a Balance to read, not to save)."""
    account_id = account.pk if isinstance(account, LedgerAccount) else account
    rows = list(Balance.objects.raw(_BALANCE_OF_SQL, [account_id]))
    if not rows:
        raise Balance.DoesNotExist(f"no balance row for ledger account {account_id}")
    return rows[0]


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
    SELECT a.code, b.ledger + COALESCE(k.ledger, 0), b.sign * COALESCE(s.total, 0), b.held, COALESCE(h.total, 0),
           b.postings_count + COALESCE(k.n, 0), COALESCE(s.n, 0)
    FROM payments_balance b
    JOIN payments_ledgeraccount a ON a.id = b.account_id
    LEFT JOIN (SELECT account_id, SUM(amount) AS total, COUNT(*) AS n FROM payments_posting GROUP BY account_id) s
        ON s.account_id = b.account_id
    LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM payments_hold WHERE status = 'active' GROUP BY account_id) h
        ON h.account_id = b.account_id
    LEFT JOIN (SELECT account_id, SUM(ledger) AS ledger, SUM(postings_count) AS n FROM payments_balancebucket
               GROUP BY account_id) k
        ON k.account_id = b.account_id
    WHERE b.ledger + COALESCE(k.ledger, 0) <> b.sign * COALESCE(s.total, 0) OR b.held <> COALESCE(h.total, 0)
       OR b.postings_count + COALESCE(k.n, 0) <> COALESCE(s.n, 0) OR b.currency <> a.currency
    ORDER BY a.code LIMIT 50
"""
# House accounts post to their buckets (a missing one is refused at posting); a client account's
# balance must be its one row, which carries the non-negative check.
VERIFY_BUCKETS_SQL = f"""
    SELECT a.code, a.kind IN ('client_wallet', 'trading'), COUNT(k.id) FROM payments_ledgeraccount a
    LEFT JOIN payments_balancebucket k ON k.account_id = a.id
    GROUP BY a.id, a.code, a.kind
    HAVING COUNT(k.id) <> CASE WHEN a.kind IN ('client_wallet', 'trading') THEN 0 ELSE {HOUSE_BALANCE_BUCKETS} END
    ORDER BY a.code LIMIT 50
"""  # noqa: S608 - a constant
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
    account's currency, every balance (its row plus, for a house account, its buckets) equal to the
    sum of its postings and its holds. Runs in
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
        cursor.execute(VERIFY_NO_BALANCE_SQL)
        breaks += [f"account {code} has no balance row" for (code,) in cursor.fetchall()]
        cursor.execute(VERIFY_BUCKETS_SQL)
        for code, is_client, n in cursor.fetchall():
            what = "a client account's balance is its one row" if is_client else f"expected {HOUSE_BALANCE_BUCKETS}"
            breaks.append(f"account {code} has {n} balance buckets ({what})")
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
