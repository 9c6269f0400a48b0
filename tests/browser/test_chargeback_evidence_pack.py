"""A chargeback's evidence pack in the browser: a compliance officer opens the case from the
chargeback list, reads what the response holds (identity documents with their hashes, the terms the
client registered under, the addresses recorded, the payer, the trading after the deposit), downloads
the case's pack in one click, and its own verifier passes on it offline; the download is audited."""

from __future__ import annotations

import json
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from ops.roles import Role
from payments.models import ChargebackCase
from payments.services.webhooks import inbound_event_process, inbound_event_store
from sim import simpay
from tests.browser.conftest import shot, sign_in
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import deal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _dispute(deposit: Any) -> ChargebackCase:
    delivery = simpay.signed(simpay.dispute_open(payment_id=deposit.external_id, reason="fraudulent").event)
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    inbound_event_process(event_pk=stored.pk)
    return deposit.chargebacks.get()


def test_good_compliance_opens_a_chargeback_reads_its_evidence_and_downloads_a_pack_that_verifies(
    page: Page, tmp_path: Path
) -> None:
    staff(Role.COMPLIANCE, username="clara")
    c = approved_client(first_name="Petra", last_name="Payer")
    deposit = card_deposit(c, "250.00")
    traded = deal(c, symbol="GBPUSD", lots="3.00", closed_at=timezone.now() + timedelta(hours=1))
    case = _dispute(deposit)

    sign_in(page, "clara")
    page.goto("/payments/chargebacks/")
    page.get_by_role("link", name=case.reference).click()
    expect(page.get_by_test_id("chargeback-status")).to_have_text("Opened")
    evidence = page.get_by_test_id("evidence")
    expect(evidence).to_contain_text("Proof of identity")
    expect(page.get_by_test_id("evidence-terms")).to_contain_text("in force at registration")
    expect(page.get_by_test_id("evidence-sign-ins")).to_contain_text("client-area sign-in(s) in the pack")
    expect(page.get_by_test_id("evidence-payer")).to_contain_text(
        f"paid by Petra Payer with card {deposit.payer_account}"
    )
    expect(page.get_by_test_id("evidence-trading")).to_contain_text(traded.deal_id)
    shot(page, "chargeback-evidence")

    with page.expect_download() as download_info:
        page.get_by_test_id("evidence-pack").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"evidence-{case.reference.lower()}-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as pack:
        names = set(pack.namelist())
        manifest = json.loads(pack.read("manifest.json"))
    assert {"chargeback.json", "chargeback_response.json", "documents.json", "audit_events.json", "verify.py"} <= names
    assert manifest["case"] == {"kind": "chargebacks", "reference": case.reference}
    pack_dir = tmp_path / "pack"
    zipfile.ZipFile(saved).extractall(pack_dir)
    verified = subprocess.run(
        ["/usr/bin/python3", "verify.py", str(saved)], cwd=pack_dir, capture_output=True, text=True, timeout=60, env={}
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "evidence pack verified" in verified.stdout
    exported = AuditEvent.objects.get(action="audit.evidence_pack_exported")
    assert (exported.subject_type, exported.subject_id, exported.actor_label) == (
        "payments.chargebackcase", str(case.pk), "clara",
    )  # fmt: skip
