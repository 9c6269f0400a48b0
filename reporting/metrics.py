"""The definitions behind every figure of the reports, in one place: the pages, the exports, the
API and the snapshots compute each named figure here, so two numbers with one name never disagree.
Each definition's text is what the pages show beside the figure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Aggregate,
    Avg,
    BigIntegerField,
    Case,
    CharField,
    Count,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Client
from audit.actions import AuditAction
from audit.models import AuditEvent
from ib.models import Deal
from payments.models import (
    CLIENT_KINDS,
    AccountKind,
    Deposit,
    DepositStatus,
    EntryKind,
    Posting,
    Withdrawal,
    WithdrawalStatus,
)


@dataclass(frozen=True)
class Metric:
    code: str
    label: str
    definition: str


METRICS: dict[str, Metric] = {
    m.code: m
    for m in (
        Metric("registrations", "New registrations", "Clients registered in the period (their record's creation)."),
        Metric(
            "approval_rate",
            "Approval rate",
            "Of the clients registered in the period, the share approved at least once (an approval in the audit trail) by the end of the period.",
        ),
        Metric(
            "pending_documents",
            "Pending additional documents",
            "Clients whose status is now 'pending additional documents'.",
        ),
        Metric("closed", "Closed accounts", "Clients closed in the period (a closing in the audit trail)."),
        Metric(
            "ftd",
            "First-time deposit (FTD)",
            "A client's first deposit credited to the client (by the time it was credited). A client has at most one; a deposit held for review counts from its release.",
        ),
        Metric(
            "net_deposit",
            "Net deposits",
            "From the ledger: money credited to client accounts by deposits (and releases from suspense) minus money debited from them by paid withdrawals, reversals of either included, by the time of the journal entry.",
        ),
        Metric("active_trader", "Active traders", "Clients with at least one deal closed in the period."),
        Metric(
            "deposit_success_rate",
            "Deposit success rate",
            "Deposits started in the period that were credited (or held then released), over those that reached an outcome (credited, failed, refunded); deposits still in progress are left out.",
        ),
        Metric(
            "withdrawal_processing_time",
            "Withdrawal processing time",
            "From the client's request to the payout confirmed paid, for withdrawals paid in the period (average and 90th percentile).",
        ),
        Metric(
            "time_to_kyc",
            "Time to KYC",
            "From registration to the first approval, for clients first approved in the period (median and 90th percentile).",
        ),
        Metric(
            "document_expiry_ratio",
            "Document expiry ratio",
            "Of the accepted documents with an expiry date, the share expired or expiring within 30 days of the period's end.",
        ),
        Metric("high_risk", "High-risk clients", "Clients whose risk level is now high or critical."),
        Metric(
            "sla_breach",
            "SLA breaches",
            "Work items resolved after their due time in the period, plus those open now and past their due time.",
        ),
        Metric(
            "client_money",
            "Client money owed",
            "The ledger balance of every client wallet and trading account (what the firm owes its clients), as of the end of the day.",
        ),
    )
}


def definition(code: str) -> str:
    return METRICS[code].definition


class Percentile(Aggregate):
    """``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``: Postgres' continuous percentile."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


class SecondsBetween(Func):
    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


def _client_subject() -> Any:
    return Cast(OuterRef("pk"), output_field=CharField())


def audit_client_event(action: AuditAction, *, before: datetime | None = None) -> QuerySet[AuditEvent]:
    """The audit events of one kind about the outer query's client (``OuterRef("pk")``)."""
    events = AuditEvent.objects.filter(subject_type="accounts.client", action=action, subject_id=_client_subject())
    if before is not None:
        events = events.filter(occurred_at__lt=before)
    return events


def approved_by(end: datetime) -> Exists:
    return Exists(audit_client_event(AuditAction.CLIENT_APPROVED, before=end))


def first_approved_at() -> Subquery:
    return Subquery(audit_client_event(AuditAction.CLIENT_APPROVED).order_by("occurred_at").values("occurred_at")[:1])


def client_events(action: AuditAction, clients: QuerySet[Client] | None = None) -> QuerySet[AuditEvent]:
    """The audit events of one kind about clients (about ``clients`` only, when given)."""
    events = AuditEvent.objects.filter(subject_type="accounts.client", action=action)
    if clients is not None:
        events = events.filter(subject_id__in=clients.values(id_text=Cast("pk", output_field=CharField())))
    return events


def clients_closed(clients: QuerySet[Client] | None, start: datetime, end: datetime) -> int:
    """How many clients (of ``clients``) were closed in [start, end) (see ``closed``): read from the
    period's closings, not by probing every client's trail."""
    closings = client_events(AuditAction.CLIENT_CLOSED, clients).filter(occurred_at__gte=start, occurred_at__lt=end)
    return closings.values("subject_id").distinct().count()


def time_to_kyc(clients: QuerySet[Client] | None, start: datetime, end: datetime) -> dict[str, float | None]:
    """Median and 90th percentile of ``time_to_kyc`` in seconds, with the number of clients, for the
    clients (of ``clients``) first approved in [start, end). Each client's first approval is the
    smallest of its approvals (one grouped pass over the approvals), its registration read per client."""
    firsts = (
        client_events(AuditAction.CLIENT_APPROVED, clients)
        .values("subject_id")
        .annotate(approved_at=Min("occurred_at"))
        .filter(approved_at__gte=start, approved_at__lt=end)
        .annotate(
            registered_at=Subquery(
                Client.objects.filter(pk=Cast(OuterRef("subject_id"), output_field=BigIntegerField())).values(
                    "created_at"
                )[:1]
            )
        )
    )
    duration = SecondsBetween(F("approved_at"), F("registered_at"))
    found = firsts.aggregate(median=Percentile(duration, 0.5), p90=Percentile(duration, 0.9), n=Count("subject_id"))
    return {"median": found["median"], "p90": found["p90"], "count": found["n"]}


# --- deposits -------------------------------------------------------------------------------------

CREDITED = (DepositStatus.CREDITED,)
OUTCOMES = (DepositStatus.CREDITED, DepositStatus.FAILED, DepositStatus.REFUNDED)


def credited_deposits() -> QuerySet[Deposit]:
    return Deposit.objects.filter(status__in=CREDITED, completed_at__isnull=False)


@dataclass(frozen=True)
class FirstDeposits:
    count: int
    by_currency: list[tuple[str, int, Decimal]]  # (currency, FTDs, their amount), currencies with any


def ftd_totals(clients: QuerySet[Client], start: datetime, end: datetime) -> FirstDeposits:
    """The FTDs of ``clients`` made in [start, end), counted and summed per currency: the clients
    with a credited deposit before ``end`` and none before ``start`` (a probe each into their
    credited deposits in time order, which an index holds), and for those their first one's
    currency and amount."""
    credited = credited_deposits().filter(client=OuterRef("pk"))
    first = credited.order_by("completed_at", "id")
    rows = (
        clients.filter(~Exists(credited.filter(completed_at__lt=start)), Exists(credited.filter(completed_at__lt=end)))
        .annotate(ftd_currency=Subquery(first.values("currency")[:1]), ftd_amount=Subquery(first.values("amount")[:1]))
        .values("ftd_currency")
        .annotate(n=Count("pk"), total=Sum("ftd_amount"))
        .order_by("ftd_currency")
    )
    by_currency = [(r["ftd_currency"], r["n"], r["total"]) for r in rows]
    return FirstDeposits(sum(n for _, n, _ in by_currency), by_currency)


def first_deposit_at() -> Subquery:
    return Subquery(
        credited_deposits().filter(client=OuterRef("pk")).order_by("completed_at", "id").values("completed_at")[:1]
    )


@dataclass(frozen=True)
class DepositOutcomes:
    started: int
    success: dict[str, tuple[int, int]]  # channel -> (succeeded, decided): see ``deposit_success_rate``
    failed: int
    failure_codes: list[tuple[str, int]]  # most frequent first
    refunded: int


def deposit_outcomes(deposits: QuerySet[Deposit]) -> DepositOutcomes:
    """What became of ``deposits``, from one grouped pass: how many, the success rate's counts per
    channel, the failed ones by failure code, the refunded ones."""
    rows = list(deposits.values("channel", "status", "failure_code").annotate(n=Count("id")).order_by())
    success: dict[str, list[int]] = {}
    codes: dict[str, int] = defaultdict(int)
    for r in sorted(rows, key=lambda r: r["channel"]):
        if r["status"] in OUTCOMES:
            counts = success.setdefault(r["channel"], [0, 0])
            counts[0] += r["n"] if r["status"] in CREDITED else 0
            counts[1] += r["n"]
        if r["status"] == DepositStatus.FAILED:
            codes[r["failure_code"]] += r["n"]
    return DepositOutcomes(
        started=sum(r["n"] for r in rows),
        success={channel: (ok, decided) for channel, (ok, decided) in success.items()},
        failed=sum(codes.values()),
        failure_codes=sorted(codes.items(), key=lambda x: (-x[1], x[0])),
        refunded=sum(r["n"] for r in rows if r["status"] == DepositStatus.REFUNDED),
    )


def rate(numerator: int, denominator: int) -> Decimal | None:
    """A share in percent with one decimal; None when nothing was decided."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"))


# --- withdrawals ----------------------------------------------------------------------------------


def withdrawals_paid(start: datetime, end: datetime) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(status=WithdrawalStatus.PAID, paid_at__gte=start, paid_at__lt=end)


@dataclass(frozen=True)
class WithdrawalOutcomes:
    started: int
    rejected: int
    failed: int
    failure_codes: list[tuple[str, int]]  # payouts the PSP or bank failed, most frequent code first


def withdrawal_outcomes(withdrawals: QuerySet[Withdrawal]) -> WithdrawalOutcomes:
    """What became of ``withdrawals``, from one grouped pass: how many, how many were rejected
    before payout, and the failed payouts by failure code."""
    rows = list(withdrawals.values("status", "failure_code").annotate(n=Count("id")).order_by())
    codes: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["status"] == WithdrawalStatus.FAILED:
            codes[r["failure_code"]] += r["n"]
    return WithdrawalOutcomes(
        started=sum(r["n"] for r in rows),
        rejected=sum(r["n"] for r in rows if r["status"] == WithdrawalStatus.REJECTED),
        failed=sum(codes.values()),
        failure_codes=sorted(codes.items(), key=lambda x: (-x[1], x[0])),
    )


def processing_seconds(withdrawals: QuerySet[Withdrawal]) -> dict[str, float | None]:
    duration = SecondsBetween(F("paid_at"), F("created_at"))
    found = withdrawals.aggregate(avg=Avg(duration), p90=Percentile(duration, 0.9), n=Count("id"))
    return {"avg": found["avg"], "p90": found["p90"], "count": found["n"]}


# --- the ledger -----------------------------------------------------------------------------------

DEPOSIT_KINDS = (EntryKind.DEPOSIT, EntryKind.DEPOSIT_RELEASE)
WITHDRAWAL_KINDS = (EntryKind.WITHDRAWAL,)


def client_postings() -> QuerySet[Posting]:
    return Posting.objects.filter(account__kind__in=CLIENT_KINDS)


def net_deposit_postings() -> QuerySet[Posting]:
    """Postings on client accounts of deposits, releases from suspense and paid withdrawals, and
    of the reversals of those."""
    kinds = (*DEPOSIT_KINDS, *WITHDRAWAL_KINDS)
    return client_postings().filter(
        Q(entry__kind__in=kinds) | Q(entry__kind=EntryKind.REVERSAL, entry__reverses__kind__in=kinds)
    )


@dataclass(frozen=True)
class NetDeposits:
    currency: str
    deposits: Decimal
    withdrawals: Decimal

    @property
    def net(self) -> Decimal:
        return self.deposits - self.withdrawals


def _deposit_side() -> Q:
    """Of ``net_deposit_postings()``, those on the deposits' side (the rest are withdrawals')."""
    return Q(entry__kind__in=DEPOSIT_KINDS) | Q(entry__reverses__kind__in=DEPOSIT_KINDS)


def net_deposit_channel() -> Coalesce:
    """The channel of a net-deposit posting: its deposit's or withdrawal's (for a reversal, the
    reversed one's); "" when none names it."""
    from payments.models import Withdrawal

    def of(model: Any, field: str, entry: str) -> Subquery:
        return Subquery(model.objects.filter(entry_id=OuterRef(entry)).values(field)[:1])

    return Coalesce(
        of(Deposit, "channel", "entry_id"), of(Withdrawal, "method", "entry_id"),
        of(Deposit, "channel", "entry__reverses_id"), of(Withdrawal, "method", "entry__reverses_id"),
        Value(""), output_field=CharField(),
    )  # fmt: skip


NET_DEPOSIT_DAYS = "net_deposit_days"  # its SummaryMark


def start_of(day: date) -> datetime:
    """The first moment of ``day`` in the reporting time zone (the one days are summed in)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def _day(moment: str) -> TruncDate:
    return TruncDate(moment, tzinfo=timezone.get_default_timezone())


def net_deposit_days(start: datetime | None, end: datetime) -> QuerySet[Any, dict[str, Any]]:
    """``net_deposit_postings()`` of the entries made in [start, end) summed per day, client, currency
    and channel: the rows of ``reporting.models.NetDepositDay``."""
    postings = net_deposit_postings().filter(entry__created_at__lt=end)
    if start is not None:
        postings = postings.filter(entry__created_at__gte=start)
    side = _deposit_side()
    return (
        postings.annotate(day=_day("entry__created_at"), channel=net_deposit_channel())
        .values("day", "account__client_id", "currency", "channel")
        .annotate(
            deposits=Sum("amount", filter=side, default=Decimal(0)),
            withdrawals=Sum("amount", filter=~side, default=Decimal(0)),
            postings=Count("id"),
        )
        .order_by()
    )


def net_deposits_by_bucket(
    *,
    date_from: date,
    date_to: date,
    bucket: Any,
    clients: QuerySet[Client] | None = None,
    currency: str = "",
    channel: str = "",
) -> list[tuple[Any, NetDeposits]]:
    """Net deposits per currency and time bucket (``bucket``: a ``Trunc`` class, applied to days)
    over the days [date_from, date_to], for some clients, one currency or one channel when given:
    (bucket, NetDeposits) ordered by currency and time. The days already summed are read from
    ``NetDepositDay``, the rest from the postings themselves, in one statement (one snapshot): the
    same figures as summing the postings alone. A credit to a client account is a negative posting
    (the ledger's convention: debit > 0)."""
    from reporting.models import NetDepositDay, SummaryMark

    summed = SummaryMark.objects.filter(name=NET_DEPOSIT_DAYS).values_list("through", flat=True).first()
    parts: list[QuerySet[Any]] = []
    if summed is not None and summed >= date_from:
        days = NetDepositDay.objects.filter(day__gte=date_from, day__lte=min(summed, date_to))
        days = days.filter(client__in=clients.values("pk")) if clients is not None else days
        days = days.filter(currency=currency) if currency else days
        days = days.filter(channel=channel) if channel else days
        parts.append(
            days.annotate(bucket=bucket("day", output_field=DateField()))
            .values("currency", "bucket")
            .annotate(dep=Sum("deposits"), wd=Sum("withdrawals"))
            .order_by()
        )
    tail_from = max(date_from, summed + timedelta(days=1)) if summed is not None else date_from
    if tail_from <= date_to:
        postings = net_deposit_postings().filter(
            entry__created_at__gte=start_of(tail_from), entry__created_at__lt=start_of(date_to + timedelta(days=1))
        )
        postings = postings.filter(account__client__in=clients.values("pk")) if clients is not None else postings
        postings = postings.filter(currency=currency) if currency else postings
        if channel:
            postings = postings.annotate(channel=net_deposit_channel()).filter(channel=channel)
        side = _deposit_side()
        parts.append(
            postings.annotate(bucket=bucket(_day("entry__created_at"), output_field=DateField()))
            .values("currency", "bucket")
            .annotate(
                dep=Sum("amount", filter=side, default=Decimal(0)), wd=Sum("amount", filter=~side, default=Decimal(0))
            )
            .order_by()
        )
    totals: dict[tuple[str, Any], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in parts[0].union(*parts[1:], all=True) if parts else []:
        total = totals[(r["currency"], r["bucket"])]
        total[0] += r["dep"]
        total[1] += r["wd"]
    return [(b, NetDeposits(c, -dep, wd)) for (c, b), (dep, wd) in sorted(totals.items())]


def net_deposit_totals(buckets: list[tuple[Any, NetDeposits]]) -> list[NetDeposits]:
    """The per-bucket figures of ``net_deposits_by_bucket`` summed per currency."""
    totals: dict[str, list[Decimal]] = {}
    for _, n in buckets:
        total = totals.setdefault(n.currency, [Decimal(0), Decimal(0)])
        total[0] += n.deposits
        total[1] += n.withdrawals
    return [NetDeposits(c, d, w) for c, (d, w) in totals.items()]


def ledger_balances(kinds: tuple[str, ...], *, before: datetime) -> dict[tuple[str, str], Decimal]:
    """(kind, currency) -> the balance of every account of those kinds, in each account's own
    direction, from the postings of entries made before ``before`` (immutable: as of any past
    moment). Read as the balances the ledger keeps beside its postings (each account's row, and a
    house account's buckets: ``payments.services.ledger.balance_of``) less the postings of entries
    made from ``before`` on, so the cost follows the postings since then, not the whole ledger. One
    statement, so one snapshot: a posting and the balance it moved are both in it or both not.
    Kinds and currencies with no posting before ``before`` are left out."""
    from payments.models import DEBIT_NORMAL, Balance, BalanceBucket

    def per_kind(qs: QuerySet[Any], currency: str, total: Any, n: Any) -> QuerySet[Any]:
        return (
            qs.filter(account__kind__in=kinds)
            .values(k=F("account__kind"), c=F(currency))
            .annotate(t=total, n=n)
            .order_by()
        )

    # a posting moves a debit-normal account's balance by its amount, a credit-normal one's by minus it
    own = Case(When(account__kind__in=DEBIT_NORMAL, then=F("amount")), default=-F("amount"))
    kept = per_kind(Balance.objects.all(), "account__currency", Sum("ledger"), Sum("postings_count"))
    buckets = per_kind(BalanceBucket.objects.all(), "account__currency", Sum("ledger"), Sum("postings_count"))
    later = per_kind(Posting.objects.filter(entry__created_at__gte=before), "currency", -Sum(own), -Count("id"))
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in kept.union(buckets, later, all=True):
        totals[(r["k"], r["c"])] += r["t"]
        counts[(r["k"], r["c"])] += r["n"]
    return {key: total for key, total in totals.items() if counts[key] > 0}


SAFEGUARDED_KINDS = (AccountKind.BANK, AccountKind.PSP_CLEARING)


# --- deals ----------------------------------------------------------------------------------------


def active_traders(clients: QuerySet[Client], start: datetime, end: datetime) -> int:
    """How many of ``clients`` closed a deal in [start, end): one probe per client into its deals
    in time order (stopping at the first), not every deal of the period made distinct."""
    return clients.filter(
        Exists(Deal.objects.filter(client=OuterRef("pk"), closed_at__gte=start, closed_at__lt=end))
    ).count()


FUNNEL = ("Registered", "Approved", "First deposit", "First trade")


def funnel_stage(end: datetime) -> Case:
    """How far along the funnel registered -> approved -> first deposit -> first trade the outer
    query's client had got by ``end``: 0 (registered) to 3 (traded). A step counts only after the one
    before it, and each step's EXISTS is evaluated once per client, and only when the one before holds."""
    return Case(
        When(~approved_by(end), then=Value(0)),
        When(~Exists(credited_deposits().filter(client=OuterRef("pk"), completed_at__lt=end)), then=Value(1)),
        When(~Exists(Deal.objects.filter(client=OuterRef("pk"), closed_at__lt=end)), then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )


def registered(clients: QuerySet[Client], start: datetime, end: datetime) -> QuerySet[Client]:
    return clients.filter(created_at__gte=start, created_at__lt=end)
