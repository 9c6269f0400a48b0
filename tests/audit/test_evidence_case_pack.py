"""Evidence packs per case (a chargeback, a risk alert, a SAR): made by the client pack's code (the
same manifest, audit events with their chain links and the offline verifier), holding the case's
own files, the audit events and decisions about its records, and its client's parts; the download
is audited against the case."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as HttpClient

from audit.models import AuditEvent
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.services.chargebacks import chargeback_respond
from payments.services.webhooks import inbound_event_process, inbound_event_store
from risk.models import RiskAlert, RiskRule, RiskRuleVersion
from risk.sar import sar_draft, sar_submit
from sim import simpay
from tests.factories import approved_client, card_deposit, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

PYTHON = "/usr/bin/python3"  # the system's Python, without the project's packages: the verifier needs none


def _chargeback() -> Any:
    deposit = card_deposit(approved_client(provision=False), "120.00")
    delivery = simpay.signed(simpay.dispute_open(payment_id=deposit.external_id).event)
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    inbound_event_process(event_pk=stored.pk)
    return deposit.chargebacks.get()


def _alert(c: Any | None) -> RiskAlert:
    from django.utils import timezone

    rule = RiskRule.objects.create(code=f"PACK{c.pk if c else 0}", name="Five deposits a day", kind="velocity")
    version = RiskRuleVersion.objects.create(
        rule=rule, number=1, params={"direction": "deposit", "count": 5, "window_hours": 24}, valid_from=timezone.now()
    )
    evidence = [{"table": "deposit", "id": d.pk, "reference": d.reference} for d in (c.deposits.all() if c else [])]
    return RiskAlert.objects.create(
        rule=rule, rule_version=version, key=f"client:{c.pk if c else 0}", client=c, summary="5 deposits within 24 h",
        status="escalated", evidence=evidence,
    )  # fmt: skip


def _download(url: str, role: Role = Role.COMPLIANCE) -> Any:
    http = HttpClient()
    sign_in(http, staff(role))
    return http.get(url)


def _unpack(response: Any, folder: Path) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/zip"
    pack = zipfile.ZipFile(io.BytesIO(response.content))
    pack.extractall(folder)
    return pack


def _verify(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, env={})


def test_good_a_chargeback_pack_holds_the_case_its_client_and_its_events_and_verifies(tmp_path: Path) -> None:
    case = _chargeback()
    chargeback_respond(case_id=case.pk, actor=staff(Role.FINANCE), note="The cardholder traded the funds.")
    response = _download(f"/audit/evidence/chargebacks/{case.pk}.zip")
    assert f'filename="evidence-{case.reference.lower()}-' in response["Content-Disposition"]
    pack = _unpack(response, tmp_path / "pack")
    names = set(pack.namelist())
    assert {
        "manifest.json", "verify.py", "audit_events.json", "chargeback.json", "chargeback_response.json",
        "chargeback_entries.json", "profile.json", "documents.json", "ledger_statement.json", "decisions.json",
        "work_items.json",
    } <= names  # fmt: skip
    manifest = json.loads(pack.read("manifest.json"))
    assert (manifest["client"], manifest["case"]) == (
        case.client.reference, {"kind": "chargebacks", "reference": case.reference},
    )  # fmt: skip
    response_file = json.loads(pack.read("chargeback_response.json"))
    case.refresh_from_db()
    assert (response_file["sent"], response_file["sha256"]) == (True, case.evidence_sha256)
    assert response_file["evidence"]["payment"]["deposit"] == case.deposit.reference
    entries = json.loads(pack.read("chargeback_entries.json"))
    assert {e["entry"] for e in entries} >= {case.opened_entry_id, case.deposit.entry_id}
    work_items = json.loads(pack.read("work_items.json"))
    assert any(i["queue"] == "Chargebacks" or "Chargeback" in i["title"] for i in work_items)
    trail = json.loads(pack.read("audit_events.json"))
    subjects = {(e["fields"]["subject_type"], e["fields"]["subject_id"]) for e in trail["events"]}
    assert ("payments.chargebackcase", str(case.pk)) in subjects
    assert ("payments.deposit", str(case.deposit_id)) in subjects
    assert ("accounts.client", str(case.client_id)) in subjects
    actions = {e["fields"]["action"] for e in trail["events"]}
    assert {"payments.chargeback_opened", "payments.chargeback_responded"} <= actions
    sealed = [e for e in trail["events"] if e["seal"]]
    good = _verify(tmp_path / "pack")
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{len(sealed)} audit events match their chain hashes" in good.stdout

    # the case's opening event edited, the manifest made to agree: the chain hash still tells
    folder = tmp_path / "pack"
    edited = json.loads((folder / "audit_events.json").read_text())
    target = next(e for e in edited["events"] if e["fields"]["action"] == "payments.chargeback_opened")
    target["fields"]["reason"] = "nothing to see here"
    (folder / "audit_events.json").write_text(json.dumps(edited))
    manifest["files"]["audit_events.json"] = hashlib.sha256((folder / "audit_events.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    bad = _verify(folder)
    assert bad.returncode == 1
    assert f"audit event {target['fields']['id']} " in bad.stdout

    # the download is audited against the case, naming its client
    exported = AuditEvent.objects.get(action="audit.evidence_pack_exported")
    assert (exported.subject_type, exported.subject_id, exported.after["case"], exported.after["client"]) == (
        "payments.chargebackcase", str(case.pk), case.reference, case.client.reference,
    )  # fmt: skip
    assert exported.after["zip_sha256"] == hashlib.sha256(response.content).hexdigest()


def test_good_a_chargeback_pack_before_the_response_says_it_was_not_sent(tmp_path: Path) -> None:
    case = _chargeback()
    pack = _unpack(_download(f"/audit/evidence/chargebacks/{case.pk}.zip", Role.AUDITOR), tmp_path)
    response_file = json.loads(pack.read("chargeback_response.json"))
    assert (response_file["sent"], response_file["sha256"]) == (False, None)
    assert response_file["note"] == "not sent yet: what the response would hold now"
    assert response_file["evidence"]["dispute"]["reference"] == case.reference


def test_good_a_risk_alert_pack_holds_the_rule_version_and_the_rows_that_fired_it(tmp_path: Path) -> None:
    c = approved_client(provision=False)
    deposit = card_deposit(c, "90.00")
    alert = _alert(c)
    pack = _unpack(_download(f"/audit/evidence/risk-alerts/{alert.pk}.zip"), tmp_path)
    facts = json.loads(pack.read("risk_alert.json"))
    assert alert.rule is not None
    assert (facts["rule"]["code"], facts["rule_version"]["number"], facts["status"]) == (
        alert.rule.code,
        1,
        "Escalated",
    )
    assert facts["evidence"] == [{"table": "deposit", "id": deposit.pk, "reference": deposit.reference}]
    assert json.loads(pack.read("manifest.json"))["case"] == {
        "kind": "risk-alerts",
        "reference": f"risk-alert-{alert.pk}",
    }
    trail = json.loads(pack.read("audit_events.json"))
    assert ("payments.deposit", str(deposit.pk)) in {
        (e["fields"]["subject_type"], e["fields"]["subject_id"]) for e in trail["events"]
    }
    assert "profile.json" in pack.namelist()
    assert _verify(tmp_path).returncode == 0


def test_good_an_alert_without_a_client_is_a_pack_of_the_alert_alone(tmp_path: Path) -> None:
    alert = _alert(None)
    pack = _unpack(_download(f"/audit/evidence/risk-alerts/{alert.pk}.zip", Role.AUDITOR), tmp_path)
    names = set(pack.namelist())
    assert {"risk_alert.json", "decisions.json", "audit_events.json", "manifest.json", "verify.py"} <= names
    assert not names & {"profile.json", "documents.json", "ledger_statement.json"}
    assert json.loads(pack.read("manifest.json"))["client"] is None
    assert _verify(tmp_path).returncode == 0


def test_good_a_sar_pack_holds_the_report_its_approval_and_its_alert(tmp_path: Path) -> None:
    c = approved_client(provision=False)
    alert = _alert(c)
    maker = staff(Role.COMPLIANCE, username="sar-maker")
    sar = sar_draft(actor=maker, origin=alert, narrative="Five deposits in a day", no_transactions_reason="x")
    request = sar_submit(sar_id=sar.pk, actor=maker, reason="file it")
    approval_decide(
        request_id=request.pk, checker=staff(Role.COMPLIANCE, username="sar-checker"), decision="approve", reason="ok"
    )
    sar.refresh_from_db()
    pack = _unpack(_download(f"/audit/evidence/sars/{sar.pk}.zip", Role.AUDITOR), tmp_path)
    report = json.loads(pack.read("sar.json"))
    assert (report["reference"], report["narrative"], report["content_sha256"], report["alert"]) == (
        sar.reference, "Five deposits in a day", sar.content_sha256, alert.pk,
    )  # fmt: skip
    decisions = json.loads(pack.read("decisions.json"))
    approval = next(d for d in decisions if d["action"] == "risk.sar_file")
    assert (approval["maker"], approval["decisions"][0]["approver"]) == ("sar-maker", "sar-checker")
    trail = json.loads(pack.read("audit_events.json"))
    subjects = {(e["fields"]["subject_type"], e["fields"]["subject_id"]) for e in trail["events"]}
    assert ("risk.suspiciousactivityreport", str(sar.pk)) in subjects
    assert _verify(tmp_path).returncode == 0
    exported = AuditEvent.objects.get(action="audit.evidence_pack_exported")
    assert (exported.subject_type, exported.subject_id) == ("risk.suspiciousactivityreport", str(sar.pk))


def test_bad_roles_without_the_permission_get_no_case_pack_and_nothing_is_audited() -> None:
    case = _chargeback()
    assert _download(f"/audit/evidence/chargebacks/{case.pk}.zip", Role.FINANCE).status_code == 403
    assert _download(f"/audit/evidence/chargebacks/{case.pk}.zip", Role.SUPPORT).status_code == 403
    assert _download(f"/audit/evidence/chargebacks/{case.pk + 1000}.zip").status_code == 404
    assert not AuditEvent.objects.filter(action="audit.evidence_pack_exported").exists()
