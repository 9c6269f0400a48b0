"""Partner commissions in the ledger: posted, released after the hold period, paid out to the
partner's own wallet, adjusted, clawed back.

The money path (issue 15): commission expense → the partner's pending payable (``ib-pending``) →
its available payable (``ib-payable``) once the plan's hold period is over → the partner's own
client wallet (an approved payout, ``ib.commission_payout``), from which the partner withdraws
through the ordinary withdrawal flow. A client rebate is paid to the client's wallet when it is
posted. What a line did to the ledger is its ``entry``; its ``status`` says where its money is:

- pending: in the pending payable; available: in the available payable; paid: moved to a wallet;
- reversed: clawed back (the original and, unless the original was already paid, its clawback
  line: the two cancel in the payable they were in). A paid original's clawback stays
  *available* with its negative amount: the partner owes it, and the next payout nets it.

So each partner's payable balances equal the sums of its posted lines by status
(``partner_payables``), which the tests check after every step, with ``ledger_verify``.

Every step that moves line money takes one transaction-scoped advisory lock (``_money_lock``):
two posting runs, a release and a clawback never interleave, so no line is posted or moved twice;
idempotency keys (the hash of the lines' ids) make a replay return the entry already posted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from accounts.models import Client
from audit.actions import AuditAction
from audit.services import Change, audit_record, audit_record_many
from ib import errors
from ib.errors import PartnerError
from ib.models import CommissionLine, Dispute, LineKind, LineStatus, Partner
from ops.events import EventType
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.events import Event, event_publish_many
from payments.currencies import currency_check, money_parse, money_str
from payments.errors import PaymentError
from payments.models import EntryKind, JournalEntry, LedgerAccount
from payments.services.ledger import (
    Line,
    Post,
    balance_of,
    commission_expense_account,
    credit,
    debit,
    ledger_post_many,
    partner_payable_account,
    wallet_for,
)

POST_CHUNK = 20_000
_MONEY_LOCK = 0x69625F6D6F6E6579  # "ib_money"


def _money_lock() -> None:
    """Serialise every step that moves commission lines' money (see the module's docstring)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MONEY_LOCK])


def _key(prefix: str, ids: Iterable[int]) -> str:
    digest = hashlib.sha256(",".join(str(i) for i in sorted(ids)).encode()).hexdigest()[:40]
    return f"commission:{prefix}:{digest}"


# --- accounts -----------------------------------------------------------------------------------


def partner_pending_account(partner: Partner, currency: str) -> LedgerAccount:
    return partner_payable_account(
        partner_id=partner.pk, partner_code=partner.code, partner_name=partner.name, currency=currency, available=False
    )


def partner_available_account(partner: Partner, currency: str) -> LedgerAccount:
    return partner_payable_account(
        partner_id=partner.pk, partner_code=partner.code, partner_name=partner.name, currency=currency, available=True
    )


@dataclass(frozen=True)
class Payables:
    """A partner's payables in one currency: the ledger's balances and its lines' sums by status."""

    currency: str
    pending: Decimal  # ledger balance of ib-pending
    available: Decimal  # ledger balance of ib-payable
    lines_pending: Decimal
    lines_available: Decimal
    lines_paid: Decimal
    lines_reversed: Decimal

    @property
    def agree(self) -> bool:
        return self.pending == self.lines_pending and self.available == self.lines_available


def _account_balance(code: str) -> Decimal:
    account = LedgerAccount.objects.filter(code=code).first()
    return balance_of(account).ledger if account is not None else Decimal("0")


def partner_payables(partner: Partner) -> list[Payables]:
    """Per currency the partner has lines in: what the ledger says it is owed, pending and
    available, beside the sums of its posted lines by status."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    rows = (
        CommissionLine.objects.filter(partner=partner, entry__isnull=False)
        .values("currency", "status")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in rows:
        sums[row["currency"]][row["status"]] += row["total"]
    result = []
    for currency in sorted(sums):
        by = sums[currency]
        result.append(
            Payables(
                currency=currency,
                pending=_account_balance(f"ib-pending:{partner.code}:{currency}"),
                available=_account_balance(f"ib-payable:{partner.code}:{currency}"),
                lines_pending=by[LineStatus.PENDING],
                lines_available=by[LineStatus.AVAILABLE],
                lines_paid=by[LineStatus.PAID],
                lines_reversed=by[LineStatus.REVERSED],
            )
        )
    return result


# --- posting ------------------------------------------------------------------------------------


@dataclass
class _Group:
    partner_id: int | None
    client_id: int | None
    currency: str
    status: str
    ids: list[int] = field(default_factory=list)
    plus: Decimal = Decimal("0")
    minus: Decimal = Decimal("0")  # as a positive number


def _moves(source: LedgerAccount, target: LedgerAccount, group: _Group) -> list[Line]:
    """Lines moving the group's net from ``source`` (debited) to ``target`` (credited): the
    positive lines one way and the negative ones back, each side only when not zero."""
    lines: list[Line] = []
    if group.plus:
        lines += [debit(source, group.plus), credit(target, group.plus)]
    if group.minus:
        lines += [credit(source, group.minus), debit(target, group.minus)]
    return lines


def _groups(rows: Sequence[tuple[int, int | None, int, str, str, Decimal]]) -> list[_Group]:
    groups: dict[tuple[int | None, int, str, str], _Group] = {}
    for pk, partner_id, client_id, currency, status, amount in rows:
        # a rebate (no partner) is the client's; a partner's lines are grouped for the whole partner
        key = (partner_id, client_id if partner_id is None else 0, currency, status)
        group = groups.setdefault(key, _Group(partner_id, client_id, currency, status))
        group.ids.append(pk)
        if amount > 0:
            group.plus += amount
        else:
            group.minus -= amount
    return list(groups.values())


def _post_rows(rows: Sequence[tuple[int, int | None, int, str, str, Decimal]], *, memo: str) -> int:
    """Post unposted lines (id, partner, client, currency, status, amount): one entry per
    beneficiary, currency and status. Commission expense is debited; a partner's pending (or,
    for an adjustment, available) payable is credited; a rebate is credited to the client's wallet
    and is paid. Sets the lines' ``entry``; returns how many lines were posted."""
    groups = [g for g in _groups(rows) if g.plus or g.minus]
    if not groups:
        return 0
    partners = Partner.objects.in_bulk({g.partner_id for g in groups if g.partner_id is not None})
    clients = Client.objects.in_bulk({g.client_id for g in groups if g.partner_id is None})
    posts = []
    for group in groups:
        expense = commission_expense_account(group.currency)
        if group.partner_id is None:
            client = clients[group.client_id]
            target = wallet_for(client=client, currency=group.currency)
            what = f"rebates to {client.display_name}"
        else:
            partner = partners[group.partner_id]
            available = group.status == LineStatus.AVAILABLE
            target = (partner_available_account if available else partner_pending_account)(partner, group.currency)
            what = f"commissions of {partner.name}"
        posts.append(
            Post(
                key=_key("post", group.ids),
                kind=EntryKind.COMMISSION,
                memo=f"{memo}: {len(group.ids)} {what}",
                lines=_moves(expense, target, group),
                source="ib.commissionline",
            )
        )
    entries = ledger_post_many(posts)
    changes = []
    for group, entry in zip(groups, entries, strict=True):
        updates: dict[str, Any] = {"entry": entry}
        if group.partner_id is None:
            updates["status"] = LineStatus.PAID  # a rebate is paid to the client's wallet as it is posted
        CommissionLine.objects.filter(pk__in=group.ids, entry__isnull=True).update(**updates)
        subject: Any = partners[group.partner_id] if group.partner_id is not None else clients[group.client_id]
        changes.append(
            Change(
                action=AuditAction.COMMISSIONS_POSTED,
                subject=subject,
                after={
                    "entry": entry.pk,
                    "lines": len(group.ids),
                    "currency": group.currency,
                    "amount": str(group.plus - group.minus),
                    "status": group.status,
                },
            )
        )
    audit_record_many(changes)
    # Partners' systems hear of what they earned (the outbox, in this transaction): one event per
    # partner, currency and status posted.
    event_publish_many(
        [
            Event(
                EventType.IB_COMMISSION_POSTED,
                partners[g.partner_id],
                {
                    "partner": partners[g.partner_id].code,
                    "currency": g.currency,
                    "amount": str(g.plus - g.minus),
                    "lines": len(g.ids),
                    "status": g.status,
                    "entry": entry.pk,
                },
            )
            for g, entry in zip(groups, entries, strict=True)
            if g.partner_id is not None
        ]
    )
    return sum(len(g.ids) for g in groups)


def _unposted(run_id: int | None) -> Any:
    lines = CommissionLine.objects.filter(
        entry__isnull=True, status__in=[LineStatus.PENDING, LineStatus.AVAILABLE]
    ).exclude(amount=0)
    if run_id is not None:
        lines = lines.filter(run_id=run_id)
    return lines


@transaction.atomic(durable=True)
def _post_chunk(run_id: int | None) -> tuple[int, bool]:
    _money_lock()
    rows = list(
        _unposted(run_id)
        .order_by("id")
        .values_list("id", "partner_id", "client_id", "currency", "status", "amount")[:POST_CHUNK]
    )
    if not rows:
        return 0, True
    return _post_rows(rows, memo="Commissions"), len(rows) < POST_CHUNK


def commission_lines_post(*, run_id: int | None = None) -> int:
    """Post every line not yet in the ledger (of one run, or all): one journal entry per
    beneficiary, currency and status, in chunks of ``POST_CHUNK`` lines, each chunk its own
    transaction. Idempotent, and safe to run twice at once (the second waits, then finds nothing
    left). Returns the number of lines posted."""
    posted = 0
    while True:
        count, done = _post_chunk(run_id)
        posted += count
        if done:
            return posted


# --- release --------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def _release_chunk(today: date) -> tuple[int, bool]:
    _money_lock()
    rows = list(
        CommissionLine.objects.filter(
            status=LineStatus.PENDING, entry__isnull=False, partner__isnull=False, available_on__lte=today
        )
        .order_by("id")
        .values_list("id", "partner_id", "client_id", "currency", "status", "amount")[:POST_CHUNK]
    )
    if not rows:
        return 0, True
    groups = _groups(rows)
    partners = Partner.objects.in_bulk({g.partner_id for g in groups})
    posts, moving = [], []
    for group in groups:
        assert group.partner_id is not None
        partner = partners[group.partner_id]
        if group.plus or group.minus:
            pending = partner_pending_account(partner, group.currency)
            available = partner_available_account(partner, group.currency)
            posts.append(
                Post(
                    key=_key("release", group.ids),
                    kind=EntryKind.COMMISSION_RELEASE,
                    memo=f"{len(group.ids)} commissions of {partner.name} out of their hold period",
                    lines=_moves(pending, available, group),
                    source="ib.commissionline",
                )
            )
            moving.append(group)
    entries = ledger_post_many(posts)
    CommissionLine.objects.filter(pk__in=[pk for g in groups for pk in g.ids]).update(status=LineStatus.AVAILABLE)
    audit_record_many(
        [
            Change(
                action=AuditAction.COMMISSIONS_RELEASED,
                subject=partners[g.partner_id],
                after={"entry": e.pk, "lines": len(g.ids), "currency": g.currency, "amount": str(g.plus - g.minus)},
            )
            for g, e in zip(moving, entries, strict=True)
        ]
    )
    return len(rows), len(rows) < POST_CHUNK


def commissions_release_due(*, today: date) -> int:
    """Lines pending whose hold period ends on or before ``today`` become available: one entry per
    partner and currency moves them from the pending to the available payable (daily, Celery
    beat). Returns the number of lines released."""
    released = 0
    while True:
        count, done = _release_chunk(today)
        released += count
        if done:
            return released


# --- payout ---------------------------------------------------------------------------------------

PAYOUT_ACTION = "ib.commission_payout"


def payout_pending(partner: Partner) -> ApprovalRequest | None:
    from ops.selectors import approval_pending

    return approval_pending(PAYOUT_ACTION, partner)


def _available_lines(partner: Partner, currency: str) -> Any:
    return CommissionLine.objects.filter(
        partner=partner, currency=currency, status=LineStatus.AVAILABLE, entry__isnull=False
    )


@dataclass(frozen=True)
class PayoutQuote:
    currency: str
    amount: Decimal
    through_line: int
    lines: int


def commission_payout_quote(partner: Partner, currency: str) -> PayoutQuote:
    """What a payout would pay now: the available lines' sum (negative clawbacks net it)."""
    agg = _available_lines(partner, currency).aggregate(total=Sum("amount"), last=Max("id"))
    count = _available_lines(partner, currency).count()
    return PayoutQuote(currency, agg["total"] or Decimal("0"), agg["last"] or 0, count)


def commission_payout_can_request(actor: User, partner: Partner) -> Decision:
    """Ask for a partner's available commissions to be paid to its own wallet (finance; a second
    finance officer approves)."""
    if not actor.is_authenticated or not (actor.has_perm("ops.view_partners") and actor.has_perm(
        "ops.handle_withdrawals"
    )):  # fmt: skip
        return deny(errors.NOT_ALLOWED_PAYOUT)
    if partner.client_id is None:
        return deny(errors.PARTNER_HAS_NO_CLIENT.format(partner=partner.name))
    if payout_pending(partner) is not None:
        return deny(errors.PAYOUT_PENDING.format(partner=partner.name))
    return ALLOWED


def commission_payout_request(*, partner: Partner, currency: str, actor: User, reason: str) -> ApprovalRequest:
    """Open the payout request for what is available now (its own transaction)."""
    from ops.services.approvals import approval_submit

    commission_payout_can_request(actor, partner).require(PartnerError)
    currency = currency_check(currency)
    quote = commission_payout_quote(partner, currency)
    if quote.amount <= 0:
        raise PartnerError(
            errors.NOTHING_TO_PAY.format(
                partner=partner.name, currency=currency, amount=money_str(quote.amount, currency)
            )
        )
    payload = {"currency": currency, "amount": str(quote.amount), "through_line": quote.through_line}
    return approval_submit(action=PAYOUT_ACTION, subject=partner, payload=payload, maker=actor, reason=reason)


def commission_payout_check(partner: Partner, payload: dict[str, Any]) -> tuple[str, Decimal, int]:
    """The payload's currency, amount and last line, checked against the partner as it is now."""
    if partner.client_id is None:
        raise PartnerError(errors.PARTNER_HAS_NO_CLIENT.format(partner=partner.name))
    try:
        currency = currency_check(str(payload["currency"]))
        amount = money_parse(str(payload["amount"]), currency)
        through = int(payload["through_line"])
    except (KeyError, TypeError, ValueError, PaymentError) as exc:
        raise PartnerError(f"The payout request is malformed: {exc}") from None
    now = _available_lines(partner, currency).filter(id__lte=through).aggregate(total=Sum("amount"))["total"]
    if now != amount:
        raise PartnerError(
            errors.PAYOUT_CHANGED.format(
                partner=partner.name, asked=money_str(amount, currency), now=money_str(now or Decimal(0), currency)
            )
        )
    return currency, amount, through


@transaction.atomic
def commission_payout_execute(*, partner: Partner, payload: dict[str, Any], request: ApprovalRequest) -> JournalEntry:
    """Carry out an approved payout (in the approval's transaction): the available payable is
    debited and the partner's own client wallet credited; the lines paid are marked paid."""
    _money_lock()
    partner = Partner.objects.select_related("client").get(pk=partner.pk)
    currency, amount, through = commission_payout_check(partner, payload)
    assert partner.client is not None
    ids = list(_available_lines(partner, currency).filter(id__lte=through).values_list("id", flat=True))
    (entry,) = ledger_post_many(
        [
            Post(
                key=f"commission:payout:{request.pk}",
                kind=EntryKind.COMMISSION_PAYOUT,
                memo=f"Commissions of {partner.name} paid to its wallet (approval #{request.pk})",
                lines=[
                    debit(partner_available_account(partner, currency), amount),
                    credit(wallet_for(client=partner.client, currency=currency), amount),
                ],
                source=f"ops.approvalrequest:{request.pk}",
            )
        ]
    )
    CommissionLine.objects.filter(pk__in=ids).update(status=LineStatus.PAID)
    audit_record(
        action=AuditAction.COMMISSION_PAID_OUT,
        subject=partner,
        after={"entry": entry.pk, "amount": str(amount), "currency": currency, "lines": len(ids),
               "wallet": f"wallet:{partner.client.reference}:{currency}", "approval": request.pk},
    )  # fmt: skip
    return entry


# --- adjustments ------------------------------------------------------------------------------------


def adjustment_amount(value: Any, currency: str) -> Decimal:
    """A signed amount in ``currency`` (money_parse takes only positive ones)."""
    text = str(value if value is not None else "").strip()
    negative = text.startswith("-")
    try:
        amount = money_parse(text.lstrip("-").strip(), currency)
    except PaymentError:
        if text.lstrip("-").strip() in ("0", "0.0", "0.00"):
            raise PartnerError(errors.ADJUSTMENT_ZERO) from None
        raise PartnerError(errors.BAD_AMOUNT.format(value=text, currency=currency)) from None
    return -amount if negative else amount


ADJUSTMENT_ACTION = "ib.commission_adjustment"


def commission_adjustment_can_request(actor: User) -> Decision:
    """Ask for a manual adjustment or override of a partner's commission (support or finance
    asks, finance approves; the maker never approves their own)."""
    if not actor.is_authenticated or not (
        actor.has_perm("ops.view_partners") and actor.has_perm("ops.handle_ib_disputes")
    ):
        return deny(errors.NOT_ALLOWED_ADJUST)
    return ALLOWED


def commission_adjustment_request(
    *,
    partner: Partner,
    amount: Any,
    currency: str,
    reason: str,
    actor: User,
    line: CommissionLine | None = None,
    client: Client | None = None,
) -> ApprovalRequest:
    """Ask for an adjustment outside a dispute (a dispute's goes through
    ``dispute_propose_adjustment``), positive or negative, about a line or a client of the partner."""
    from ops.services.approvals import approval_submit

    commission_adjustment_can_request(actor).require(PartnerError)
    currency = currency_check(currency)
    value = adjustment_amount(amount, currency)
    if not (reason or "").strip():
        raise PartnerError(errors.ADJUSTMENT_REASON)
    client_id = line.client_id if line is not None else (client.pk if client is not None else None)
    if client_id is None:
        raise PartnerError(errors.ADJUSTMENT_NEEDS_CLIENT)
    payload = {"partner": partner.pk, "amount": str(value), "currency": currency, "client": client_id,
               "line": line.pk if line is not None else None, "dispute": None, "reason": reason.strip()}  # fmt: skip
    return approval_submit(action=ADJUSTMENT_ACTION, subject=partner, payload=payload, maker=actor, reason=reason)


@transaction.atomic
def commission_adjustment_apply(
    *,
    partner: Partner,
    amount: Decimal,
    currency: str,
    reason: str,
    client: Client,
    line: CommissionLine | None = None,
    dispute: Dispute | None = None,
    request: ApprovalRequest | None = None,
) -> CommissionLine:
    """An approved adjustment (in the approval's transaction): an ADJUSTMENT line for the partner,
    available at once (a correction has no hold period), posted to the ledger like any line."""
    if amount == 0:
        raise PartnerError(errors.ADJUSTMENT_ZERO)
    _money_lock()
    today = timezone.localdate()
    adjustment = CommissionLine.objects.create(
        kind=LineKind.ADJUSTMENT,
        client=client,
        partner=partner,
        level=line.level if line is not None and line.partner_id == partner.pk else 0,
        plan_version=line.plan_version if line is not None else None,
        rule=line.rule if line is not None else None,
        earned_on=today,
        base_amount=amount,
        base_currency=currency,
        amount=amount,
        currency=currency,
        tree=list(line.tree) if line is not None else [partner.pk],
        status=LineStatus.AVAILABLE,
        available_on=today,
        dispute=dispute,
    )
    _post_rows(
        [(adjustment.pk, partner.pk, client.pk, currency, LineStatus.AVAILABLE, amount)],
        memo=f"Adjustment{f' of dispute {dispute.reference}' if dispute else ''} (approval #{request.pk if request else '-'})",
    )
    adjustment.refresh_from_db()
    audit_record(
        action=AuditAction.COMMISSION_ADJUSTED,
        subject=partner,
        after={"line": adjustment.pk, "amount": str(amount), "currency": currency, "entry": adjustment.entry_id,
               "dispute": dispute.reference if dispute else None, "approval": request.pk if request else None},
        reason=reason,
    )  # fmt: skip
    return adjustment


# --- clawback -------------------------------------------------------------------------------------


@transaction.atomic
def commissions_claw_back(*, deposit: Any, reason: str) -> list[CommissionLine]:
    """The deposit that qualified CPA lines was reversed: each such line is reversed by a CLAWBACK
    line (``reverses`` = the original, the negative amount) and an entry moving the money from
    the payable it is in (pending or available; a paid one from the available payable, which may
    go below zero: the partner owes it) back to commission expense. Called by payments' deposit
    reversal hook in the reversal's transaction; a second call finds nothing left to reverse."""
    _money_lock()
    originals = list(
        CommissionLine.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(qualifying_deposit=deposit, kind__in=[LineKind.CPA, LineKind.RESTORE])
        .exclude(status=LineStatus.REVERSED)
        .filter(reversed_by__isnull=True)
        .order_by("id")
    )
    today = timezone.localdate()
    made, posts, posted_for = [], [], []
    for original in originals:
        assert original.partner is not None
        paid = original.status == LineStatus.PAID
        clawback = CommissionLine.objects.create(
            kind=LineKind.CLAWBACK, client_id=original.client_id, partner=original.partner, level=original.level,
            plan_version_id=original.plan_version_id, rule_id=original.rule_id, earned_on=today,
            base_amount=-original.base_amount, base_currency=original.base_currency, fx_rate=original.fx_rate,
            fx_at=original.fx_at, amount=-original.amount, currency=original.currency, tree=original.tree,
            status=LineStatus.AVAILABLE if paid else LineStatus.REVERSED, available_on=today,
            reverses=original, qualifying_deposit=deposit,
        )  # fmt: skip
        if original.entry_id is not None:
            account = (
                partner_pending_account(original.partner, original.currency)
                if original.status == LineStatus.PENDING
                else partner_available_account(original.partner, original.currency)
            )
            posts.append(
                Post(
                    key=f"commission:clawback:{original.pk}",
                    kind=EntryKind.COMMISSION,
                    memo=f"CPA of {original.partner.name} clawed back: deposit {deposit.reference} {reason}"[:300],
                    lines=_moves(
                        commission_expense_account(original.currency),
                        account,
                        _Group(original.partner_id, original.client_id, original.currency, "", minus=original.amount),
                    ),
                    source=f"payments.deposit:{deposit.pk}",
                )
            )
            posted_for.append(clawback)
        original.status = LineStatus.REVERSED
        original.save(update_fields=["status"])
        made.append(clawback)
    for clawback, entry in zip(posted_for, ledger_post_many(posts), strict=True):
        clawback.entry = entry
        clawback.save(update_fields=["entry"])
    audit_record_many(
        [
            Change(
                action=AuditAction.COMMISSION_CLAWED_BACK,
                subject=c.partner,  # type: ignore[arg-type]
                after={
                    "line": c.pk,
                    "reverses": c.reverses_id,
                    "amount": str(c.amount),
                    "currency": c.currency,
                    "entry": c.entry_id,
                    "deposit": deposit.reference,
                },
                reason=reason,
            )
            for c in made
        ]
    )
    return made


def deposit_reversed_hook(deposit: Any, reason: str) -> None:
    """Registered with payments' deposit reversal hooks (``ib/apps.py``)."""
    commissions_claw_back(deposit=deposit, reason=reason)


@transaction.atomic
def commissions_restore(*, deposit: Any, reason: str) -> list[CommissionLine]:
    """The reversal that clawed the deposit's CPA back is undone (its chargeback was won): each
    clawback not yet restored is reversed by a RESTORE line (``reverses`` = the clawback, the
    original's amount) and an entry moving the money from commission expense back to the payable
    the original would be in now (pending while its hold period lasts, else available; a paid
    original's restore is available, netting the clawback the partner owed). A clawback of a line
    never posted gets an unposted restore line, posted by the next posting run as the original would
    have been. Called by payments' reinstatement hook in the chargeback's transaction; the one-to-one
    ``reverses`` and the money lock make a second call (a repeated "won", a retry) restore nothing."""
    _money_lock()
    clawbacks = list(
        CommissionLine.objects.select_for_update(of=("self",))
        .select_related("partner", "reverses")
        .filter(qualifying_deposit=deposit, kind=LineKind.CLAWBACK, reversed_by__isnull=True)
        .order_by("id")
    )
    today = timezone.localdate()
    made, posts, posted_for = [], [], []
    for clawback in clawbacks:
        original = clawback.reverses
        assert original is not None and clawback.partner is not None
        holding = original.available_on is not None and original.available_on > today
        restore = CommissionLine.objects.create(
            kind=LineKind.RESTORE, client_id=clawback.client_id, partner=clawback.partner, level=clawback.level,
            plan_version_id=clawback.plan_version_id, rule_id=clawback.rule_id, earned_on=today,
            base_amount=-clawback.base_amount, base_currency=clawback.base_currency, fx_rate=clawback.fx_rate,
            fx_at=clawback.fx_at, amount=-clawback.amount, currency=clawback.currency, tree=clawback.tree,
            status=LineStatus.PENDING if holding else LineStatus.AVAILABLE,
            available_on=original.available_on if holding else today, reverses=clawback, qualifying_deposit=deposit,
        )  # fmt: skip
        if original.entry_id is not None:
            account = (partner_pending_account if holding else partner_available_account)(
                clawback.partner, clawback.currency
            )
            posts.append(
                Post(
                    key=f"commission:restore:{clawback.pk}",
                    kind=EntryKind.COMMISSION,
                    memo=f"CPA of {clawback.partner.name} restored: deposit {deposit.reference} {reason}"[:300],
                    lines=_moves(
                        commission_expense_account(clawback.currency),
                        account,
                        _Group(clawback.partner_id, clawback.client_id, clawback.currency, "", plus=restore.amount),
                    ),
                    source=f"payments.deposit:{deposit.pk}",
                )
            )
            posted_for.append(restore)
        made.append(restore)
    for restore, entry in zip(posted_for, ledger_post_many(posts), strict=True):
        restore.entry = entry
        restore.save(update_fields=["entry"])
    audit_record_many(
        [
            Change(
                action=AuditAction.COMMISSION_RESTORED,
                subject=r.partner,  # type: ignore[arg-type]
                after={
                    "line": r.pk,
                    "reverses": r.reverses_id,
                    "amount": str(r.amount),
                    "currency": r.currency,
                    "status": r.status,
                    "entry": r.entry_id,
                    "deposit": deposit.reference,
                },
                reason=reason,
            )
            for r in made
        ]
    )
    return made


def deposit_reinstated_hook(deposit: Any, reason: str) -> None:
    """Registered with payments' deposit reinstatement hooks (``ib/apps.py``)."""
    commissions_restore(deposit=deposit, reason=reason)


def partner_lines(partner: Partner) -> Any:
    return CommissionLine.objects.filter(Q(partner=partner)).select_related("deal", "client")
