"""Suspicious activity reports: who may do what, the draft prefilled from a risk alert or a screening
hit, editing it, submitting it for a second compliance officer (maker-checker ``risk.sar_file`` on
the sha256 of its content), carrying out the approval, exporting the file, and recording that it
was filed with the regulator.

The exported file is the report's content as canonical JSON (a regulator-neutral shape); its
sha256 is what the maker submits and the checker approves, so what is approved is byte for byte
what is exported. The content is frozen from submission on (only a draft is edited).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Client
from audit.actions import AuditAction
from audit.services import audit_record
from kyc.models import ScreeningHit
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny
from risk import errors
from risk.errors import RiskError
from risk.models import RiskAlert, SarSource, SarStatus, SuspiciousActivityReport

SAR_FILE = "risk.sar_file"
FORMAT = "backoffice-sar/1"
HIT_LOOKBACK_DAYS = 90
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{2,79}$")
ESCALATION_QUEUE = "compliance_escalation"


# --- who may -------------------------------------------------------------------------------------


def _compliance(actor: Any) -> bool:
    return bool(actor.is_authenticated and actor.has_perm("ops.work_as_compliance"))


def sar_can_view(actor: Any, sar: SuspiciousActivityReport | None = None) -> Decision:
    """Reports (and the list): compliance and the auditor. Risk officers raise and decide alerts but
    do not see the reports (need to know; the fewer who know of a report, the less risk of tipping
    off)."""
    if _compliance(actor) or (actor.is_authenticated and actor.has_perm("ops.view_audit_trail")):
        return ALLOWED
    return deny(errors.SAR_NOT_ALLOWED_VIEW)


def sar_can_start(actor: Any, origin: RiskAlert | ScreeningHit | None = None) -> Decision:
    """Start a draft from ``origin`` (an alert naming a client, or a screening hit) not reported yet."""
    if not _compliance(actor):
        return deny(errors.SAR_NOT_ALLOWED_DRAFT)
    if origin is None:
        return ALLOWED
    if isinstance(origin, RiskAlert):
        if origin.client_id is None:
            return deny(errors.SAR_NO_CLIENT)
        existing = SuspiciousActivityReport.objects.filter(alert=origin).first()
    else:
        existing = SuspiciousActivityReport.objects.filter(screening_hit=origin).first()
    if existing is not None:
        return deny(errors.SAR_EXISTS.format(sar=existing.reference))
    return ALLOWED


def _draft_only(actor: Any, sar: SuspiciousActivityReport) -> Decision:
    if not _compliance(actor):
        return deny(errors.SAR_NOT_ALLOWED_DRAFT)
    if sar.status != SarStatus.DRAFT:
        return deny(errors.SAR_NOT_DRAFT.format(sar=sar.reference, status=sar.get_status_display().lower()))
    return ALLOWED


def sar_can_edit(actor: Any, sar: SuspiciousActivityReport) -> Decision:
    return _draft_only(actor, sar)


def sar_can_submit(actor: Any, sar: SuspiciousActivityReport) -> Decision:
    from ops.services.approvals import approval_can_submit

    may = _draft_only(actor, sar)
    if not may:
        return may
    if not sar.narrative.strip():
        return deny(errors.SAR_NARRATIVE_REQUIRED)
    if not included(sar.transactions) and not sar.no_transactions_reason.strip():
        return deny(errors.SAR_NO_TRANSACTIONS)
    return approval_can_submit(actor, SAR_FILE)


def _approved(sar: SuspiciousActivityReport) -> Decision:
    if sar.status not in (SarStatus.APPROVED, SarStatus.FILED):
        return deny(errors.SAR_NOT_APPROVED.format(sar=sar.reference, status=sar.get_status_display().lower()))
    return ALLOWED


def sar_can_export(actor: Any, sar: SuspiciousActivityReport) -> Decision:
    """Download the approved file: whoever may see the report (compliance, the auditor)."""
    return sar_can_view(actor, sar) and _approved(sar)


def sar_can_record_filing(actor: Any, sar: SuspiciousActivityReport) -> Decision:
    if not _compliance(actor):
        return deny(errors.SAR_NOT_ALLOWED_DRAFT)
    if sar.status != SarStatus.APPROVED:
        return deny(errors.SAR_NOT_APPROVED.format(sar=sar.reference, status=sar.get_status_display().lower()))
    return ALLOWED


# --- the prefilled parts -------------------------------------------------------------------------


def subject_facts(client: Client) -> dict[str, Any]:
    address = ", ".join(
        p for p in (client.address_line, " ".join(x for x in (client.postcode, client.city) if x),
                    client.country.name if client.country else "") if p
    )  # fmt: skip
    facts: dict[str, Any] = {
        "name": client.display_name,
        "reference": client.reference,
        "kind": client.get_kind_display(),
        "date_of_birth": client.date_of_birth.isoformat() if client.date_of_birth else None,
        "nationality": client.nationality.name if client.nationality else None,
        "address": address,
    }
    if client.registration_number:
        facts["registration_number"] = client.registration_number
    return facts


def included(transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in transactions if t.get("included", True)]


def _alert_transactions(alert: RiskAlert) -> list[dict[str, Any]]:
    from risk.selectors import evidence_rows

    return [
        {
            "type": row["what"], "reference": row["reference"],
            "amount": str(row["amount"]) if row["amount"] is not None else None, "currency": row["currency"] or None,
            "at": row["at"] or None, "details": row["details"], "included": True,
        }
        for row in evidence_rows(alert)
    ]  # fmt: skip


def _client_transactions(client: Client, *, days: int = HIT_LOOKBACK_DAYS) -> list[dict[str, Any]]:
    """The client's deposits and withdrawals of the last ``days``, read through payments' selectors."""
    from payments.selectors import client_deposits, client_withdrawals

    since = timezone.now() - timedelta(days=days)
    rows = []
    for deposit in client_deposits(client).filter(created_at__gte=since):
        rows.append({
            "type": "Deposit", "reference": deposit.reference, "amount": str(deposit.amount),
            "currency": deposit.currency, "at": deposit.created_at.isoformat()[:16].replace("T", " "),
            "details": "; ".join(x for x in (deposit.get_channel_display(), deposit.get_status_display(),
                                             f"payer {deposit.payer_name}" if deposit.payer_name else "") if x),
            "included": True,
        })  # fmt: skip
    for withdrawal in client_withdrawals(client).filter(created_at__gte=since):
        rows.append({
            "type": "Withdrawal", "reference": withdrawal.reference, "amount": str(withdrawal.amount),
            "currency": withdrawal.currency, "at": withdrawal.created_at.isoformat()[:16].replace("T", " "),
            "details": f"{withdrawal.get_method_display()}; {withdrawal.get_status_display()}; "
                       f"to {withdrawal.destination_name}",
            "included": True,
        })  # fmt: skip
    return sorted(rows, key=lambda r: (r["at"], r["reference"]))


def prefill(origin: RiskAlert | ScreeningHit) -> dict[str, Any]:
    """What a new draft starts with: the subject, the transactions and what fired."""
    if isinstance(origin, RiskAlert):
        client = Client.objects.get(pk=origin.client_id)
        fired: dict[str, Any] = {"type": "Monitoring alert", "alert": origin.pk, "summary": origin.summary,
                                 "raised_at": origin.raised_at.isoformat(), "decision": origin.get_status_display()}  # fmt: skip
        if origin.rule is not None and origin.rule_version is not None:
            fired |= {"rule": origin.rule.name, "rule_code": origin.rule.code,
                      "rule_version": origin.rule_version.number, "parameters": origin.rule_version.params}  # fmt: skip
        return {"source": SarSource.ALERT, "client": client, "subject": subject_facts(client),
                "transactions": _alert_transactions(origin), "fired": fired}  # fmt: skip
    hit = ScreeningHit.objects.select_related("client", "version").get(pk=origin.pk)
    fired = {
        "type": "Screening hit", "hit": hit.pk, "list": hit.version.name, "list_entry": hit.entry_id,
        "entry_name": hit.entry_name, "matched_name": hit.matched_name, "score": str(hit.score),
        "name_score": str(hit.name_score), "date_of_birth_match": hit.dob_match, "country_match": hit.country_match,
        "decision": hit.get_status_display(),
    }  # fmt: skip
    return {"source": SarSource.SCREENING_HIT, "client": hit.client, "subject": subject_facts(hit.client),
            "transactions": _client_transactions(hit.client), "fired": fired}  # fmt: skip


# --- the content, its file and its hash ----------------------------------------------------------


def sar_content(sar: SuspiciousActivityReport) -> dict[str, Any]:
    """What is approved and exported (nothing that changes after submission)."""
    return {
        "format": FORMAT,
        "report": sar.reference,
        "prepared_by": sar.created_by.get_username(),
        "prepared_at": sar.created_at.isoformat(),
        "subject": sar.subject,
        "what_fired": sar.fired,
        "transactions": [{k: v for k, v in t.items() if k != "included"} for t in included(sar.transactions)],
        "no_transactions_reason": sar.no_transactions_reason or None,
        "narrative": sar.narrative,
    }


def sar_document(sar: SuspiciousActivityReport) -> bytes:
    """The exported file: the content as canonical, readable JSON."""
    return (json.dumps(sar_content(sar), sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def sar_sha256(sar: SuspiciousActivityReport) -> str:
    return hashlib.sha256(sar_document(sar)).hexdigest()


# --- writes --------------------------------------------------------------------------------------


def _check_text(narrative: str, transactions: list[dict[str, Any]], no_transactions_reason: str) -> dict[str, str]:
    problems = {}
    if not (narrative or "").strip():
        problems["narrative"] = errors.SAR_NARRATIVE_REQUIRED
    if not included(transactions) and not (no_transactions_reason or "").strip():
        problems["no_transactions_reason"] = errors.SAR_NO_TRANSACTIONS
    return problems


def _keep(transactions: list[dict[str, Any]], keep: list[int] | None) -> list[dict[str, Any]]:
    if keep is None:
        return transactions
    return [t | {"included": n in keep} for n, t in enumerate(transactions)]


@transaction.atomic(durable=True)
def sar_draft(
    *,
    actor: User,
    origin: RiskAlert | ScreeningHit,
    narrative: str,
    keep: list[int] | None = None,
    no_transactions_reason: str = "",
) -> SuspiciousActivityReport:
    """Start a draft from an alert or a screening hit, prefilled, with the analyst's narrative."""
    sar_can_start(actor, origin).require(RiskError)
    facts = prefill(origin)
    transactions = _keep(facts["transactions"], keep)
    problems = _check_text(narrative, transactions, no_transactions_reason)
    if problems:
        raise RiskError(problems)
    sar = SuspiciousActivityReport(
        source=facts["source"], client=facts["client"], subject=facts["subject"], transactions=transactions,
        fired=facts["fired"], narrative=narrative.strip(), no_transactions_reason=no_transactions_reason.strip(),
        created_by=actor,
        alert=origin if isinstance(origin, RiskAlert) else None,
        screening_hit=origin if isinstance(origin, ScreeningHit) else None,
    )  # fmt: skip
    try:
        with transaction.atomic():
            sar.save()
    except IntegrityError:  # started by someone else a moment ago
        raise RiskError(errors.SAR_EXISTS.format(sar="A report")) from None
    audit_record(
        action=AuditAction.SAR_DRAFTED, subject=sar,
        after={"source": sar.source, "origin": facts["fired"].get("alert") or facts["fired"].get("hit"),
               "client": sar.client.reference, "transactions": len(included(transactions))},
    )  # fmt: skip
    return sar


@transaction.atomic(durable=True)
def sar_edit(
    *, sar_id: int, actor: User, narrative: str, keep: list[int] | None, no_transactions_reason: str
) -> SuspiciousActivityReport:
    sar = SuspiciousActivityReport.objects.select_for_update().get(pk=sar_id)
    sar_can_edit(actor, sar).require(RiskError)
    transactions = _keep(sar.transactions, keep)
    problems = _check_text(narrative, transactions, no_transactions_reason)
    if problems:
        raise RiskError(problems)
    before = {"narrative_chars": len(sar.narrative), "transactions": len(included(sar.transactions))}
    sar.narrative, sar.transactions = narrative.strip(), transactions
    sar.no_transactions_reason = no_transactions_reason.strip()
    sar.updated_at = timezone.now()
    sar.save(update_fields=["narrative", "transactions", "no_transactions_reason", "updated_at"])
    audit_record(
        action=AuditAction.SAR_EDITED, subject=sar, before=before,
        after={"narrative_chars": len(sar.narrative), "transactions": len(included(transactions)),
               "sha256": sar_sha256(sar)},
    )  # fmt: skip
    return sar


@transaction.atomic(durable=True)
def sar_submit(*, sar_id: int, actor: User, reason: str) -> ApprovalRequest:
    """Ask a second compliance officer to approve exactly this content (its sha256 in the payload)."""
    from ops.services.approvals import approval_create

    sar = SuspiciousActivityReport.objects.select_for_update().get(pk=sar_id)
    sar_can_submit(actor, sar).require(RiskError)
    if not (reason or "").strip():
        raise RiskError({"reason": errors.REASON_REQUIRED})
    sar.submit()
    sar.save(update_fields=["status"])
    digest = sar_sha256(sar)
    audit_record(
        action=AuditAction.SAR_SUBMITTED, subject=sar, before={"status": SarStatus.DRAFT},
        after={"status": sar.status, "sha256": digest}, reason=reason.strip(),
    )  # fmt: skip
    payload = {"sar": sar.pk, "report": sar.reference, "client": sar.client.reference, "content_sha256": digest}
    return approval_create(action=SAR_FILE, subject=sar, payload=payload, maker=actor, reason=reason)


def sar_check_pending(sar: SuspiciousActivityReport, payload: dict[str, Any]) -> None:
    """The request still describes the report as it stands (checked when asked and when approved)."""
    if sar.status != SarStatus.PENDING_APPROVAL:
        raise RiskError(errors.SAR_NOT_DRAFT.format(sar=sar.reference, status=sar.get_status_display().lower()))
    if payload.get("sar") != sar.pk or payload.get("content_sha256") != sar_sha256(sar):
        raise RiskError(errors.SAR_CHANGED.format(sar=sar.reference))


@transaction.atomic
def sar_approve_apply(*, sar_id: int, payload: dict[str, Any], request: ApprovalRequest) -> SuspiciousActivityReport:
    """Carry out the approval (in the engine's transaction): the approved hash is fixed on the report."""
    sar = SuspiciousActivityReport.objects.select_for_update().get(pk=sar_id)
    sar_check_pending(sar, payload)
    sar.approve()
    sar.content_sha256 = str(payload["content_sha256"])
    sar.approval = request
    sar.approved_at = timezone.now()
    sar.save(update_fields=["status", "content_sha256", "approval", "approved_at"])
    audit_record(
        action=AuditAction.SAR_APPROVED, subject=sar, before={"status": SarStatus.PENDING_APPROVAL},
        after={"status": sar.status, "sha256": sar.content_sha256}, reason=f"approval #{request.pk}: {request.reason}",
    )  # fmt: skip
    return sar


@transaction.atomic
def sar_reopen(*, sar_id: int, request: ApprovalRequest) -> None:
    """The request closed without approval (rejected, cancelled, expired): the report is a draft again."""
    sar = SuspiciousActivityReport.objects.select_for_update().get(pk=sar_id)
    if sar.status != SarStatus.PENDING_APPROVAL:
        return
    sar.reopen()
    sar.save(update_fields=["status"])
    audit_record(
        action=AuditAction.SAR_REOPENED, subject=sar, before={"status": SarStatus.PENDING_APPROVAL},
        after={"status": sar.status}, reason=f"approval #{request.pk} {request.get_status_display().lower()}",
    )  # fmt: skip


@transaction.atomic(durable=True)
def sar_export(*, sar_id: int, actor: User) -> bytes:
    """The approved file, checked against the approved hash; each download is audited."""
    sar = SuspiciousActivityReport.objects.select_related("created_by").get(pk=sar_id)
    sar_can_export(actor, sar).require(RiskError)
    document = sar_document(sar)
    digest = hashlib.sha256(document).hexdigest()
    if digest != sar.content_sha256:
        raise RiskError(errors.SAR_CHANGED.format(sar=sar.reference))
    audit_record(action=AuditAction.SAR_EXPORTED, subject=sar, after={"sha256": digest, "bytes": len(document)})
    return document


@transaction.atomic(durable=True)
def sar_record_filing(*, sar_id: int, actor: User, regulator_reference: str) -> SuspiciousActivityReport:
    """A person filed the approved file with the regulator and enters the reference it gave; the
    escalation of the originating alert, if still open, closes naming the report."""
    from ops.services.work_items import work_item_resolve_for_subject

    sar = SuspiciousActivityReport.objects.select_for_update().get(pk=sar_id)
    sar_can_record_filing(actor, sar).require(RiskError)
    regulator_reference = (regulator_reference or "").strip()
    if not REFERENCE.match(regulator_reference):
        raise RiskError({"regulator_reference": errors.SAR_REFERENCE_FORMAT})
    sar.file()
    sar.filed_at, sar.filed_by, sar.regulator_reference = timezone.now(), actor, regulator_reference
    sar.save(update_fields=["status", "filed_at", "filed_by", "regulator_reference"])
    audit_record(
        action=AuditAction.SAR_FILED, subject=sar, before={"status": SarStatus.APPROVED},
        after={"status": sar.status, "regulator_reference": regulator_reference, "sha256": sar.content_sha256},
    )  # fmt: skip
    if sar.alert_id is not None:
        work_item_resolve_for_subject(
            queue=ESCALATION_QUEUE, subject=sar.alert, code="true_match",
            note=f"{sar.reference} filed with the regulator (reference {regulator_reference}): {sar.get_absolute_url()}",
        )  # fmt: skip
    return sar
