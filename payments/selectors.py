"""Reads of the payments app, scoped to what the viewer may see.

Every deposit and withdrawal belongs to a client: a staff member sees it exactly when they see the
client (``accounts.selectors.clients_visible_to``: everyone for a role with the view-client-status
permission, otherwise the clients given per object). Statements, settlement lines and
reconciliation breaks are the firm's own records, across all clients: only staff who see every
client see them. An object outside the viewer's scope is a 404, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Client
from accounts.selectors import clients_visible_to
from ops.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, User
from ops.permissions import ALLOWED, Decision, deny
from ops.roles import Role
from payments import errors
from payments.models import (
    CHARGEBACK_OPEN,
    CLIENT_KINDS,
    ChargebackCase,
    ChargebackStatus,
    Deposit,
    FxRate,
    JournalEntry,
    LedgerAccount,
    Posting,
    ReconciliationBreak,
    StatementImport,
    StatementLine,
    Withdrawal,
    WithdrawalStatus,
)

# A fetch ``for_write`` is for someone who may change payments at all (as accounts' client_get_for):
# anyone else finds nothing to act on.
WRITE_PERMISSIONS = (
    "ops.handle_deposits",
    "ops.handle_withdrawals",
    "ops.reject_withdrawals",
    "ops.handle_chargebacks",
)


def payments_can_view(actor: User) -> Decision:
    """May open the payments pages (deposits, withdrawals, statements, breaks) and read the API."""
    if not actor.is_authenticated or not actor.has_perm("ops.view_payments"):
        return deny(errors.PAYMENTS_VIEW_NOT_ALLOWED)
    return ALLOWED


def sees_every_client(actor: User) -> bool:
    """The firm-wide records (statements, settlement, breaks) are for staff not limited to some
    clients: the same permission that lets ``clients_visible_to`` answer every client."""
    return actor.has_perm("ops.view_client_status")


def client_visible(actor: User, client_id: int) -> bool:
    return sees_every_client(actor) or clients_visible_to(actor).filter(pk=client_id).exists()


def _may_write(actor: User) -> bool:
    return any(actor.has_perm(p) for p in WRITE_PERMISSIONS)


def _scoped(actor: User, queryset: QuerySet, *, for_write: bool) -> QuerySet:
    if for_write and not _may_write(actor):
        return queryset.none()
    if sees_every_client(actor):
        return queryset
    return queryset.filter(client__in=clients_visible_to(actor))


# --- deposits ----------------------------------------------------------------------------------


def deposit_list(*, actor: User, client: Client | None = None, limit: int = 50) -> list[Deposit]:
    deposits = _scoped(actor, Deposit.objects.select_related("client"), for_write=False)
    if client is not None:
        deposits = deposits.filter(client=client)
    return list(deposits.order_by("-id")[:limit])


def deposit_get_for(actor: User, deposit_id: int, *, for_write: bool) -> Deposit:
    queryset = Deposit.objects.select_related("client", "entry")
    deposit = _scoped(actor, queryset, for_write=for_write).filter(pk=deposit_id).first()
    if deposit is None:
        raise Http404("No such deposit.")
    return deposit


# --- withdrawals -------------------------------------------------------------------------------


def withdrawal_list(
    *, actor: User, status: str = "", client: Client | None = None, limit: int = 50
) -> list[Withdrawal]:
    withdrawals = _scoped(actor, Withdrawal.objects.select_related("client", "source"), for_write=False)
    if status in WithdrawalStatus.values:
        withdrawals = withdrawals.filter(status=status)
    if client is not None:
        withdrawals = withdrawals.filter(client=client)
    return list(withdrawals.order_by("-id")[:limit])


def withdrawal_queryset_for(actor: User) -> QuerySet[Withdrawal]:
    """The withdrawals the actor may read, newest first (the API pages through it)."""
    return _scoped(actor, Withdrawal.objects.select_related("client", "source"), for_write=False).order_by("-id")


def withdrawal_get_for(actor: User, withdrawal_id: int, *, for_write: bool) -> Withdrawal:
    queryset = Withdrawal.objects.select_related(
        "client", "source", "hold", "entry", "requested_by", "approval_request"
    )
    withdrawal = _scoped(actor, queryset, for_write=for_write).filter(pk=withdrawal_id).first()
    if withdrawal is None:
        raise Http404("No such withdrawal.")
    return withdrawal


@dataclass(frozen=True)
class ReviewLevel:
    role: str  # the level's role, by name
    decision: ApprovalDecision | None  # None while waiting


@dataclass(frozen=True)
class WithdrawalReview:
    """The withdrawal's approval request on the maker-checker engine, level by level."""

    request: ApprovalRequest | None
    levels: list[ReviewLevel]
    next_level: Role | None  # the role that decides next, while the request is pending


def withdrawal_review(withdrawal: Withdrawal) -> WithdrawalReview:
    request = withdrawal.approval_request
    if request is None:
        return WithdrawalReview(request=None, levels=[], next_level=None)
    decisions = list(request.decisions.select_related("checker").order_by("level"))
    levels = [
        ReviewLevel(role=Role(role).label, decision=decisions[i] if i < len(decisions) else None)
        for i, role in enumerate(request.required_roles)
    ]
    waiting = request.status == ApprovalStatus.PENDING and len(decisions) < len(request.required_roles)
    return WithdrawalReview(
        request=request, levels=levels, next_level=Role(request.required_roles[len(decisions)]) if waiting else None
    )


def withdrawal_client_get_for(actor: User, *, client_id: int | None = None, reference: str | None = None) -> Client:
    """The client a withdrawal is entered for: one the actor sees (the service checks the rest)."""
    clients = clients_visible_to(actor)
    client = (
        clients.filter(pk=client_id).first() if client_id is not None else clients.filter(reference=reference).first()
    )
    if client is None:
        raise Http404("No such client.")
    return client


# --- the ledger ---------------------------------------------------------------------------------


def client_ledger_accounts(client: Client) -> QuerySet[LedgerAccount]:
    """The client's wallets and trading accounts with their balances (the sources of a withdrawal)."""
    return LedgerAccount.objects.filter(client=client, kind__in=CLIENT_KINDS).select_related("balance").order_by("code")


def client_deposits(client: Client) -> QuerySet[Deposit]:
    """A client's deposits, for the client themselves (the client-area API)."""
    return Deposit.objects.filter(client=client).select_related("trading_account")


def client_withdrawals(client: Client) -> QuerySet[Withdrawal]:
    """A client's withdrawals, for the client themselves (the client-area API)."""
    return Withdrawal.objects.filter(client=client).select_related("source__trading_account")


def client_postings(client: Client) -> QuerySet[Posting]:
    """The ledger lines of the client's own wallets and trading accounts: its transactions as it
    sees them (the house side of each entry stays inside)."""
    return Posting.objects.filter(account__client=client, account__kind__in=CLIENT_KINDS).select_related(
        "entry", "account__trading_account"
    )


@dataclass(frozen=True)
class PostingLine:
    code: str
    currency: str
    debit: Decimal | None
    credit: Decimal | None


def entry_posting_lines(entry: JournalEntry | None) -> list[PostingLine]:
    """A journal entry's postings as debit and credit columns (an entry's postings sum to zero)."""
    if entry is None:
        return []
    return [
        PostingLine(
            code=p.account.code,
            currency=p.account.currency,
            debit=p.amount if p.amount > 0 else None,
            credit=-p.amount if p.amount < 0 else None,
        )
        for p in entry.postings.select_related("account").order_by("id")
    ]


# --- statements and reconciliation (firm-wide) -------------------------------------------------


def statement_import_list(*, actor: User, limit: int = 20) -> list[StatementImport]:
    if not sees_every_client(actor):
        return []
    return list(StatementImport.objects.select_related("bank_account").order_by("-id")[:limit])


def statement_line_list(*, actor: User, limit: int = 100) -> list[StatementLine]:
    if not sees_every_client(actor):
        return []
    return list(StatementLine.objects.select_related("bank_account").order_by("-id")[:limit])


def open_break_list(*, actor: User, limit: int = 20) -> list[ReconciliationBreak]:
    if not sees_every_client(actor):
        return []
    return list(ReconciliationBreak.objects.filter(resolved_at__isnull=True).order_by("-id")[:limit])


def break_get_for(actor: User, break_id: int, *, for_write: bool) -> ReconciliationBreak:
    brk = None
    if sees_every_client(actor) and (_may_write(actor) or not for_write):
        brk = ReconciliationBreak.objects.filter(pk=break_id).first()
    if brk is None:
        raise Http404("No such reconciliation break.")
    return brk


# --- PSP routing ----------------------------------------------------------------------------------


def routing_rule_list() -> list[Any]:
    """The card routing rules in the order they are tried, each with ``configured`` (whether its
    provider is one the settings name: a rule naming another is passed over)."""
    from payments.models import RoutingRule
    from payments.providers import card_providers

    providers = card_providers()
    rules = list(RoutingRule.objects.order_by("priority", "id"))
    for rule in rules:
        rule.configured = rule.provider in providers  # type: ignore[attr-defined]
    return rules


def routing_pending_changes() -> QuerySet[Any]:
    """Routing changes waiting for their checker (oldest first)."""
    return (
        ApprovalRequest.objects.filter(
            action__in=["payments.routing_rule_add", "payments.routing_rule_change"], status=ApprovalStatus.PENDING
        )
        .select_related("maker")
        .order_by("created_at")
    )


def fx_rate_can_add(actor: Any) -> Decision:
    """Add an FX rate (the admin's FX rates): who configures the system."""
    if actor.is_authenticated and actor.has_perm("ops.manage_configuration"):
        return ALLOWED
    return deny(errors.FX_RATE_ADD_NOT_ALLOWED)


def fx_rate_at(base: str, quote: str, when: datetime) -> tuple[Decimal, datetime | None]:
    """The price of one ``base`` in ``quote`` at ``when`` and the time of the rate used: the latest
    rate of the pair at or before ``when``; failing that, the inverse of the reverse pair's (to 8
    places). The same currency is 1 (and no rate time). Raises ``FxRateMissing`` when neither pair
    has a rate by then."""
    base, quote = base.upper(), quote.upper()
    if base == quote:
        return Decimal("1"), None
    direct = fx_rate_latest_before(base, quote, when)
    if direct is not None:
        return direct.rate, direct.as_of
    reverse = fx_rate_latest_before(quote, base, when)
    if reverse is not None:
        return (Decimal("1") / reverse.rate).quantize(Decimal("0.00000001")), reverse.as_of
    raise errors.FxRateMissing(errors.FX_RATE_MISSING.format(base=base, quote=quote, when=when.isoformat()))


def client_wallet_balances(client: Client) -> dict[str, str]:
    """The client's wallet balances by currency (what the CRM is told), e.g. {"USD": "1500.00"}."""
    from payments.models import AccountKind

    return {
        account.currency: f"{account.balance.ledger:.2f}"
        for account in client_ledger_accounts(client).filter(kind=AccountKind.CLIENT_WALLET)
    }


# --- chargebacks -------------------------------------------------------------------------------


def chargeback_list(*, actor: User, status: str = "", limit: int = 100) -> list[ChargebackCase]:
    """The chargebacks the actor may read, open ones (soonest deadline) first."""
    cases = _scoped(actor, ChargebackCase.objects.select_related("client", "deposit"), for_write=False)
    if status == "open":
        cases = cases.filter(status__in=CHARGEBACK_OPEN)
    elif status in ChargebackStatus.values:
        cases = cases.filter(status=status)
    return list(cases.order_by("closed_at", "due_at", "-id")[:limit])


def chargeback_get_for(actor: User, case_id: int, *, for_write: bool) -> ChargebackCase:
    queryset = ChargebackCase.objects.select_related(
        "client", "deposit", "opened_entry", "closing_entry", "responded_by"
    )
    case = _scoped(actor, queryset, for_write=for_write).filter(pk=case_id).first()
    if case is None:
        raise Http404("No such chargeback.")
    return case


def chargebacks_open_for(client: Client | int) -> QuerySet[ChargebackCase]:
    """The client's chargebacks not yet won or lost: while there is one, withdrawals stop."""
    client_id = client.pk if isinstance(client, Client) else client
    return ChargebackCase.objects.filter(client_id=client_id, status__in=CHARGEBACK_OPEN).order_by("id")


def client_evidence_part(client: Client, subjects: set[tuple[str, str]]) -> Any:
    """The evidence pack's money: the ledger statement of every account naming the client (each
    posting with its entry and the running balance), the deposits, withdrawals and chargebacks."""
    from audit.evidence import EvidencePart

    statement = []
    for account in LedgerAccount.objects.filter(client=client).order_by("code"):
        running = Decimal("0")
        lines = []
        for p in Posting.objects.filter(account=account).select_related("entry").order_by("id"):
            running += account.sign * p.amount
            lines.append({
                "entry": p.entry_id, "at": p.entry.created_at, "kind": p.entry.get_kind_display(),
                "memo": p.entry.memo, "debit": str(p.amount) if p.amount > 0 else "",
                "credit": str(-p.amount) if p.amount < 0 else "", "balance": str(running), "by": p.entry.actor_label,
            })  # fmt: skip
        statement.append({"account": account.code, "name": account.name, "kind": account.get_kind_display(),
                          "currency": account.currency, "postings": lines, "closing_balance": str(running)})  # fmt: skip
    deposits = list(Deposit.objects.filter(client=client).order_by("id"))
    withdrawals = list(Withdrawal.objects.filter(client=client).order_by("id"))
    cases = list(ChargebackCase.objects.filter(client=client).order_by("id"))

    def plain(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in skip}

    return EvidencePart(
        files={
            "ledger_statement.json": statement,
            "deposits.json": [plain(d, ("checkout_url",)) for d in deposits],
            "withdrawals.json": [plain(w) for w in withdrawals],
            "chargebacks.json": [plain(c) for c in cases],
        },
        subjects={("payments.deposit", str(d.pk)) for d in deposits}
        | {("payments.withdrawal", str(w.pk)) for w in withdrawals}
        | {("payments.chargebackcase", str(c.pk)) for c in cases},
    )


def chargeback_evidence_case(case: ChargebackCase) -> Any:
    """A chargeback's own evidence pack (``audit.evidence``): the case as it stands, the evidence
    sent to the PSP with its pinned SHA-256 (or, before the response, what it would send now), and
    every journal entry about the disputed deposit and the case (its credit, the opening and closing
    entries, the partner commissions clawed back and restored), the case records other apps keep
    with it (``partner_records.json``: the referring partner, the plan version it followed, its
    commission lines about the client), beside the client's parts."""
    from audit.evidence import EvidenceCase, EvidencePart
    from payments.hooks import case_record_sections
    from payments.services.chargebacks import chargeback_evidence

    deposit = case.deposit
    records = {f"{name}.json": data for name, data in case_record_sections(deposit).items()}
    entries = (
        JournalEntry.objects.filter(
            Q(source__in=[f"payments.deposit:{deposit.pk}", f"payments.chargebackcase:{case.pk}"])
            | Q(pk__in=[pk for pk in (deposit.entry_id, case.opened_entry_id, case.closing_entry_id) if pk])
        )
        .prefetch_related("postings__account")
        .order_by("id")
    )
    sent = bool(case.evidence_sha256)
    return EvidenceCase(
        kind="chargebacks",
        reference=case.reference,
        subject=("payments.chargebackcase", str(case.pk)),
        client=case.client,
        part=EvidencePart(
            files={
                "chargeback.json": {
                    "reference": case.reference,
                    "status": case.get_status_display(),
                    "provider": case.provider,
                    "dispute": case.dispute_id,
                    "deposit": deposit.reference,
                    "client": case.client.reference,
                    "amount": str(case.amount),
                    "currency": case.currency,
                    "network": case.network,
                    "reason_code": case.reason_code,
                    "reason": case.reason,
                    "due_at": case.due_at,
                    "from_wallet": str(case.from_wallet),
                    "owed_by_client": str(case.to_receivable),
                    "opened_at": case.opened_at,
                    "responded_at": case.responded_at,
                    "responded_by": case.responded_by.get_username() if case.responded_by else None,
                    "response_note": case.response_note,
                    "psp_receipt": case.response_id,
                    "closed_at": case.closed_at,
                },
                "chargeback_response.json": {
                    "sent": sent,
                    "sha256": case.evidence_sha256 if sent else None,
                    "note": "as sent to the PSP" if sent else "not sent yet: what the response would hold now",
                    "evidence": case.evidence if sent else chargeback_evidence(case),
                },
                "chargeback_entries.json": [
                    {
                        "entry": e.pk,
                        "at": e.created_at,
                        "kind": e.get_kind_display(),
                        "memo": e.memo,
                        "by": e.actor_label,
                        "postings": [
                            {"account": p.account.code, "amount": str(p.amount)}
                            for p in sorted(e.postings.all(), key=lambda p: p.pk)
                        ],
                    }
                    for e in entries
                ],
                # kept with the case, not sent to the PSP (the referring partner's records)
                **records,
            },
            subjects={("payments.deposit", str(deposit.pk))},
        ),
    )


def fx_rate_latest_before(base: str, quote: str, when: datetime) -> FxRate | None:
    """The pair's latest rate at or before ``when`` (this pair only, not its inverse)."""
    return FxRate.objects.filter(base=base, quote=quote, as_of__lte=when).order_by("-as_of").first()


def fx_rate_next_after(base: str, quote: str, when: datetime) -> FxRate | None:
    return FxRate.objects.filter(base=base, quote=quote, as_of__gt=when).order_by("as_of").first()
