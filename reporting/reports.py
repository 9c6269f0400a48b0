"""The reports: each builder takes the cleaned filters and returns its figures (with their
definitions from ``reporting.metrics``), charts, tables and the dataset the page lists and the
exports stream -- one query for both, so the export holds exactly the page's rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from accounts.models import Client, ClientStatus, TradingAccount
from audit.actions import ADMIN_PREFIXES, ROLE_ACTIONS, SENSITIVE_ACTIONS, AuditAction, admin_operations_q, oversight_q
from audit.models import AuditEvent, SecurityEvent, SecurityEventKind
from ib.models import Attribution, CommissionLine, Dispute, DisputeStatus, Partner
from kyc.models import Document, DocumentStatus, HitStatus, RejectionReason, ScreeningHit
from ops.models import OPEN_STATUSES, RiskLevel, WorkItem, WorkItemStatus
from payments.currencies import amount_str, money_str
from payments.models import (
    CLIENT_KINDS,
    AccountKind,
    Balance,
    Channel,
    Deposit,
    EntryKind,
    JournalEntry,
    LineStatus,
    ReconciliationBreak,
    SettlementLine,
    StatementLine,
    Withdrawal,
)
from reporting import metrics
from reporting.families import FAMILIES
from reporting.filters import Filters
from reporting.regions import region_label, region_of

PAGE_ROWS = 200


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    definition: str = ""


@dataclass(frozen=True)
class Chart:
    kind: str  # "bar", "line" or "funnel"
    title: str
    series: list[tuple[str, Any]]
    currency: str = ""


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    testid: str = ""


@dataclass
class Dataset:
    """The filtered set, row by row: what the page lists (its first ``PAGE_ROWS``) and the export
    streams (all of it). ``queries`` are evaluated lazily with ``iterator(chunk_size)``."""

    title: str
    columns: list[str]
    queries: list[tuple[QuerySet[Any], Callable[[Any], list[Any]]]]
    known_count: int | None = None  # the row count when the report has already counted the same rows

    def rows(self, *, chunk_size: int = 2000) -> Iterator[list[Any]]:
        for queryset, shape in self.queries:
            for obj in queryset.iterator(chunk_size=chunk_size):
                yield shape(obj)

    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        return sum(q.count() for q, _ in self.queries)

    def head(self, n: int = PAGE_ROWS) -> list[list[Any]]:
        out: list[list[Any]] = []
        for queryset, shape in self.queries:
            if len(out) >= n:
                break
            out.extend(shape(obj) for obj in queryset[: n - len(out)])
        return out


@dataclass
class Report:
    family: str
    title: str
    kpis: list[Kpi] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    dataset: Dataset | None = None
    notes: list[str] = field(default_factory=list)


# --- helpers --------------------------------------------------------------------------------------


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{Decimal(seconds / 3600).quantize(Decimal('0.1'))} h"


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _bucket(f: Filters) -> Any:
    days = (f.date_to - f.date_from).days
    if days <= 45:
        return TruncDay
    if days <= 200:
        return TruncWeek
    return TruncMonth


def _bucket_label(value: Any) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else str(value)


def _client_name(client: Client | None) -> str:
    return client.display_name if client is not None else ""


def _staff_name(user: Any) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


def _clients(f: Filters, *, staff: bool = True) -> QuerySet[Client]:
    clients = f.clients
    if staff and f.staff:
        clients = clients.filter(account_manager__username=f.staff)
    return clients


def _narrowed(f: Filters, *, staff: bool = True) -> QuerySet[Client] | None:
    """The filtered clients, or None when no filter narrows them (every client: nothing to join)."""
    if not f.client_filtered and not (staff and f.staff):
        return None
    return _clients(f, staff=staff)


def _of_clients(qs: QuerySet[Any], clients: QuerySet[Client] | None, prefix: str = "client") -> QuerySet[Any]:
    return qs if clients is None else qs.filter(**{f"{prefix}__in": clients.values("pk")})


def _client_q(f: Filters, prefix: str = "client") -> Q:
    q = f.client_q(prefix)
    if f.staff:
        q &= Q(**{f"{prefix}__account_manager__username": f.staff})
    return q


def _ageing(moments: Sequence[datetime | date], now: datetime) -> dict[str, int]:
    buckets = {"under 1 day": 0, "1-3 days": 0, "3-7 days": 0, "over 7 days": 0}
    for moment in moments:
        if isinstance(moment, datetime):
            age = (now - moment).total_seconds() / 86400
        else:
            age = (now.date() - moment).days
        key = "under 1 day" if age < 1 else "1-3 days" if age < 3 else "3-7 days" if age < 7 else "over 7 days"
        buckets[key] += 1
    return buckets


# --- accounts -------------------------------------------------------------------------------------


def accounts_report(f: Filters) -> Report:
    r = Report("accounts", FAMILIES["accounts"].title)
    clients = _clients(f)
    narrowed = _narrowed(f)
    cohort = metrics.registered(clients, f.start, f.end)
    # the cohort in one pass: each client's furthest funnel step, by country and week of registration
    # (the funnel, the registrations' trend and their regions are sums of these groups)
    groups = (
        cohort.annotate(stage=metrics.funnel_stage(f.end), bucket=_bucket(f)("created_at"))
        .values("stage", "country", "bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    reached = [0] * len(metrics.FUNNEL)
    trend: dict[Any, int] = defaultdict(int)
    by_region: dict[str, int] = defaultdict(int)
    for g in groups:
        for step in range(g["stage"] + 1):
            reached[step] += g["n"]
        trend[g["bucket"]] += g["n"]
        by_region[region_label(region_of(str(g["country"])))] += g["n"]
    registered, approved = reached[0], reached[1]
    ftd = metrics.ftd_totals(clients, f.start, f.end)
    r.kpis = [
        Kpi("New registrations", str(registered), metrics.definition("registrations")),
        Kpi("Approval rate", _pct(metrics.rate(approved, registered)), metrics.definition("approval_rate")),
        Kpi(
            "Pending additional documents",
            str(clients.filter(status=ClientStatus.PENDING_DOCUMENTS).count()),
            metrics.definition("pending_documents"),
        ),
        Kpi("Closed accounts", str(metrics.clients_closed(narrowed, f.start, f.end)), metrics.definition("closed")),
        Kpi("First-time deposits", str(ftd.count), metrics.definition("ftd")),
        Kpi(
            "Active traders", str(metrics.active_traders(clients, f.start, f.end)), metrics.definition("active_trader")
        ),
    ]
    r.charts = [
        Chart("line", "New registrations", [(_bucket_label(b), n) for b, n in sorted(trend.items())]),
        Chart(
            "funnel",
            "Registered → approved → first deposit → first trade",
            list(zip(metrics.FUNNEL, reached, strict=True)),
        ),
        Chart("bar", "Registrations by region", sorted(by_region.items())),
    ]
    r.tables.append(
        Table(
            "First-time deposits by currency",
            ["Currency", "FTDs", "Amount"],
            [[currency, n, money_str(total, currency)] for currency, n, total in ftd.by_currency],
            "ftd-by-currency",
        )
    )
    r.dataset = accounts_dataset(f)
    r.dataset.known_count = registered
    return r


def accounts_dataset(f: Filters) -> Dataset:
    cohort = metrics.registered(_clients(f), f.start, f.end)
    first = metrics.credited_deposits().filter(client=OuterRef("pk")).order_by("completed_at", "id")
    rows = (
        cohort.select_related("account_type", "account_manager")
        .annotate(
            approved_at=metrics.first_approved_at(),
            ftd_at=Subquery(first.values("completed_at")[:1]),
            ftd_amount=Subquery(first.values("amount")[:1]),
            ftd_currency=Subquery(first.values("currency")[:1]),
        )
        .order_by("created_at", "id")
    )

    def shape(c: Any) -> list[Any]:
        return [
            c.reference, c.display_name, c.country.code, region_label(region_of(c.country.code)), c.account_type.name,
            c.get_status_display(), _staff_name(c.account_manager), _when(c.created_at), _when(c.approved_at),
            _when(c.ftd_at), amount_str(c.ftd_amount, c.ftd_currency) if c.ftd_amount is not None else "",
            c.ftd_currency or "",
        ]  # fmt: skip

    return Dataset(
        "Clients registered in the period",
        ["Reference", "Client", "Country", "Region", "Account type", "Status", "Account manager", "Registered",
         "First approved", "First deposit", "FTD amount", "FTD currency"],
        [(rows, shape)],
    )  # fmt: skip


# --- payments -------------------------------------------------------------------------------------


def payments_report(f: Filters) -> Report:
    r = Report("payments", FAMILIES["payments"].title)
    deposits, withdrawals, paid = _payments_sets(f)
    outcomes = metrics.deposit_outcomes(deposits)  # one pass over the period's deposits
    payouts = metrics.withdrawal_outcomes(withdrawals)  # and one over its withdrawals
    success = outcomes.success
    ok = sum(v[0] for v in success.values())
    decided = sum(v[1] for v in success.values())
    times = metrics.processing_seconds(paid)
    buckets = metrics.net_deposits_by_bucket(
        date_from=f.date_from,
        date_to=f.date_to,
        bucket=_bucket(f),
        clients=_narrowed(f),
        currency=f.currency,
        channel=f.channel,
    )  # totals and trend in one pass
    net = metrics.net_deposit_totals(buckets)
    chargebacks = JournalEntry.objects.filter(
        kind=EntryKind.REVERSAL, reverses__kind__in=metrics.DEPOSIT_KINDS, created_at__gte=f.start, created_at__lt=f.end
    ).count()
    r.kpis = [
        Kpi("Deposit success rate", _pct(metrics.rate(ok, decided)), metrics.definition("deposit_success_rate")),
        Kpi("Average withdrawal processing", _hours(times["avg"]), metrics.definition("withdrawal_processing_time")),
        Kpi("90th percentile withdrawal processing", _hours(times["p90"]), metrics.definition("withdrawal_processing_time")),
        Kpi("Failed deposits", str(outcomes.failed)),
        Kpi("Failed withdrawal payouts", str(payouts.failed)),
        Kpi("Withdrawals rejected", str(payouts.rejected)),
        Kpi("Refunds and chargebacks", str(outcomes.refunded + chargebacks)),
        *[Kpi(f"Net deposits ({n.currency})", money_str(n.net, n.currency), metrics.definition("net_deposit")) for n in net],
    ]  # fmt: skip
    r.charts = [
        Chart("bar", "Deposit success rate by channel (%)",
              [(Channel(c).label, metrics.rate(*v) or 0) for c, v in success.items()]),
    ]  # fmt: skip
    for n in net:
        r.charts.append(
            Chart(
                "line",
                f"Net deposits ({n.currency})",
                [(_bucket_label(b), x.net) for b, x in buckets if x.currency == n.currency],
                n.currency,
            )
        )
    r.tables = [
        Table(
            "Deposit success by channel",
            ["Channel", "Reached an outcome", "Credited", "Success rate"],
            [[Channel(c).label, v[1], v[0], _pct(metrics.rate(*v))] for c, v in success.items()],
            "success-by-channel",
        ),
        Table(
            "Failed deposits by failure code",
            ["Failure code", "Deposits"],
            [[code or "(none given)", n] for code, n in outcomes.failure_codes],
            "failure-codes",
        ),
        Table(
            "Failed withdrawal payouts by failure code",
            ["Failure code", "Withdrawals"],
            [[code or "(none given)", n] for code, n in payouts.failure_codes],
            "withdrawal-failure-codes",
        ),
        Table(
            "Refunds and chargebacks",
            ["Kind", "Count"],
            [["Deposits returned (refunds)", outcomes.refunded], ["Deposits reversed (chargebacks)", chargebacks]],
            "refunds",
        ),
        Table(
            "Net deposits",
            ["Currency", "Deposits", "Withdrawals", "Net"],
            [[n.currency, money_str(n.deposits, n.currency), money_str(n.withdrawals, n.currency), money_str(n.net, n.currency)] for n in net],
            "net-deposits",
        ),
    ]  # fmt: skip

    r.dataset = payments_dataset(f)
    r.dataset.known_count = outcomes.started + payouts.started
    return r


def _payments_sets(f: Filters) -> tuple[QuerySet[Deposit], QuerySet[Withdrawal], QuerySet[Withdrawal]]:
    """Deposits and withdrawals started in the period, and withdrawals paid in it, for the filters."""
    cq = _client_q(f)
    deposits = Deposit.objects.filter(cq, created_at__gte=f.start, created_at__lt=f.end)
    withdrawals = Withdrawal.objects.filter(cq, created_at__gte=f.start, created_at__lt=f.end)
    paid = metrics.withdrawals_paid(f.start, f.end).filter(cq)
    if f.channel:
        deposits, withdrawals, paid = (
            deposits.filter(channel=f.channel),
            withdrawals.filter(method=f.channel),
            paid.filter(method=f.channel),
        )
    if f.currency:
        deposits, withdrawals, paid = (
            deposits.filter(currency=f.currency),
            withdrawals.filter(currency=f.currency),
            paid.filter(currency=f.currency),
        )
    return deposits, withdrawals, paid


def payments_dataset(f: Filters) -> Dataset:
    deposits, withdrawals, _ = _payments_sets(f)

    def dep(d: Deposit) -> list[Any]:
        return ["Deposit", d.reference, _client_name(d.client), d.client.reference, d.get_channel_display(),
                amount_str(d.amount, d.currency), d.currency, d.get_status_display(), d.failure_code,
                _when(d.created_at), _when(d.completed_at)]  # fmt: skip

    def wd(w: Withdrawal) -> list[Any]:
        return ["Withdrawal", w.reference, _client_name(w.client), w.client.reference, w.get_method_display(),
                amount_str(w.amount, w.currency), w.currency, w.get_status_display(), w.failure_code,
                _when(w.created_at), _when(w.paid_at)]  # fmt: skip

    return Dataset(
        "Deposits and withdrawals started in the period",
        ["Kind", "Reference", "Client", "Client reference", "Channel", "Amount", "Currency", "Status", "Failure code",
         "Started", "Completed"],
        [(deposits.select_related("client").order_by("created_at", "id"), dep),
         (withdrawals.select_related("client").order_by("created_at", "id"), wd)],
    )  # fmt: skip


# --- compliance -----------------------------------------------------------------------------------


def compliance_report(f: Filters) -> Report:
    r = Report("compliance", FAMILIES["compliance"].title)
    clients = _clients(f, staff=False)
    cq = f.client_q()
    documents = _compliance_documents(f)
    horizon = f.date_to + timedelta(days=30)
    expiry = Document.objects.filter(cq, status=DocumentStatus.ACCEPTED, expiry_date__isnull=False).aggregate(
        total=Count("id"), expiring=Count("id", filter=Q(expiry_date__lte=horizon))
    )
    high_risk = clients.filter(risk_level__in=(RiskLevel.HIGH, RiskLevel.CRITICAL))
    edd = WorkItem.objects.filter(queue__code="edd").aggregate(
        opened=Count("id", filter=Q(created_at__gte=f.start, created_at__lt=f.end)),
        open_now=Count("id", filter=Q(status__in=OPEN_STATUSES)),
    )
    hits = ScreeningHit.objects.filter(cq, created_at__gte=f.start, created_at__lt=f.end)
    dispositions = list(hits.values("status").annotate(n=Count("id")).order_by("status"))
    kyc_times = metrics.time_to_kyc(_narrowed(f, staff=False), f.start, f.end)
    # one pass over the period's documents: the trend, the rejections by reason and the count
    uploads = documents.annotate(bucket=_bucket(f)("uploaded_at")).values("bucket", "status", "rejection_reason")
    trend: dict[Any, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    for x in uploads.annotate(n=Count("id")).order_by():
        trend[x["bucket"]] += x["n"]
        if x["status"] == DocumentStatus.REJECTED:
            reasons[x["rejection_reason"]] += x["n"]
    by_reason = sorted(reasons.items(), key=lambda x: (-x[1], x[0]))
    r.kpis = [
        Kpi("Document expiry ratio", _pct(metrics.rate(expiry["expiring"], expiry["total"])), metrics.definition("document_expiry_ratio")),
        Kpi("High-risk clients", str(high_risk.count()), metrics.definition("high_risk")),
        Kpi("EDD cases opened", str(edd["opened"])),
        Kpi("EDD cases open now", str(edd["open_now"])),
        Kpi("Screening hits", str(sum(x["n"] for x in dispositions))),
        Kpi("Time to KYC (median)", _hours(kyc_times["median"]), metrics.definition("time_to_kyc")),
        Kpi("Time to KYC (90th percentile)", _hours(kyc_times["p90"]), metrics.definition("time_to_kyc")),
        Kpi("Documents rejected", str(sum(reasons.values()))),
    ]  # fmt: skip
    r.charts = [
        Chart("bar", "Rejection reasons", [(RejectionReason(code).label, n) for code, n in by_reason]),
        Chart("bar", "Screening hits by disposition", [(HitStatus(x["status"]).label, x["n"]) for x in dispositions]),
        Chart("line", "Documents uploaded", [(_bucket_label(b), n) for b, n in sorted(trend.items())]),
    ]
    r.tables = [
        Table("Rejection reasons", ["Reason", "Documents"],
              [[RejectionReason(code).label, n] for code, n in by_reason], "rejection-reasons"),
        Table("Screening hits and dispositions", ["Disposition", "Hits"],
              [[HitStatus(x["status"]).label, x["n"]] for x in dispositions], "screening"),
        Table("High-risk clients", ["Client", "Reference", "Risk level", "Status"],
              [[c.display_name, c.reference, c.get_risk_level_display(), c.get_status_display()] for c in high_risk[:50]],
              "high-risk"),
    ]  # fmt: skip

    r.dataset = compliance_dataset(f)
    r.dataset.known_count = sum(trend.values())
    return r


def _compliance_documents(f: Filters) -> QuerySet[Document]:
    documents = Document.objects.filter(f.client_q(), uploaded_at__gte=f.start, uploaded_at__lt=f.end)
    if f.staff:
        documents = documents.filter(reviewed_by__username=f.staff)
    return documents


def compliance_dataset(f: Filters) -> Dataset:
    documents = _compliance_documents(f)

    def shape(d: Document) -> list[Any]:
        return [_client_name(d.client), d.client.reference, d.get_kind_display(), d.get_status_display(),
                d.get_rejection_reason_display() if d.rejection_reason else "", d.expiry_date.isoformat() if d.expiry_date else "",
                _staff_name(d.reviewed_by), _when(d.uploaded_at), _when(d.reviewed_at)]  # fmt: skip

    return Dataset(
        "Documents uploaded in the period",
        [
            "Client",
            "Client reference",
            "Document",
            "Status",
            "Rejection reason",
            "Expires",
            "Reviewer",
            "Uploaded",
            "Reviewed",
        ],
        [(documents.select_related("client", "reviewed_by").order_by("uploaded_at", "id"), shape)],
    )


# --- permissions ----------------------------------------------------------------------------------

ABNORMAL_SIGN_INS = (SecurityEventKind.LOGIN_FAILED, SecurityEventKind.OTP_FAILED, SecurityEventKind.ALERT_SPRAYING,
                     SecurityEventKind.ALERT_REFUSALS)  # fmt: skip


def permissions_report(f: Filters) -> Report:
    r = Report("permissions", FAMILIES["permissions"].title)
    events = _permission_events(f)
    security = SecurityEvent.objects.filter(occurred_at__gte=f.start, occurred_at__lt=f.end, kind__in=ABNORMAL_SIGN_INS)
    if f.staff:
        security = security.filter(username=f.staff)
    roles = events.filter(action__in=ROLE_ACTIONS)
    # one pass over the period's events: counts per staff member, operation and time bucket, from
    # which the figures, the table by staff member and the trend are summed
    grouped = (
        events.filter(oversight_q())
        .annotate(bucket=_bucket(f)("occurred_at"))
        .values("actor_label", "action", "bucket")
        .annotate(n=Count("id"))
        .order_by("bucket")
    )
    admin_n = sensitive_n = roles_n = selected_n = 0
    by_actor: dict[tuple[str, str], int] = defaultdict(int)
    trend: dict[str, int] = {}
    for x in grouped:
        is_admin = str(x["action"]).startswith(ADMIN_PREFIXES)
        is_sensitive = x["action"] in SENSITIVE_ACTIONS
        roles_n += x["n"] if x["action"] in ROLE_ACTIONS else 0
        sensitive_n += x["n"] if is_sensitive else 0
        selected_n += x["n"] if is_admin or is_sensitive else 0
        if is_admin:
            admin_n += x["n"]
            by_actor[(x["actor_label"], x["action"])] += x["n"]
            label = _bucket_label(x["bucket"])
            trend[label] = trend.get(label, 0) + x["n"]
    sign_ins = list(security.values("kind").annotate(n=Count("id")).order_by("kind"))
    r.kpis = [
        Kpi("Administrator operations", str(admin_n)),
        Kpi("Sensitive modifications", str(sensitive_n)),
        Kpi("Abnormal sign-ins", str(sum(x["n"] for x in sign_ins))),
        Kpi("Role changes", str(roles_n)),
    ]
    r.notes.append("Facts from the audit trail (append-only): the same filters give the same rows at any later time.")
    r.charts = [
        Chart("line", "Administrator operations", list(trend.items())),
        Chart("bar", "Abnormal sign-ins by kind",
              [(SecurityEventKind(x["kind"]).label, x["n"]) for x in sign_ins]),
    ]  # fmt: skip
    r.tables = [
        Table("Administrator operations by staff member", ["Staff member", "Operation", "Count"],
              [[actor, _action_label(action), n] for (actor, action), n in sorted(by_actor.items())], "admin-ops"),
        Table("Role changes", ["When", "By", "Change", "Staff member", "Details"],
              [[_when(e.occurred_at), e.actor_label, e.action_label, ref.name, _json(e.after)]
               for e, ref in _NamedEvents(roles.order_by("occurred_at"))[:100]],
              "role-changes"),
    ]  # fmt: skip

    r.dataset = permissions_dataset(f, known_count=selected_n)
    return r


def _permission_events(f: Filters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(occurred_at__gte=f.start, occurred_at__lt=f.end)
    if f.staff:
        events = events.filter(actor_label=f.staff)
    return events


def permissions_dataset(f: Filters, *, known_count: int | None = None) -> Dataset:
    selected = _permission_events(f).filter(admin_operations_q() | Q(action__in=SENSITIVE_ACTIONS))

    def shape(pair: tuple[AuditEvent, Any]) -> list[Any]:
        e, ref = pair
        return [_when(e.occurred_at), e.actor_label, e.action_label, f"{ref.kind}: {ref.name}",
                _json(e.before), _json(e.after), e.reason]  # fmt: skip

    return Dataset(
        "Administrator operations and sensitive modifications",
        ["When", "Staff member", "Operation", "Subject", "Before", "After", "Reason"],
        [(_NamedEvents(selected.order_by("occurred_at", "id")), shape)],  # type: ignore[list-item]
        known_count=known_count,
    )


class _NamedEvents:
    """Audit events read like a queryset, each with its subject's name (``audit.selectors.
    subject_refs``: one query per kind of record and chunk), so a row names its subject, not an id."""

    def __init__(self, events: QuerySet[AuditEvent]) -> None:
        self.events = events

    @staticmethod
    def _named(chunk: list[AuditEvent]) -> list[tuple[AuditEvent, Any]]:
        from audit.selectors import subject_refs

        refs = subject_refs((e.subject_type, e.subject_id) for e in chunk)
        return [(e, refs[(e.subject_type, e.subject_id)]) for e in chunk]

    def iterator(self, chunk_size: int = 2000) -> Iterator[tuple[AuditEvent, Any]]:
        chunk: list[AuditEvent] = []
        for event in self.events.iterator(chunk_size=chunk_size):
            chunk.append(event)
            if len(chunk) >= chunk_size:
                yield from self._named(chunk)
                chunk = []
        yield from self._named(chunk)

    def count(self) -> int:
        return self.events.count()

    def __getitem__(self, index: slice) -> list[tuple[AuditEvent, Any]]:
        return self._named(list(self.events[index]))


def _action_label(action: str) -> str:
    try:
        return str(AuditAction(action).label)
    except ValueError:
        return action


def _json(value: Any) -> str:
    if not value:
        return ""
    return "; ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


# --- partners -------------------------------------------------------------------------------------


def partners_report(f: Filters) -> Report:
    r = Report("partners", FAMILIES["partners"].title)
    _, partners, lines = _partner_scope(f)
    open_at_end = _of_clients(
        Attribution.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=f.end), valid_from__lt=f.end),
        _narrowed(f),
    )
    if f.partner:
        open_at_end = open_at_end.filter(partner__in=partners)
    # the attributions in force at the period's end: one per client at most (they never overlap), so
    # a partner's count is its clients', and their sum the attributed clients'
    per_ib = list(
        open_at_end.values("partner__name")
        .annotate(n=Count("id"), new=Count("id", filter=Q(valid_from__gte=f.start)))
        .order_by("-n", "partner__name")
    )
    by_month = list(
        lines.annotate(month=TruncMonth("earned_on"))
        .values("month", "level", "currency")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by("month", "level", "currency")
    )  # one pass over the period's lines: the table, the charts and the count
    of_partner = {"partner__in": partners} if f.partner else {}
    disputes = Dispute.objects.filter(created_at__gte=f.start, created_at__lt=f.end, **of_partner)
    open_disputes = Dispute.objects.filter(**of_partner).exclude(status=DisputeStatus.RESOLVED)
    now = timezone.now()
    r.kpis = [
        Kpi("Attributed clients", str(sum(x["n"] for x in per_ib))),
        Kpi("Commission lines", str(sum(x["n"] for x in by_month))),
        Kpi("Disputes raised", str(disputes.count())),
        Kpi("Disputes open now", str(open_disputes.count())),
    ]
    totals: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    monthly: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for x in by_month:
        monthly[(x["currency"], x["month"].strftime("%Y-%m"))] += x["total"]
    for (currency, month), total in sorted(monthly.items()):
        totals[currency].append((month, total))
    r.charts = [Chart("bar", f"Commissions per month ({c})", s, c) for c, s in totals.items()]
    r.charts.append(Chart("bar", "Attributed clients per partner", [(x["partner__name"], x["n"]) for x in per_ib][:20]))
    r.tables = [
        Table("Client attribution per partner", ["Partner", "Clients attributed", "New in the period"],
              [[x["partner__name"], x["n"], x["new"]] for x in per_ib], "attribution"),
        Table("Commissions by period and level", ["Month", "Level", "Lines", "Amount"],
              [[x["month"].strftime("%Y-%m"), _level(x["level"]), x["n"], money_str(x["total"], x["currency"])] for x in by_month],
              "commissions"),
        Table("Hierarchy", ["Partner", "Code", "Level in the tree", "Status"],
              [["\u2003" * (p.depth - 1) + p.name, p.code, p.depth, p.get_status_display()] for p in partners.order_by("path")[:200]],
              "hierarchy"),
        Table("Disputes", ["Outcome", "Count", "Average age (days)"], _dispute_rows(disputes, open_disputes, now), "disputes"),
    ]  # fmt: skip

    r.dataset = partners_dataset(f)
    r.dataset.known_count = sum(x["n"] for x in by_month)
    return r


def _partner_scope(f: Filters) -> tuple[QuerySet[Client], QuerySet[Partner], QuerySet[CommissionLine]]:
    """The filtered clients, the partners and the commission lines earned in the period."""
    clients = _clients(f)
    partners = Partner.objects.all()
    if f.partner:
        partners = partners.filter(code=f.partner)
    lines = CommissionLine.objects.filter(earned_on__gte=f.date_from, earned_on__lte=f.date_to)
    lines = lines.filter(partner__in=partners) if f.partner else lines.filter(partner__isnull=False)
    narrowed = _narrowed(f)
    if narrowed is not None:  # a partner's month (revenue share) names no client: kept
        lines = lines.filter(Q(client__isnull=True) | Q(client__in=narrowed.values("pk")))
    if f.currency:
        lines = lines.filter(currency=f.currency)
    return clients, partners, lines


def partners_dataset(f: Filters) -> Dataset:
    _, _, lines = _partner_scope(f)

    def shape(line: CommissionLine) -> list[Any]:
        return [line.earned_on.isoformat(), line.partner.name if line.partner else "", _level(line.level),
                line.get_kind_display(), _client_name(line.client), amount_str(line.amount, line.currency),
                line.currency, line.get_status_display()]  # fmt: skip

    return Dataset(
        "Commission lines earned in the period",
        ["Earned on", "Beneficiary", "Level", "Kind", "Client", "Amount", "Currency", "Status"],
        [(lines.select_related("partner", "client").order_by("earned_on", "id"), shape)],
    )


def _level(level: int) -> str:
    return "Client rebate" if level < 0 else "Introducing partner" if level == 0 else f"{level} above"


def _dispute_rows(disputes: QuerySet[Dispute], open_disputes: QuerySet[Dispute], now: datetime) -> list[list[Any]]:
    rows: list[list[Any]] = []
    outcomes = disputes.filter(status=DisputeStatus.RESOLVED).values("resolution").annotate(n=Count("id"))
    for x in outcomes.order_by("resolution"):
        rows.append([Dispute(resolution=x["resolution"]).get_resolution_display(), x["n"], ""])
    ages = [(now - created).days for created in open_disputes.values_list("created_at", flat=True)]
    rows.append(["Open now", len(ages), f"{sum(ages) / len(ages):.1f}" if ages else "—"])
    return rows


# --- operations -----------------------------------------------------------------------------------


AGES = (("age_0_1", 1), ("age_1_3", 3), ("age_3_7", 7), ("age_7", None))  # the backlog's ageing columns, in days


def operations_report(f: Filters) -> Report:
    r = Report("operations", FAMILIES["operations"].title)
    items = _work_items(f)
    now = timezone.now()
    # the open items in one pass: per queue, how many, how old and how many past due
    ages: dict[str, Any] = {}
    younger = Q()
    for label, days in AGES:
        bound = Q(created_at__gt=now - timedelta(days=days)) if days else Q()
        ages[label] = Count("id", filter=~younger & bound) if days else Count("id", filter=~younger)
        younger |= bound
    backlog = list(
        items.filter(status__in=OPEN_STATUSES)
        .values("queue__name")
        .annotate(n=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)), **ages)
        .order_by("-n", "queue__name")
    )
    # the period's resolved items in one pass: per queue, resolver and time bucket, with the late ones
    resolved = items.filter(status=WorkItemStatus.RESOLVED, resolved_at__gte=f.start, resolved_at__lt=f.end)
    done = (
        resolved.annotate(bucket=_bucket(f)("resolved_at"))
        .values("queue__name", "bucket", "resolved_by__username", "resolved_by__first_name", "resolved_by__last_name")
        .annotate(n=Count("id"), late=Count("id", filter=Q(due_at__isnull=False, resolved_at__gt=F("due_at"))))
        .order_by()
    )

    def staff_label(x: dict[str, Any]) -> str:
        full = f"{x['resolved_by__first_name']} {x['resolved_by__last_name']}".strip()
        return full or x["resolved_by__username"] or "(automatic)"

    per_staff: dict[tuple[str, str], int] = defaultdict(int)
    trend: dict[Any, int] = defaultdict(int)
    breaches: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for x in done:
        per_staff[(x["resolved_by__username"] or "", staff_label(x))] += x["n"]
        trend[x["bucket"]] += x["n"]
        if x["late"]:
            breaches[x["queue__name"]][0] += x["late"]
    for x in backlog:
        if x["overdue"]:
            breaches[x["queue__name"]][1] = x["overdue"]
    staff_rows = sorted(
        ((label, n, username) for (username, label), n in per_staff.items()), key=lambda x: (-x[1], not x[2], x[2])
    )
    r.kpis = [
        Kpi("Open items", str(sum(x["n"] for x in backlog))),
        Kpi("SLA breaches", str(sum(a + b for a, b in breaches.values())), metrics.definition("sla_breach")),
        Kpi("Resolved in the period", str(sum(trend.values()))),
    ]
    r.charts = [
        Chart("bar", "Backlog per queue", [(x["queue__name"], x["n"]) for x in backlog]),
        Chart("bar", "Items resolved per staff member", [(label, n) for label, n, _ in staff_rows]),
        Chart("line", "Items resolved", [(_bucket_label(b), n) for b, n in sorted(trend.items())]),
    ]
    r.tables = [
        Table("Queue backlog and ageing", ["Queue", "Open", "Under 1 day", "1-3 days", "3-7 days", "Over 7 days"],
              [[x["queue__name"], x["n"], *(x[label] for label, _ in AGES)] for x in sorted(backlog, key=lambda x: x["queue__name"])],
              "backlog"),
        Table("SLA breaches per queue", ["Queue", "Resolved late", "Open and overdue"],
              [[q, *v] for q, v in sorted(breaches.items())], "sla"),
        Table("Items resolved per staff member", ["Staff member", "Resolved"],
              [[label, n] for label, n, _ in staff_rows], "per-staff"),
    ]  # fmt: skip
    r.dataset = operations_dataset(f)
    return r


def _work_items(f: Filters) -> QuerySet[WorkItem]:
    items = WorkItem.objects.all()
    if f.staff:
        items = items.filter(Q(owner__username=f.staff) | Q(resolved_by__username=f.staff))
    return items


def operations_dataset(f: Filters) -> Dataset:
    created = _work_items(f).filter(created_at__gte=f.start, created_at__lt=f.end)

    def shape(w: WorkItem) -> list[Any]:
        return [w.queue.name, w.title, w.get_status_display(), _staff_name(w.owner), _when(w.created_at),
                _when(w.due_at), _when(w.resolved_at), _staff_name(w.resolved_by),
                w.get_resolution_code_display() if w.resolution_code else ""]  # fmt: skip

    return Dataset(
        "Work items opened in the period",
        ["Queue", "Item", "Status", "Owner", "Opened", "Due", "Resolved", "Resolved by", "Resolution"],
        [(created.select_related("queue", "owner", "resolved_by").order_by("created_at", "id"), shape)],
    )


# --- balances -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountBalance:
    client: str
    client_reference: str
    login: str
    account_type: str
    currency: str
    ledger: Decimal
    platform: Decimal | None
    break_id: int | None
    break_found: datetime | None

    @property
    def difference(self) -> Decimal | None:
        """Platform minus ledger, in the currency's minor units."""
        if self.platform is None:
            return None
        return Decimal(amount_str(self.platform - self.ledger, self.currency))


def platform_balances() -> dict[str, Decimal]:
    """login -> the balance the trading platform reports (one call; nothing when unreachable)."""
    from accounts.platform import PlatformError, get_platform

    try:
        return {a.login: a.balance for a in get_platform().list_accounts()}
    except PlatformError:
        return {}


def _trading_accounts(f: Filters) -> QuerySet[TradingAccount]:
    """The filtered clients' provisioned trading accounts, each with its ledger's available balance
    (``ledger_available``: ledger minus holds, the figure the platform must show, as
    ``platform_balances_check`` compares)."""
    accounts = TradingAccount.objects.filter(login__isnull=False).filter(_client_q(f))
    if f.currency:
        accounts = accounts.filter(currency=f.currency)
    available = Balance.objects.filter(account__kind=AccountKind.TRADING, account__trading_account=OuterRef("pk"))
    return accounts.annotate(
        ledger_available=Coalesce(
            Subquery(available.annotate(v=F("ledger") - F("held")).values("v")[:1]), Value(Decimal(0))
        )
    )


class _BalanceRows:
    """Each trading account as an ``AccountBalance``: the ledger's figure from the database, the
    platform's from its one ``list_accounts`` call, and the open ``platform_balance`` break of its login."""

    def __init__(self, accounts: QuerySet[TradingAccount], theirs: dict[str, Decimal]) -> None:
        self.accounts = accounts
        self.theirs = theirs
        self.breaks = {
            b.key: b for b in ReconciliationBreak.objects.filter(kind="platform_balance", resolved_at__isnull=True)
        }

    def row(self, a: Any) -> AccountBalance:
        brk = self.breaks.get(str(a.login))
        return AccountBalance(
            client=_client_name(a.client), client_reference=a.client.reference, login=str(a.login),
            account_type=a.account_type.name, currency=a.currency, ledger=a.ledger_available,
            platform=self.theirs.get(str(a.login)), break_id=brk.pk if brk else None,
            break_found=brk.found_at if brk else None,
        )  # fmt: skip

    def listed(self) -> QuerySet[TradingAccount]:
        return self.accounts.select_related("client", "account_type").order_by("client__reference", "login")

    def differing(self) -> list[AccountBalance]:
        """The accounts whose platform balance differs from the ledger's (those the platform does
        not list are "unavailable", not a difference)."""
        if not self.theirs:
            return []
        ledgers = self.accounts.values_list("login", "currency", "ledger_available")  # type: ignore[misc]  # annotated
        logins = [
            login
            for login, currency, ledger in ledgers.iterator(chunk_size=5000)
            if login in self.theirs and Decimal(amount_str(self.theirs[login] - ledger, currency))
        ]
        return [self.row(a) for a in self.listed().filter(login__in=logins)]


def trading_balances(f: Filters) -> list[AccountBalance]:
    """Every provisioned trading account of the filtered clients: the ledger's available balance
    beside the platform's, and the open ``platform_balance`` break of its login."""
    rows = _BalanceRows(_trading_accounts(f), platform_balances())
    return [rows.row(a) for a in rows.listed()]


def client_money(f: Filters) -> list[dict[str, Any]]:
    """The daily client-money reconciliation as of the end of ``date_to``, per currency: what the
    ledger says is owed to clients against the safeguarded bank and PSP balances."""
    before = f.end
    every = metrics.ledger_balances((*CLIENT_KINDS, *metrics.SAFEGUARDED_KINDS), before=before)  # one pass
    owed = {key: v for key, v in every.items() if key[0] in CLIENT_KINDS}
    safe = {key: v for key, v in every.items() if key[0] in metrics.SAFEGUARDED_KINDS}
    currencies = sorted({c for _, c in owed} | {c for _, c in safe})
    if f.currency:
        currencies = [c for c in currencies if c == f.currency]
    rows = []
    for c in currencies:
        to_clients = sum((v for (k, cur), v in owed.items() if cur == c), Decimal(0))
        bank = safe.get((AccountKind.BANK, c), Decimal(0))
        psp = safe.get((AccountKind.PSP_CLEARING, c), Decimal(0))
        rows.append(
            {"currency": c, "owed": to_clients, "bank": bank, "psp": psp, "difference": bank + psp - to_clients}
        )
    return rows


def balances_report(f: Filters) -> Report:
    r = Report("balances", FAMILIES["balances"].title)
    accounts = _BalanceRows(_trading_accounts(f), platform_balances())
    differing = accounts.differing()
    money = client_money(f)
    now = timezone.now()
    lines = StatementLine.objects.filter(status__in=(LineStatus.NEW, LineStatus.SUSPENSE), booked_on__lte=f.date_to)
    settlements = SettlementLine.objects.filter(status=LineStatus.NEW, settled_on__lte=f.date_to)
    breaks = ReconciliationBreak.objects.filter(resolved_at__isnull=True)
    trading_accounts = accounts.accounts.count()
    r.kpis = [
        Kpi("Trading accounts", str(trading_accounts)),
        Kpi("Accounts whose balances differ", str(len(differing))),
        Kpi("Open reconciliation items", str(breaks.count())),
        *[Kpi(f"Owed to clients ({m['currency']})", money_str(m["owed"], m["currency"]), metrics.definition("client_money")) for m in money],
    ]  # fmt: skip
    r.notes.append(
        f"Client money as of the end of {f.date_to.isoformat()}, from the ledger's postings (immutable: the same "
        "date gives the same figures later). Platform balances are the platform's now."
    )
    r.charts = [Chart("bar", "Balance differences (platform - ledger)",
                      [(a.login, a.difference) for a in differing], differing[0].currency if len({a.currency for a in differing}) == 1 else "")]  # fmt: skip
    r.tables = [
        Table("Daily client-money reconciliation", ["Currency", "Owed to clients", "Safeguarded at banks",
              "Held at PSPs", "Excess (shortfall)"],
              [[m["currency"], money_str(m["owed"], m["currency"]), money_str(m["bank"], m["currency"]),
                money_str(m["psp"], m["currency"]), money_str(m["difference"], m["currency"])] for m in money],
              "client-money"),
        Table("Unmatched items, aged", ["Item", "Under 1 day", "1-3 days", "3-7 days", "Over 7 days"], [
            ["Bank statement lines", *_ageing(list(lines.values_list("booked_on", flat=True)), now).values()],
            ["PSP settlement lines", *_ageing(list(settlements.values_list("settled_on", flat=True)), now).values()],
            ["Open reconciliation breaks", *_ageing(list(breaks.values_list("found_at", flat=True)), now).values()],
        ], "unmatched"),
    ]  # fmt: skip

    r.dataset = balances_dataset(f, accounts=accounts)
    r.dataset.known_count = trading_accounts
    return r


def balances_dataset(f: Filters, *, accounts: _BalanceRows | None = None) -> Dataset:
    balances = accounts or _BalanceRows(_trading_accounts(f), platform_balances())

    def shape(account: TradingAccount) -> list[Any]:
        a = balances.row(account)
        return [a.client, a.client_reference, a.login, a.account_type, a.currency, amount_str(a.ledger, a.currency),
                amount_str(a.platform, a.currency) if a.platform is not None else "unavailable",
                amount_str(a.difference, a.currency) if a.difference is not None else "",
                f"break #{a.break_id} since {_when(a.break_found)}" if a.break_id else ""]  # fmt: skip

    return Dataset(
        "Trading accounts: platform beside ledger",
        [
            "Client",
            "Client reference",
            "Login",
            "Account type",
            "Currency",
            "Ledger balance",
            "Platform balance",
            "Difference",
            "Open reconciliation item",
        ],
        [(balances.listed(), shape)],
    )


BUILDERS: dict[str, Callable[[Filters], Report]] = {
    "accounts": accounts_report,
    "payments": payments_report,
    "compliance": compliance_report,
    "permissions": permissions_report,
    "partners": partners_report,
    "operations": operations_report,
    "balances": balances_report,
}


DATASETS: dict[str, Callable[[Filters], Dataset]] = {
    "accounts": accounts_dataset,
    "payments": payments_dataset,
    "compliance": compliance_dataset,
    "permissions": permissions_dataset,
    "partners": partners_dataset,
    "operations": operations_dataset,
    "balances": balances_dataset,
}


def report_build(family: str, filters: Filters) -> Report:
    return BUILDERS[family](filters)


def report_dataset(family: str, filters: Filters) -> Dataset:
    """The report's rows alone (what the exports stream), without its figures and charts: the same
    function the report itself lists them with."""
    return DATASETS[family](filters)
