"""Suspicious activity reports: a draft prefilled from a risk alert (its evidence, its rule and
version) or from a screening hit (the client's last 90 days of deposits and withdrawals, the list
entry and score), a narrative required (nothing stored without it), approval by a second compliance
officer on the sha256 of the content (never the maker), the exported file having exactly that hash,
and the filing recorded with the regulator's reference, audited, shown on the alert."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from audit.models import AuditEvent
from kyc.models import HitStatus, SanctionsListVersion, ScreeningHit
from ops.errors import OpsError
from ops.models import ApprovalRequest, ApprovalStatus, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.models import Deposit
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_request
from risk import errors
from risk.errors import RiskError
from risk.models import RuleKind, SarStatus, SuspiciousActivityReport
from risk.sar import prefill, sar_draft, sar_export, sar_record_filing, sar_sha256, sar_submit
from risk.services import alert_dispose, rule_evaluate
from tests.factories import approved_client, card_deposit, staff
from tests.personas import sign_in
from tests.risk.test_rules import _rule_in_force

pytestmark = pytest.mark.django_db

STRUCTURING = {"direction": "deposit", "threshold": "1000", "band_pct": 10, "min_count": 3, "window_days": 7}


def _as(user) -> HttpClient:
    return sign_in(HttpClient(), user)


def _structured():
    """A client who deposits three amounts just under 1,000, and the alert the rule raises on them."""
    c = approved_client(first_name="Stella", last_name="Split", date_of_birth="1980-02-03", nationality="DE",
                        address_line="1 Hauptstrasse", city="Berlin", postcode="10115")  # fmt: skip
    deposits = [card_deposit(c, amount) for amount in ("950.00", "960.00", "980.00")]
    rule = _rule_in_force(STRUCTURING, kind=RuleKind.STRUCTURING, code="STRUCT")
    (alert,) = rule_evaluate(rule_id=rule.pk)
    return c, deposits, rule, alert


def _hit(c, *, status: str = HitStatus.TRUE_MATCH) -> ScreeningHit:
    version = SanctionsListVersion.objects.create(name="Consolidated list", source_file="t.csv", sha256="0" * 64)
    return ScreeningHit.objects.create(
        client=c, version=version, entry_id="Q42", entry_data_hash="0" * 64, entry_name="Stela Splitt",
        matched_name=c.display_name, score=Decimal("91.50"), name_score=Decimal("88.00"), dob_match=True,
        country_match=False, status=status,
    )  # fmt: skip


def _draft(alert, maker, narrative: str = "Three deposits split under the threshold within an hour."):
    return sar_draft(actor=maker, origin=alert, narrative=narrative)


# --- prefill ------------------------------------------------------------------------------------------


def test_good_prefill_from_an_alert_has_subject_evidence_and_rule() -> None:
    c, deposits, rule, alert = _structured()
    facts = prefill(alert)
    assert facts["subject"] == {
        "name": "Stella Split", "reference": c.reference, "kind": "Individual", "date_of_birth": "1980-02-03",
        "nationality": "Germany", "address": f"1 Hauptstrasse, 10115 Berlin, {c.country.name}",
    }  # fmt: skip
    assert sorted(t["reference"] for t in facts["transactions"] if t["type"] == "Deposit") == sorted(
        d.reference for d in deposits
    )
    fired = facts["fired"]
    assert (fired["rule"], fired["rule_code"], fired["rule_version"]) == (rule.name, "STRUCT", 1)
    assert fired["parameters"]["threshold"] == "1000.00" and fired["summary"] == alert.summary
    page = _as(staff(Role.COMPLIANCE, username="mlro")).get(f"/risk/sars/new/alert/{alert.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    for shown in ("Stella Split", c.reference, "1980-02-03", "Germany", rule.name, deposits[0].reference):
        assert shown in body
    assert page.context["form"]["narrative"].value() in (None, "")
    assert not SuspiciousActivityReport.objects.exists()  # nothing stored by looking


def test_good_prefill_from_a_screening_hit_reads_the_last_90_days() -> None:
    c = approved_client(first_name="Hugo", last_name="Hit")
    recent = card_deposit(c, "500.00")
    old = card_deposit(c, "300.00")
    Deposit.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=120))  # test data only
    withdrawal = withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount="200.00", method="card",
        destination=recent.payer_account, destination_name=c.display_name,
    )  # fmt: skip
    hit = _hit(c)
    facts = prefill(hit)
    assert {(t["type"], t["reference"]) for t in facts["transactions"]} == {
        ("Deposit", recent.reference), ("Withdrawal", withdrawal.reference),
    }  # fmt: skip
    assert facts["fired"]["list"] == "Consolidated list"
    assert (facts["fired"]["list_entry"], facts["fired"]["score"], facts["fired"]["entry_name"]) == (
        "Q42", "91.50", "Stela Splitt",
    )  # fmt: skip
    http = _as(staff(Role.COMPLIANCE, username="mlro"))
    response = http.post(f"/risk/sars/new/hit/{hit.pk}/", {"narrative": "Listed person's alias.", "keep": ["0"]})
    sar = SuspiciousActivityReport.objects.get()
    assert response.status_code == 302 and response["Location"] == sar.get_absolute_url()
    assert (sar.source, sar.screening_hit, sar.alert) == ("screening_hit", hit, None)
    assert [t["included"] for t in sar.transactions] == [True, False]
    assert AuditEvent.objects.filter(action="sar.drafted", subject_id=str(sar.pk)).count() == 1


# --- bad input ----------------------------------------------------------------------------------------


def test_bad_draft_without_a_narrative_is_a_form_error_and_stores_nothing() -> None:
    _, _, _, alert = _structured()
    http = _as(staff(Role.COMPLIANCE, username="mlro"))
    response = http.post(f"/risk/sars/new/alert/{alert.pk}/", {"narrative": "   ", "keep": ["0", "1"]})
    assert response.status_code == 400
    assert response.context["form"].errors["narrative"] == [errors.SAR_NARRATIVE_REQUIRED]
    response = http.post(f"/risk/sars/new/alert/{alert.pk}/", {"narrative": "Split deposits."})
    assert response.status_code == 400
    assert response.context["form"].errors["no_transactions_reason"] == [errors.SAR_NO_TRANSACTIONS]
    assert not SuspiciousActivityReport.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="sar.").exists()
    with pytest.raises(RiskError) as caught:
        sar_draft(actor=staff(Role.COMPLIANCE, username="other"), origin=alert, narrative="")
    assert caught.value.problems == {"narrative": errors.SAR_NARRATIVE_REQUIRED}
    assert not SuspiciousActivityReport.objects.exists()


def test_bad_only_compliance_drafts() -> None:
    _, _, _, alert = _structured()
    for role in (Role.RISK, Role.SUPPORT, Role.AUDITOR):
        with pytest.raises(RiskError, match=errors.SAR_NOT_ALLOWED_DRAFT):
            _draft(alert, staff(role))
    assert not SuspiciousActivityReport.objects.exists()


# --- maker-checker ------------------------------------------------------------------------------------


def test_maker_cannot_approve_own_sar_and_risk_cannot_either() -> None:
    _, _, _, alert = _structured()
    maker = staff(Role.COMPLIANCE, username="maker")
    sar = _draft(alert, maker)
    request = sar_submit(sar_id=sar.pk, actor=maker, reason="Please file")
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="mine")
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=staff(Role.RISK), decision="approve", reason="not mine")
    sar.refresh_from_db()
    assert sar.status == SarStatus.PENDING_APPROVAL and sar.content_sha256 == ""


def test_approval_executes_once_and_the_export_has_the_approved_hash() -> None:
    _, _, _, alert = _structured()
    maker, checker = staff(Role.COMPLIANCE, username="maker"), staff(Role.COMPLIANCE, username="checker")
    sar = _draft(alert, maker)
    request = sar_submit(sar_id=sar.pk, actor=maker, reason="Please file")
    submitted_hash = request.payload["content_sha256"]
    assert submitted_hash == sar_sha256(SuspiciousActivityReport.objects.get(pk=sar.pk))
    # the checker's page shows the draft beside the payload
    page = _as(checker).get(f"/approvals/{request.pk}/")
    assert page.status_code == 200 and "still has the submitted sha256" in page.content.decode()
    done = approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="Narrative is sound")
    assert done.status == ApprovalStatus.EXECUTED
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=staff(Role.COMPLIANCE), decision="approve", reason="again")
    sar.refresh_from_db()
    assert (sar.status, sar.content_sha256, sar.approval_id) == (SarStatus.APPROVED, submitted_hash, request.pk)
    assert AuditEvent.objects.filter(action="sar.approved", subject_id=str(sar.pk)).count() == 1
    # downloaded from its page: exactly the approved bytes
    response = _as(maker).get(f"/risk/sars/{sar.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{sar.reference}.json"'
    assert hashlib.sha256(response.content).hexdigest() == submitted_hash
    document = json.loads(response.content)
    assert (document["report"], document["narrative"], document["subject"]["name"]) == (
        sar.reference, sar.narrative, "Stella Split",
    )  # fmt: skip
    assert document["what_fired"]["rule_code"] == "STRUCT" and len(document["transactions"]) == len(sar.transactions)
    assert AuditEvent.objects.filter(action="sar.exported", subject_id=str(sar.pk)).count() == 1
    # the auditor may download it too; risk may not
    assert _as(staff(Role.AUDITOR)).get(f"/risk/sars/{sar.pk}/export/").status_code == 200
    assert _as(staff(Role.RISK)).get(f"/risk/sars/{sar.pk}/export/").status_code == 403


def test_bad_draft_cannot_be_exported_or_edited_while_pending() -> None:
    _, _, _, alert = _structured()
    maker = staff(Role.COMPLIANCE, username="maker")
    sar = _draft(alert, maker)
    with pytest.raises(RiskError, match="only an approved report"):
        sar_export(sar_id=sar.pk, actor=maker)
    assert _as(maker).get(f"/risk/sars/{sar.pk}/export/").status_code == 403
    sar_submit(sar_id=sar.pk, actor=maker, reason="Please file")
    response = _as(maker).post(f"/risk/sars/{sar.pk}/edit/", {"narrative": "changed", "keep": ["0"]})
    assert response.status_code == 403
    sar.refresh_from_db()
    assert sar.narrative.startswith("Three deposits")


def test_rejection_returns_the_report_to_draft() -> None:
    _, _, _, alert = _structured()
    maker = staff(Role.COMPLIANCE, username="maker")
    sar = _draft(alert, maker)
    request = sar_submit(sar_id=sar.pk, actor=maker, reason="Please file")
    approval_decide(request_id=request.pk, checker=staff(Role.COMPLIANCE), decision="reject", reason="Thin narrative")
    sar.refresh_from_db()
    assert sar.status == SarStatus.DRAFT
    response = _as(maker).post(
        f"/risk/sars/{sar.pk}/edit/", {"narrative": "Fuller narrative with the treasury's answer.", "keep": ["0"]}
    )
    assert response.status_code == 302
    sar.refresh_from_db()
    assert sar.narrative == "Fuller narrative with the treasury's answer."
    assert AuditEvent.objects.filter(action__in=["sar.reopened", "sar.edited"], subject_id=str(sar.pk)).count() == 2


# --- filing -------------------------------------------------------------------------------------------


def test_filing_reference_is_recorded_audited_and_shown_on_the_alert() -> None:
    _, _, _, alert = _structured()
    alert_dispose(alert_id=alert.pk, actor=staff(Role.RISK, username="analyst"), disposition="escalated",
                  reason="Looks like structuring")  # fmt: skip
    maker, checker = staff(Role.COMPLIANCE, username="maker"), staff(Role.COMPLIANCE, username="checker")
    sar = _draft(alert, maker)
    with pytest.raises(RiskError, match="only an approved report"):
        sar_record_filing(sar_id=sar.pk, actor=maker, regulator_reference="FIU-2026-1")
    request = sar_submit(sar_id=sar.pk, actor=maker, reason="Please file")
    approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="ok")
    http = _as(maker)
    response = http.post(f"/risk/sars/{sar.pk}/filing/", {"regulator_reference": "!"})
    assert response.status_code == 400
    assert response.context["filing_form"].errors["regulator_reference"] == [errors.SAR_REFERENCE_FORMAT]
    sar.refresh_from_db()
    assert sar.status == SarStatus.APPROVED and sar.filed_at is None
    response = http.post(f"/risk/sars/{sar.pk}/filing/", {"regulator_reference": "FIU-2026-000123"})
    assert response.status_code == 302
    sar.refresh_from_db()
    assert (sar.status, sar.filed_by, sar.regulator_reference) == (SarStatus.FILED, maker, "FIU-2026-000123")
    assert sar.filed_at is not None
    event = AuditEvent.objects.get(action="sar.filed", subject_id=str(sar.pk))
    assert event.after["regulator_reference"] == "FIU-2026-000123"
    escalation = WorkItem.objects.get(queue__code="compliance_escalation", subject_id=str(alert.pk))
    assert escalation.status == "resolved" and sar.reference in escalation.resolution_note
    page = _as(staff(Role.RISK, username="viewer")).get(f"/risk/alerts/{alert.pk}/")
    body = page.content.decode()
    assert "SAR filed" in body and sar.get_absolute_url() in body
    # the approved file is unchanged by the filing
    assert hashlib.sha256(sar_export(sar_id=sar.pk, actor=maker)).hexdigest() == sar.content_sha256
    assert ApprovalRequest.objects.filter(action="risk.sar_file").count() == 1
