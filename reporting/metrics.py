"""The definitions behind every figure of the reports, in one place: the pages, the exports, the
API and the snapshots compute each named figure here, so two numbers with one name never disagree.
Each definition's text is what the pages show beside the figure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import (
    Aggregate,
    Avg,
    CharField,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Cast

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


# --- deposits -------------------------------------------------------------------------------------

CREDITED = (DepositStatus.CREDITED,)
OUTCOMES = (DepositStatus.CREDITED, DepositStatus.FAILED, DepositStatus.REFUNDED)


def credited_deposits() -> QuerySet[Deposit]:
    return Deposit.objects.filter(status__in=CREDITED, completed_at__isnull=False)


def ftd_deposits() -> QuerySet[Deposit]:
    """Every client's first-time deposit (one per client; ties on time broken by id)."""
    # a credited deposit with no earlier credited deposit of its client (an anti-join: a period's
    # FTDs are read without ranking every client's deposits first)
    earlier = (
        credited_deposits()
        .filter(client=OuterRef("client"))
        .filter(
            Q(completed_at__lt=OuterRef("completed_at"))
            | Q(completed_at=OuterRef("completed_at"), id__lt=OuterRef("id"))
        )
    )
    return credited_deposits().filter(~Exists(earlier))


def first_deposit_at() -> Subquery:
    return Subquery(
        credited_deposits().filter(client=OuterRef("pk")).order_by("completed_at", "id").values("completed_at")[:1]
    )


def deposit_success(deposits: QuerySet[Deposit]) -> dict[str, tuple[int, int]]:
    """(succeeded, decided) per channel of deposits (see ``deposit_success_rate``)."""
    rows = (
        deposits.filter(status__in=OUTCOMES)
        .values("channel")
        .annotate(decided=Count("id"), ok=Count("id", filter=Q(status__in=CREDITED)))
        .order_by("channel")
    )
    return {r["channel"]: (r["ok"], r["decided"]) for r in rows}


def rate(numerator: int, denominator: int) -> Decimal | None:
    """A share in percent with one decimal; None when nothing was decided."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"))


# --- withdrawals ----------------------------------------------------------------------------------


def withdrawals_paid(start: datetime, end: datetime) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(status=WithdrawalStatus.PAID, paid_at__gte=start, paid_at__lt=end)


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


def net_deposits_by_bucket(postings: QuerySet[Posting], bucket: Any) -> list[tuple[Any, NetDeposits]]:
    """Net deposits per currency and time bucket (``bucket``: a truncation of
    ``entry__created_at``) from ``net_deposit_postings()`` (narrowed by the caller), in one pass:
    (bucket, NetDeposits) ordered by currency and time. A credit to a client account is a negative
    posting (the ledger's convention: debit > 0)."""
    deposit_q = Q(entry__kind__in=DEPOSIT_KINDS) | Q(entry__reverses__kind__in=DEPOSIT_KINDS)
    rows = (
        postings.annotate(bucket=bucket)
        .values("currency", "bucket")
        .annotate(
            dep=Sum("amount", filter=deposit_q, default=Decimal(0)),
            wd=Sum("amount", filter=~deposit_q, default=Decimal(0)),
        )
        .order_by("currency", "bucket")
    )
    return [(r["bucket"], NetDeposits(r["currency"], -r["dep"], r["wd"])) for r in rows]


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
    moment)."""
    from payments.models import DEBIT_NORMAL

    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    rows = (
        Posting.objects.filter(account__kind__in=kinds, entry__created_at__lt=before)
        .values("account__kind", "currency")
        .annotate(total=Sum("amount"))
    )
    for r in rows:
        sign = 1 if r["account__kind"] in DEBIT_NORMAL else -1
        totals[(r["account__kind"], r["currency"])] += sign * r["total"]
    return dict(totals)


SAFEGUARDED_KINDS = (AccountKind.BANK, AccountKind.PSP_CLEARING)


# --- deals ----------------------------------------------------------------------------------------


def active_traders(deals: QuerySet[Deal]) -> int:
    return deals.values("client_id").distinct().count()


def first_deal_exists() -> Exists:
    return Exists(Deal.objects.filter(client=OuterRef("pk")))


def registered(clients: QuerySet[Client], start: datetime, end: datetime) -> QuerySet[Client]:
    return clients.filter(created_at__gte=start, created_at__lt=end)


def min_or_none(qs: QuerySet[Any], field: str) -> Any:
    return qs.aggregate(v=Min(field))["v"]
