"""The evidence pack for a regulator: one zip about one client (profile and its history, documents
with their hashes, decisions with rationale and approver, ledger statement, audit events with their
chain links) and a standalone verifier that passes on the pack as made and fails when one event is
edited, even with the manifest's hash of the edited file made to match."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.test import override_settings

from audit.models import AuditEvent
from kyc.services.documents import document_upload
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_request
from tests.factories import approved_client, card_deposit, staff
from tests.kyc import files
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _request_id(withdrawal: Any) -> int:
    assert withdrawal.approval_request_id is not None
    return int(withdrawal.approval_request_id)


PYTHON = "/usr/bin/python3"  # the system's Python, without the project's packages: the verifier needs none


@pytest.fixture
def client_with_history(tmp_path: Path) -> Any:
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        c = approved_client(provision=False)
        deposit = card_deposit(c, "500.00")
        withdrawal = withdrawal_request(
            client=c, source=wallet_for(client=c, currency="EUR"), amount="100.00", method="card",
            destination=deposit.payer_account, destination_name=c.display_name,
        )  # fmt: skip
        approval_decide(
            request_id=_request_id(withdrawal), checker=staff(Role.FINANCE, username="fin-checker"),
            decision="approve", reason="source of funds seen",
        )  # fmt: skip
        document_upload(
            client_id=c.pk, kind="proof_of_address", upload=SimpleUploadedFile("bill.pdf", files.pdf()),
            actor=staff(Role.SUPPORT),
        )  # fmt: skip
        yield c


def _download(c: Any, role: Role) -> Any:
    http = HttpClient()
    sign_in(http, staff(role))
    return http.get(f"/audit/evidence/clients/{c.pk}.zip")


def _verify(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, env={})


def test_good_the_pack_holds_every_part_and_its_verifier_passes_then_fails_on_one_edited_event(
    client_with_history: Any, tmp_path: Path
) -> None:
    c = client_with_history
    response = _download(c, Role.COMPLIANCE)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"evidence-{c.reference}-" in response["Content-Disposition"]
    pack = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(pack.namelist())
    assert {
        "manifest.json", "verify.py", "audit_events.json", "profile.json", "profile_history.json", "documents.json",
        "decisions.json", "ledger_statement.json", "deposits.json", "withdrawals.json",
    } <= names  # fmt: skip
    documents = json.loads(pack.read("documents.json"))
    uploaded = next(d for d in documents if d["file"] == "bill.pdf")
    assert (uploaded["sha256"], uploaded["kind"]) == (hashlib.sha256(files.pdf()).hexdigest(), "Proof of address")
    decisions = json.loads(pack.read("decisions.json"))
    withdrawal_review = next(d for d in decisions if d["action"] == "payments.withdrawal")
    assert withdrawal_review["decisions"][0] | {"at": None} == {
        "level": 0, "approver": "fin-checker", "decision": "Approve", "rationale": "source of funds seen", "at": None,
    }  # fmt: skip
    statement = json.loads(pack.read("ledger_statement.json"))
    wallet = next(a for a in statement if a["account"] == f"wallet:{c.reference}:EUR")
    assert wallet["closing_balance"] == "500.0000"
    assert len(json.loads(pack.read("profile_history.json"))) >= 2  # registered, then approved
    trail = json.loads(pack.read("audit_events.json"))
    assert trail["live_chain_check"]["ok"] is True
    sealed = [e for e in trail["events"] if e["seal"]]
    assert len(sealed) >= 5 and all(e["seal"]["recomputed_ok"] for e in sealed)
    assert {e["fields"]["subject_type"] for e in sealed} >= {
        "accounts.client",
        "payments.deposit",
        "payments.withdrawal",
    }
    # the export itself is audited
    assert AuditEvent.objects.filter(action="audit.evidence_pack_exported", subject_id=str(c.pk)).count() == 1

    folder = tmp_path / "pack"
    pack.extractall(folder)
    good = _verify(folder)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{len(sealed)} audit events match their chain hashes" in good.stdout

    # one event edited (its reason), and the manifest made to agree: the chain hash still tells
    edited = json.loads((folder / "audit_events.json").read_text())
    target = next(e for e in edited["events"] if e["seal"] and e["fields"]["subject_type"] == "payments.deposit")
    target["fields"]["reason"] = "nothing to see here"
    (folder / "audit_events.json").write_text(json.dumps(edited))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["audit_events.json"] = hashlib.sha256((folder / "audit_events.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    bad = _verify(folder)
    assert bad.returncode == 1
    assert f"audit event {target['fields']['id']} (chain position {target['seal']['seq']}): content does not match" in (
        bad.stdout
    )

    # a file changed without the manifest: the manifest tells
    pack.extractall(tmp_path / "pack2")
    (tmp_path / "pack2" / "documents.json").write_text("[]")
    assert _verify(tmp_path / "pack2").returncode == 1


def test_bad_roles_without_the_permission_get_no_pack(client_with_history: Any) -> None:
    c = client_with_history
    assert _download(c, Role.SUPPORT).status_code == 403
    assert _download(c, Role.FINANCE).status_code == 403
    assert _download(c, Role.AUDITOR).status_code == 200
    assert not AuditEvent.objects.filter(
        action="audit.evidence_pack_exported", actor_label__startswith="support"
    ).exists()
