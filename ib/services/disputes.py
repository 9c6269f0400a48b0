"""Commission disputes: a partner or a staff member disputes a statement line (or a deal that
earned nothing); the dispute is a work item of the ``ib_dispute`` queue, with its SLA; it is
resolved with a resolution code, or by an approved adjustment (``ib.commission_adjustment``,
maker-checker) that creates an ADJUSTMENT line and resolves it as adjusted. A refused adjustment
sends the dispute back to open.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ib import errors
from ib.errors import PartnerError
from ib.models import CommissionLine, Deal, Dispute, DisputeResolution, DisputeStatus, Partner
from ops.models import ApprovalRequest, ResolutionCode, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.work_items import work_item_open, work_item_resolve_for_subject

QUEUE = "ib_dispute"
ADJUSTMENT_ACTION = "ib.commission_adjustment"

# The work item closes with the ops code nearest to the dispute's own (kept in its note).
WORK_ITEM_CODE = {
    DisputeResolution.ADJUSTED: ResolutionCode.FIXED,
    DisputeResolution.CORRECT_AS_PAID: ResolutionCode.NO_ACTION,
    DisputeResolution.OUTSIDE_PLAN: ResolutionCode.REJECTED,
    DisputeResolution.DUPLICATE: ResolutionCode.DUPLICATE,
    DisputeResolution.WITHDRAWN: ResolutionCode.NO_ACTION,
}


def dispute_can_handle(actor: User | None) -> Decision:
    """Raise a dispute as staff, resolve it, propose an adjustment (support and finance)."""
    if actor is None or not actor.is_authenticated:
        return deny(errors.NOT_ALLOWED_DISPUTE)
    if not (actor.has_perm("ops.view_partners") and actor.has_perm("ops.handle_ib_disputes")):
        return deny(errors.NOT_ALLOWED_DISPUTE)
    return ALLOWED


def dispute_can_resolve(actor: User, dispute: Dispute) -> Decision:
    may = dispute_can_handle(actor)
    if not may:
        return may
    if dispute.status == DisputeStatus.ADJUSTMENT_PENDING:
        return deny(errors.DISPUTE_ADJUSTMENT_WAITING.format(reference=dispute.reference))
    if dispute.status != DisputeStatus.OPEN:
        return deny(_not_open(dispute, "resolve"))
    return ALLOWED


def dispute_can_propose_adjustment(actor: User, dispute: Dispute) -> Decision:
    may = dispute_can_handle(actor)
    if not may:
        return may
    if not actor.has_perm("ops.handle_ib_disputes"):
        return deny(errors.NOT_ALLOWED_ADJUST)
    if dispute.status != DisputeStatus.OPEN:
        return deny(_not_open(dispute, "propose an adjustment on"))
    return ALLOWED


def _not_open(dispute: Dispute, verb: str) -> str:
    return errors.DISPUTE_NOT_OPEN.format(
        reference=dispute.reference, status=DisputeStatus(dispute.status).label.lower(), verb=verb
    )


def _next_reference() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('ib_dispute_reference_seq')")
        row = cursor.fetchone()
    assert row is not None
    return f"IBD-{row[0]:06d}"


def _snapshot(dispute: Dispute) -> dict[str, Any]:
    return {"status": dispute.status, "resolution": dispute.resolution, "approval": dispute.approval_id}


def _dispute_lock(dispute_id: int) -> Dispute:
    try:
        return Dispute.objects.select_for_update(of=("self",)).select_related("partner").get(pk=int(dispute_id))
    except (Dispute.DoesNotExist, TypeError, ValueError):
        raise PartnerError(f"No dispute #{dispute_id}.") from None


def _partner_of(line: CommissionLine | None, deal: Deal | None) -> Partner | None:
    from ib.selectors import attribution_at

    if line is not None:
        if line.partner_id is not None:
            return line.partner
        return Partner.objects.filter(pk__in=line.tree[:1]).first()  # a rebate: the introducing partner's
    assert deal is not None
    attribution = attribution_at(deal.client, deal.closed_at)
    return attribution.partner if attribution is not None else None


@transaction.atomic(durable=True)
def dispute_raise(
    *,
    partner: Partner | None = None,
    line: CommissionLine | None = None,
    deal: Deal | None = None,
    claim: str,
    claimed_amount: Decimal | None = None,
    actor: User | None = None,
    raised_by: str = "",
) -> Dispute:
    """Dispute a statement line (or a deal that earned nothing). A staff member (``actor``) may
    dispute any line they may see; a partner (``actor`` None, ``partner`` the one raising it,
    ``raised_by`` its label, e.g. from the partner API) only its own lines. Opens the dispute's
    work item in the IB dispute queue, with the queue's SLA."""
    if actor is not None:
        dispute_can_handle(actor).require(PartnerError)
        raised_by = actor.get_username()
    elif partner is None or not raised_by.strip():
        raise PartnerError(errors.NOT_ALLOWED_DISPUTE)
    if line is None and deal is None:
        raise PartnerError(errors.DISPUTE_NEEDS_LINE_OR_DEAL)
    claim = (claim or "").strip()
    if not claim:
        raise PartnerError(errors.DISPUTE_NEEDS_CLAIM)
    if claimed_amount is not None and claimed_amount <= 0:
        raise PartnerError(errors.DISPUTE_CLAIMED_NOT_POSITIVE)
    if line is not None and deal is None:
        deal = line.deal
    owner = _partner_of(line, deal)
    if actor is None:  # a partner disputes only its own lines (or deals of clients it introduced)
        assert partner is not None
        if owner is None or owner.pk != partner.pk:
            raise PartnerError(errors.DISPUTE_NOT_YOUR_LINE.format(partner=partner.name))
    owner = owner or partner
    if owner is None:
        raise PartnerError(errors.DISPUTE_NO_PARTNER)
    dispute = Dispute.objects.create(
        reference=_next_reference(), partner=owner, line=line, deal=deal, claim=claim,
        claimed_amount=claimed_amount, raised_by=raised_by.strip()[:150],
    )  # fmt: skip
    what = f"line #{line.pk}" if line is not None else f"deal {deal.deal_id}"  # type: ignore[union-attr]
    item = work_item_open(
        queue=QUEUE,
        subject=dispute,
        title=f"Commission dispute {dispute.reference}: {owner.name}, {what}",
        amount_at_stake=claimed_amount or Decimal("0"),
        details={"claim": claim[:500], "raised_by": dispute.raised_by},
    )
    dispute.work_item = item
    dispute.save(update_fields=["work_item"])
    audit_record(
        action=AuditAction.DISPUTE_RAISED,
        subject=dispute,
        after={"reference": dispute.reference, "partner": owner.name, "line": line.pk if line else None,
               "deal": deal.deal_id if deal else None, "claimed_amount": str(claimed_amount or ""),
               "raised_by": dispute.raised_by, "work_item": item.pk},
        reason=claim,
    )  # fmt: skip
    return dispute


@transaction.atomic
def _settle(dispute: Dispute, *, resolution: str, note: str, resolved_by: str) -> Dispute:
    before = _snapshot(dispute)
    dispute.resolve()
    dispute.resolution = resolution
    dispute.resolution_note = note
    dispute.resolved_at = timezone.now()
    dispute.save()
    label = DisputeResolution(resolution).label
    work_item_resolve_for_subject(
        queue=dispute.work_item.queue.code if dispute.work_item else QUEUE,
        subject=dispute,
        code=WORK_ITEM_CODE[DisputeResolution(resolution)],
        note=f"{label}: {note}"[:2000],
    )
    audit_record(
        action=AuditAction.DISPUTE_RESOLVED,
        subject=dispute,
        before=before,
        after=_snapshot(dispute) | {"resolved_by": resolved_by},
        reason=note,
    )
    return dispute


@transaction.atomic(durable=True)
def dispute_resolve(*, dispute_id: int, actor: User, resolution: str, note: str) -> Dispute:
    """Close a dispute with a resolution code and a note (its work item closes with it). "Adjusted"
    is not chosen here: it is the outcome of an approved adjustment."""
    choices = [c for c in DisputeResolution.values if c != DisputeResolution.ADJUSTED]
    if resolution not in choices:
        raise PartnerError(errors.DISPUTE_UNKNOWN_RESOLUTION.format(choices=", ".join(choices)))
    if not (note or "").strip():
        raise PartnerError(errors.DISPUTE_NEEDS_NOTE)
    dispute = _dispute_lock(dispute_id)
    dispute_can_resolve(actor, dispute).require(PartnerError)
    return _settle(dispute, resolution=resolution, note=note.strip(), resolved_by=actor.get_username())


@transaction.atomic(durable=True)
def dispute_propose_adjustment(*, dispute_id: int, actor: User, amount: Any, reason: str) -> ApprovalRequest:
    """Propose an adjustment in the partner's favour settling the dispute: an
    ``ib.commission_adjustment`` request (a finance officer other than the maker approves). The
    dispute waits for it (adjustment pending)."""
    from ib.services.money import adjustment_amount
    from ops.services.approvals import approval_create

    dispute = _dispute_lock(dispute_id)
    dispute_can_propose_adjustment(actor, dispute).require(PartnerError)
    if not (reason or "").strip():
        raise PartnerError(errors.ADJUSTMENT_REASON)
    currency = dispute.line.currency if dispute.line is not None else _currency_of(dispute)
    value = adjustment_amount(amount, currency)
    if value <= 0:
        raise PartnerError(errors.ADJUSTMENT_NOT_POSITIVE)
    client = dispute.line.client_id if dispute.line is not None else dispute.deal.client_id  # type: ignore[union-attr]
    payload = {
        "partner": dispute.partner_id, "amount": str(value), "currency": currency, "client": client,
        "line": dispute.line_id, "dispute": dispute.pk, "reason": reason.strip(),
    }  # fmt: skip
    request = approval_create(action=ADJUSTMENT_ACTION, subject=dispute, payload=payload, maker=actor, reason=reason)
    before = _snapshot(dispute)
    dispute.propose_adjustment()
    dispute.approval = request
    dispute.save()
    audit_record(
        action=AuditAction.DISPUTE_ADJUSTMENT_PROPOSED,
        subject=dispute,
        before=before,
        after=_snapshot(dispute) | {"amount": str(value), "currency": currency},
        reason=reason,
    )
    return request


def _currency_of(dispute: Dispute) -> str:
    """A deal dispute's currency: the plan the partner follows, else the deal's."""
    from ib.models import PartnerPlan

    followed = PartnerPlan.objects.filter(partner=dispute.partner).select_related("plan").order_by("-valid_from")
    first = followed.first()
    if first is not None:
        return first.plan.currency
    assert dispute.deal is not None
    return dispute.deal.currency


@transaction.atomic
def dispute_adjusted(*, dispute_id: int, adjustment: CommissionLine, request: ApprovalRequest) -> Dispute:
    """The dispute's adjustment was approved and made: the dispute resolves as adjusted."""
    dispute = _dispute_lock(dispute_id)
    note = f"Adjustment of {adjustment.amount} {adjustment.currency} approved (#{request.pk}), line #{adjustment.pk}"
    return _settle(dispute, resolution=DisputeResolution.ADJUSTED, note=note, resolved_by="approval")


@transaction.atomic
def dispute_adjustment_closed(*, dispute_id: int, request: ApprovalRequest) -> None:
    """The dispute's adjustment was rejected, cancelled or expired: the dispute is open again."""
    dispute = _dispute_lock(dispute_id)
    if dispute.status != DisputeStatus.ADJUSTMENT_PENDING:
        return
    before = _snapshot(dispute)
    dispute.adjustment_refused()
    dispute.save()
    audit_record(
        action=AuditAction.DISPUTE_REOPENED,
        subject=dispute,
        before=before,
        after=_snapshot(dispute),
        reason=f"adjustment request #{request.pk} {request.status}",
    )
