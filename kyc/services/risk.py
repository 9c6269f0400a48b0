"""Risk scoring and enhanced due diligence.

The score adds up configurable factors (``kyc.RiskFactor``); each factor's contribution is stored
on the assessment so a reviewer sees why. High-risk jurisdictions, PEPs and complex structures send
the client to enhanced due diligence: extra documents (source of funds and wealth), an EDD work
item, and approval of the client by two compliance officers (maker-checker). A low-risk client
with every document accepted can be approved by one reviewer.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Client, ClientKind, ClientStatus, PartyRole, SourceOfFunds
from accounts.selectors import client_is_visible_to
from accounts.services.crm import crm_push_record
from audit.actions import AuditAction
from audit.context import current_actor
from audit.services import audit_configure, audit_record
from kyc import errors
from kyc.errors import KycError
from kyc.models import Document, DocumentStatus, RiskAssessment, RiskFactor
from kyc.requirements import EDD_EXTRA, REQUIRED
from kyc.risk_factors import HIGH_FROM, MEDIUM_FROM, jurisdiction_levels
from ops.models import RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny

OWNER_ROLES = (PartyRole.BENEFICIAL_OWNER, PartyRole.SHAREHOLDER)


def _applicable(client: Client) -> list[tuple[str, str]]:
    """(factor code, what triggered it) for this client."""
    hits: list[tuple[str, str]] = []
    levels = jurisdiction_levels()
    parties = list(client.parties.all())
    countries = {str(c) for c in (client.country, client.nationality) if c} | {
        str(p.country) for p in parties if p.country
    }
    high = sorted(c for c in countries if levels.get(c) == "high")
    monitored = sorted(c for c in countries if levels.get(c) == "medium")
    if high:
        hits.append(("country_high", ", ".join(high)))
    elif monitored:
        hits.append(("country_monitored", ", ".join(monitored)))
    peps = [p.name for p in parties if p.is_pep] + (["client"] if "pep" in (client.tags or []) else [])
    if peps:
        hits.append(("pep", ", ".join(peps)))
    if client.kind == ClientKind.CORPORATE:
        hits.append(("corporate", ""))
        owners = [p for p in parties if p.role in OWNER_ROLES]
        layered = [
            p.name
            for p in owners
            if p.linked_client_id and p.linked_client and p.linked_client.kind == ClientKind.CORPORATE
        ]
        if len({p.name for p in owners}) >= 3 or layered:
            hits.append(
                (
                    "complex_structure",
                    f"{len({p.name for p in owners})} owners" + (f"; via {', '.join(layered)}" if layered else ""),
                )
            )
    if client.source_of_funds in ("", SourceOfFunds.OTHER):
        hits.append(("source_of_funds_unevidenced", client.get_source_of_funds_display() or "not declared"))
    if _has_screening_hit(client):
        hits.append(("screening_hit", "see the screening queue"))
    return hits


def _identity_hits(client: Client) -> list[tuple[str, str, float]]:
    """The identity verification provider's latest result on each current checked document: its
    risk score as a share of the factor's points (the highest one), and any failed or mismatching
    check."""
    from kyc.models import IdentityCheck, IdentityCheckStatus

    latest: dict[int, IdentityCheck] = {}
    for check in (
        IdentityCheck.objects.select_related("document")
        .filter(
            client=client,
            status=IdentityCheckStatus.COMPLETED,
            document__status__in=[DocumentStatus.PENDING, DocumentStatus.ACCEPTED],
        )
        .order_by("document_id", "-completed_at", "-id")
    ):
        latest.setdefault(check.document_id, check)
    if not latest:
        return []
    worst = max(latest.values(), key=lambda c: c.risk_score or 0)
    hits = [
        (
            "identity_check_risk",
            f"provider score {worst.risk_score}/100 ({worst.get_result_display().lower()}, {worst.provider_check_id})",
            (worst.risk_score or 0) / 100,
        )
    ]
    exceptions = [c for c in latest.values() if c.is_exception]
    if exceptions:
        hits.append(
            (
                "identity_check_exception",
                "; ".join(
                    f"{c.document.get_kind_display()}: "
                    + (
                        ", ".join(m["label"].lower() + " differs" for m in c.mismatches)
                        or c.get_result_display().lower()
                    )
                    for c in exceptions
                ),
                1.0,
            )
        )
    return hits


def _has_screening_hit(client: Client) -> bool:
    from ops.models import OPEN_STATUSES, WorkItem

    return WorkItem.objects.filter(
        queue__code="screening_hit", subject_type__model="client", subject_id=str(client.pk), status__in=OPEN_STATUSES
    ).exists()


def risk_can_assess(actor: User, client: Client) -> Decision:
    """Reassess a client's risk by hand (the system also does on its own, with no actor)."""
    if not actor.has_perm("ops.set_risk_level"):
        return deny(errors.NOT_ALLOWED.format(verb="set client risk levels"))
    if not client_is_visible_to(actor, client):
        return deny(errors.OUT_OF_SCOPE)
    return ALLOWED


@transaction.atomic
def risk_assess(*, client_id: int, actor: User | None = None) -> RiskAssessment:
    """Score the client now, store the assessment, set its risk level, and open EDD if needed.
    ``actor`` None: the system's own reassessment (documents complete, a screening hit)."""
    from ops.services.work_items import work_item_open

    client = Client.objects.select_for_update().get(pk=client_id)
    if actor is not None:
        risk_can_assess(actor, client).require(KycError)
    factors = {f.code: f for f in RiskFactor.objects.filter(is_active=True)}
    contributions: list[dict[str, Any]] = []
    hits = [(code, detail, 1.0) for code, detail in _applicable(client)] + _identity_hits(client)
    for code, detail, share in hits:
        factor = factors.get(code)
        if factor is not None:
            contributions.append(
                {
                    "code": code,
                    "label": factor.label,
                    "points": round(factor.points * share),
                    "detail": detail,
                    "forces_edd": factor.forces_edd,
                }
            )
    score = min(100, sum(c["points"] for c in contributions))
    edd = any(c["forces_edd"] for c in contributions) or score >= HIGH_FROM
    level = RiskLevel.HIGH if edd else RiskLevel.MEDIUM if score >= MEDIUM_FROM else RiskLevel.LOW
    acting = current_actor()
    assessment = RiskAssessment.objects.create(
        client=client, score=score, level=level, edd_required=edd, factors=contributions,
        assessed_by=acting.label if acting else "system",
    )  # fmt: skip
    before = client.risk_level
    if before != level:
        client.risk_level = level
        client._change_reason = f"risk assessed: {level} ({score})"
        client.save(update_fields=["risk_level"])
        crm_push_record(client=client, reason=f"risk {level}")
    audit_record(
        action=AuditAction.KYC_RISK_ASSESSED,
        subject=client,
        before={"risk_level": before},
        after={"risk_level": level, "score": score, "edd": edd, "factors": [c["code"] for c in contributions]},
    )
    if edd and client.status in (ClientStatus.PENDING_REVIEW, ClientStatus.PENDING_DOCUMENTS):
        work_item_open(
            queue="edd",
            subject=client,
            title=f"Enhanced due diligence: {client.display_name} ({client.reference})",
            risk_level=RiskLevel.HIGH,
            details={"score": score, "factors": ", ".join(c["code"] for c in contributions)},
        )
    return assessment


def latest_assessment(client: Client) -> RiskAssessment | None:
    return client.risk_assessments.order_by("-assessed_at", "-id").first()


def missing_for_approval(client: Client) -> list[str]:
    """What stops a reviewer from approving: documents not accepted (EDD extras included)."""
    assessment = latest_assessment(client)
    kinds = [*REQUIRED[client.kind], *(EDD_EXTRA if assessment and assessment.edd_required else [])]
    accepted = set(
        Document.objects.filter(client=client, status=DocumentStatus.ACCEPTED).values_list("kind", flat=True)
    )
    return [k for k in kinds if k not in accepted]


def approval_guard(client: Client, transition: str, via_approval: bool) -> str | None:
    """Registered with accounts: approving needs every document accepted, and a high-risk client
    needs the two-officer EDD approval."""
    if transition != "approve":
        return None
    missing = missing_for_approval(client)
    if missing:
        from kyc.models import DocumentKind

        return "Not every document is accepted yet: " + ", ".join(DocumentKind(k).label for k in missing) + "."
    assessment = latest_assessment(client)
    if assessment is None:
        return "The client has no risk assessment yet."
    if assessment.edd_required and not via_approval:
        return (
            "This client is high risk: approval after enhanced due diligence needs two compliance officers; request it."
        )
    return None


RISK_FACTOR_CONFIGURABLE = ("label", "points", "forces_edd", "is_active")


@transaction.atomic  # composed: the Django admin wraps its change view in a transaction
def risk_factor_configure(*, risk_factor_id: int, changes: dict[str, Any], reason: str) -> RiskFactor:
    """Tune one factor of the risk score (its points, whether it forces EDD, whether it counts).
    Audited with the changed fields and the reason; history keeps every version. New factors come
    with the code that computes them (``kyc.risk_factors``), so none is created here."""
    if not reason.strip():
        raise ValidationError({"change_reason": errors.REASON_FOR_CONFIGURATION})
    unknown = set(changes) - set(RISK_FACTOR_CONFIGURABLE)
    if unknown:
        raise ValidationError(errors.NOT_CONFIGURABLE.format(fields=", ".join(sorted(unknown))))
    factor = RiskFactor.objects.select_for_update().get(pk=risk_factor_id)
    audit_configure(factor, changes=changes, reason=reason, action=AuditAction.KYC_RISK_FACTOR_CONFIGURED)
    return factor


@transaction.atomic
def risk_level_set(*, client_id: int, level: str, actor: User, reason: str) -> Client:
    """Set a client's risk level by hand, inside the caller's transaction (an agent's proposed level
    that a compliance officer approved: the officer is ``actor``, with the same checks)."""
    client = Client.objects.select_for_update().get(pk=client_id)
    risk_can_assess(actor, client).require(KycError)
    if level not in RiskLevel.values:
        raise KycError(f"level: {level!r} is not a risk level.")
    before = client.risk_level
    if before != level:
        client.risk_level = level
        client._change_reason = reason
        client.save(update_fields=["risk_level"])
        crm_push_record(client=client, reason=f"risk {level}")
    audit_record(
        action=AuditAction.KYC_RISK_LEVEL_SET,
        subject=client,
        before={"risk_level": before},
        after={"risk_level": level},
        reason=reason,
    )
    return client
