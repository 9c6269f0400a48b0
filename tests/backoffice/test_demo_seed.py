"""The demo: ``demo_seed`` run twice on one database (the second run changes nothing), then what a
broker's evaluation team would look for. The seed (months of history) is made once per class, in
Django's ``setUpTestData``; each test reads it inside its own rolled-back transaction."""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import time
from base64 import b32decode
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, TestCase, override_settings
from django_otp.oath import totp

from backoffice.management.commands.demo_seed import DEMO_STAFF
from ops.models import User
from ops.roles import Role

HISTORY_EMAIL = r"^history[0-9]+@demo[.]invalid$"  # the clients of backoffice.demo_history


def _signs_in(client: Client, username: str, password: str, out: str) -> bool:
    """Through the sign-in pages: the password, then a code from the TOTP secret printed beside
    the demo login."""
    secret = re.search(rf"\b{username}\s+{re.escape(password)}\s+TOTP secret ([A-Z2-7]+)", out)
    assert secret is not None, out
    assert client.post("/login/", {"username": username, "password": password}).status_code == 302
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/account/second-factor/?next=/")
    code = totp(b32decode(secret.group(1)))
    response = client.post("/account/second-factor/", {"code": f"{code:06d}", "next": "/"})
    return response.status_code == 302 and client.get("/").status_code == 200


@pytest.mark.django_db
def test_bad_demo_seed_outside_demo_mode_refuses() -> None:
    with pytest.raises(CommandError, match="only in demo mode"):
        call_command("demo_seed")
    assert not User.objects.exists()


def _seed() -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        call_command("demo_seed", stdout=out)
    return out.getvalue()


class DemoSeedTests(TestCase):
    """One demo, seeded twice (idempotent), for every test of the class."""

    tmp: Path
    out: str  # what both runs printed
    first_logins: dict[str, str]
    first_client_area_key: str
    deals_after_first: int
    second_run_seconds: float

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="demo-seed-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.enterClassContext(override_settings(DEMO_MODE=True, VAR_DIR=cls.tmp, KYC_STORAGE_ROOT=cls.tmp / "kyc"))
        super().setUpClass()

    @classmethod
    def setUpTestData(cls) -> None:
        from ib.models import Deal

        first = _seed()
        cls.first_logins = json.loads((cls.tmp / "demo-logins.json").read_text())
        cls.first_client_area_key = (cls.tmp / "client-area-api-key").read_text()
        cls.deals_after_first = Deal.objects.count()
        started = time.monotonic()
        second = _seed()
        cls.second_run_seconds = time.monotonic() - started
        cls.out = first + second
        # The seed's rows meet every deferred constraint (foreign keys), checked here once: Django checks
        # them at the end of each test, and while the class's transaction holds them unchecked, each test
        # would check the whole seed again (its savepoint's rollback brings the pending checks back).
        connection.check_constraints()

    def test_demo_seed_is_idempotent_and_its_logins_work(self) -> None:
        first = self.first_logins
        assert json.loads((self.tmp / "demo-logins.json").read_text()) == first
        assert User.objects.count() == len(DEMO_STAFF)
        assert {r for u in User.objects.all() for r in u.roles} == set(Role)
        assert f"auditor      {first['auditor']}" in self.out
        assert _signs_in(Client(), "auditor", first["auditor"], self.out)
        # the demo partner's API key, approved by a second administrator, printed (the same on a rerun)
        token = json.loads((self.tmp / "demo-api-keys.json").read_text())["ALPHA"]
        assert self.out.count(f"  {token}\n") == 2
        clients = Client().get("/api/v1/partner/clients/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert clients.status_code == 200
        assert clients.json()["results"]

    def test_demo_has_two_of_every_role_that_checks_another(self) -> None:
        """A withdrawal entered by one finance user gets its second pair of eyes from another; a
        leverage request made by one risk user is decided by another."""
        from backoffice.management.commands.demo_seed import CHECKING_ROLES

        logins = self.first_logins
        for role in CHECKING_ROLES:
            holders = sorted(User.objects.filter(groups__name=role.value).values_list("username", flat=True))
            assert len(holders) >= 2, role
            for username in holders:
                assert f"{role.label:<18} {username:<12} {logins[username]}" in self.out
                assert _signs_in(Client(), username, logins[username], self.out)

    def test_demo_makes_the_sample_client_areas_key_once_and_prints_its_page(self) -> None:
        from ops.api_keys import api_key_find, api_key_usable
        from ops.models import ApiKey, ApprovalRequest

        token = self.first_client_area_key
        assert (self.tmp / "client-area-api-key").read_text() == token  # the second run kept it
        assert (self.tmp / "client-area-api-key").stat().st_mode & 0o777 == 0o600
        key = api_key_find(token)
        assert key is not None and api_key_usable(key) and key.scopes == ["client_area"]
        assert ApiKey.objects.filter(owner_kind="client_area").count() == 1
        approvals = ApprovalRequest.objects.filter(action="api_key.create")  # the client area's and the partner's
        assert [(a.maker.username, [d.checker.username for d in a.decisions.all()]) for a in approvals] == [
            ("admin", ["admin2"]),
            ("admin", ["admin2"]),
        ]
        assert f"client-area key {key.prefix}, no sign-in): http://127.0.0.1:8000/sim/client-area/" in self.out

    def test_demo_workspace_has_items_and_approvals(self) -> None:
        from ops.models import ApprovalRequest, ApprovalStatus, WorkItem

        approvals = sorted(ApprovalRequest.objects.values_list("action", "status"))
        # the months of history behind the reports (backoffice.demo_history) hold paid withdrawals, each approved
        history_paid = ("payments.withdrawal", ApprovalStatus.EXECUTED)
        assert approvals.count(history_paid) > 10
        assert [a for a in approvals if a != history_paid] == [
            # the agents (built-in pre-check and triage, and the demo's outside assistant), each let run by admin2
            ("agents.agent_grant", ApprovalStatus.EXECUTED),
            ("agents.agent_grant", ApprovalStatus.EXECUTED),
            ("agents.agent_grant", ApprovalStatus.EXECUTED),
            ("api_key.create", ApprovalStatus.EXECUTED),  # the sample client area's key, approved by admin2
            ("api_key.create", ApprovalStatus.EXECUTED),  # partner ALPHA's API key, approved by admin2
            ("ib.attribution_change", ApprovalStatus.PENDING),  # a client's change of partner, for finance
            ("ib.commission_payout", ApprovalStatus.PENDING),  # Alpha's payout, for a second finance officer
            ("ib.plan_change", ApprovalStatus.PENDING),  # the plan's next version, with last month's comparison
            ("payments.withdrawal", ApprovalStatus.PENDING),  # the client's first withdrawal, waiting for review
            ("payments.withdrawal", ApprovalStatus.PENDING),  # the injected quick exit (risk's QUICK-EXIT alert)
            ("risk.account_routing", ApprovalStatus.EXECUTED),  # Northwind to the A-book, approved by risk2
            *[("risk.rule_change", ApprovalStatus.EXECUTED)] * 11,  # the first monitoring rules, approved by risk2
            ("risk.rule_change", ApprovalStatus.PENDING),  # QUICK-EXIT's next version, with its 30-day backtest
            ("risk.sar_file", ApprovalStatus.EXECUTED),  # the SAR on Northwind's structuring, approved by compliance2
            ("staff.grant_role", ApprovalStatus.EXECUTED),
            ("staff.grant_role", ApprovalStatus.PENDING),
        ]
        from collections import Counter

        from ops.models import OPEN_STATUSES

        open_items = Counter(WorkItem.objects.filter(status__in=OPEN_STATUSES).values_list("queue__code", flat=True))
        # three clients wait for KYC review (all documents uploaded); the others were decided. One of
        # them has a passport the identity verification provider found not to match: a KYC exception.
        cast_items = {
            "access_review": 1, "compliance_escalation": 1, "risk_alert": 8, "kyc_review": 3, "kyc_exception": 1,
            "fx_rate_missing": 1,  # no JPY/USD rate for the USDJPY position
            "withdrawal_approval": 2, "deposit_exception": 1, "trade_feed_exception": 1, "ib_dispute": 1,
            "client_follow_up": 1,  # a client who never answered the follow-up's reminders
            "chargeback": 1,  # the cardholder's bank disputed a partner-introduced client's deposit
        }  # fmt: skip
        # the months of history behind the reports add clients waiting for review, in EDD and with screening hits
        from accounts.models import Client

        assert open_items["kyc_review"] > cast_items["kyc_review"]
        assert {queue: open_items[queue] for queue in cast_items if queue != "kyc_review"} == {
            queue: n for queue, n in cast_items.items() if queue != "kyc_review"
        }
        assert set(open_items) - set(cast_items) <= {"edd", "screening_hit"}
        from accounts.models import TradingAccount

        cast = Client.objects.exclude(email__regex=HISTORY_EMAIL)  # the demo's named clients, not the history's
        assert sorted(cast.values_list("status", flat=True)) == [
            "approved",
            "approved",
            "pending_documents",
            "pending_review",
            "pending_review",
            "pending_review",
            "registered",
            "registered",  # Olivia and Mateo, in follow-ups (the demo's follow-up seed)
            "registered",
            "restricted",
        ]
        assert TradingAccount.objects.filter(client__in=cast).count() == 3
        from kyc.models import Document

        # three each for six individuals, five for the company; one rejected, none lost
        assert Document.objects.filter(client__in=cast).count() == 3 * 6 + 5
        assert all(d.file.read(5) == b"%PDF-" for d in Document.objects.filter(client__in=cast))
        assert WorkItem.objects.get(queue__code="compliance_escalation").escalation_level == 1
        # every passport has the provider's result beside it: clean ones, and Oliver Brown's mismatch
        from kyc.models import IdentityCheck

        results = sorted(
            IdentityCheck.objects.filter(client__in=cast).values_list("client__last_name", "result", "status")
        )
        assert results == [
            ("Becker", "clear", "completed"), ("Brown", "mismatch", "completed"), ("Garcia", "clear", "completed"),
            ("Rossi", "clear", "completed"), ("Smith", "clear", "completed"), ("Wei", "clear", "completed"),
        ]  # fmt: skip
        mismatch = IdentityCheck.objects.get(result="mismatch")
        assert [m["field"] for m in mismatch.mismatches] == ["name", "date_of_birth"]
        assert WorkItem.objects.get(queue__code="kyc_exception").subject_id == str(mismatch.pk)

    def test_demo_trade_feed_has_months_of_deals_fx_rates_and_a_refused_file(self) -> None:
        """The approved demo clients traded for six months on the simulated platform; the deals came in
        through the pull (platform batches), and one deal report file had two refused rows."""
        from datetime import timedelta

        from django.utils import timezone

        from ib.models import Deal, DealBatch, FeedSource
        from payments.models import FxRate
        from sim.models import SimPlatformDeal

        assert self.second_run_seconds < 30  # idempotent, and quick the second time
        assert Deal.objects.count() == self.deals_after_first == SimPlatformDeal.objects.count() + 3
        # the approved (and restricted) clients of the demo's cast, and the history's traders
        cast_deals = Deal.objects.exclude(client__email__regex=HISTORY_EMAIL)
        assert cast_deals.values("client").order_by().distinct().count() == 3
        assert Deal.objects.values("client").order_by().distinct().count() > 3
        oldest = Deal.objects.order_by("closed_at").first()
        assert oldest is not None and oldest.closed_at < timezone.now() - timedelta(days=150)
        assert DealBatch.objects.filter(source=FeedSource.PLATFORM, rows_rejected=0).count() >= 1
        report = DealBatch.objects.get(source=FeedSource.CSV)
        assert (report.rows_new, report.rows_rejected) == (3, 2)
        assert {(r.base, r.quote) for r in FxRate.objects.all()} == {("EUR", "USD"), ("GBP", "USD"), ("EUR", "GBP")}
        assert FxRate.objects.filter(base="EUR", quote="USD").count() == 184

    def test_demo_commissions_have_months_of_runs_agreeing_with_the_ledger(self) -> None:
        from ib.models import CommissionLine, CommissionRun, Partner, RunStatus
        from ib.services.money import partner_payables
        from payments.services.ledger import ledger_verify

        runs = CommissionRun.objects.all()
        assert runs.count() >= 6 and set(runs.values_list("status", flat=True)) == {RunStatus.DONE}
        months = {d.replace(day=1) for d in CommissionLine.objects.values_list("earned_on", flat=True)}
        assert len(months) >= 5  # commissions by month on the partner pages
        assert not CommissionLine.objects.filter(entry__isnull=True).exclude(amount=0).exists()  # all posted
        for partner in Partner.objects.filter(code__in=["ALPHA", "BETA", "GAMMA"]):
            assert [p.agree for p in partner_payables(partner)] == [True]
        assert ledger_verify().ok

    def test_demo_has_clients_in_follow_ups_at_different_steps(self) -> None:
        """The follow-ups page and the interaction logs have something to show: reminders by e-mail,
        SMS (one answered, one that could not be delivered) and in-app, a work item for a person, and a
        follow-up stopped by hand."""
        from accounts.models import Client as Person
        from ops.models import EnrollmentStatus, FollowUpEnrollment, Interaction, InteractionChannel, WorkItem
        from sim.models import SimSmsCallback

        def follow_up(email: str, sequence: str = "documents_requested") -> FollowUpEnrollment:
            person = Person.objects.get(email=email)
            return FollowUpEnrollment.objects.get(subject_id=str(person.pk), sequence__code=sequence)

        amelia, olivia = follow_up("amelia.hart@demo.invalid"), follow_up("olivia.brown@demo.invalid")
        assert (amelia.status, amelia.next_position) == (EnrollmentStatus.ACTIVE, 2)  # e-mail and SMS sent
        assert [i.channel for i in Interaction.objects.filter(subject_id=amelia.subject_id).order_by("id")] == [
            InteractionChannel.EMAIL, InteractionChannel.SMS
        ]  # fmt: skip
        assert SimSmsCallback.objects.filter(kind="reply", message__to="+447911123456").count() == 1
        assert olivia.status == EnrollmentStatus.COMPLETED
        assert WorkItem.objects.get(queue__code="client_follow_up").subject_id == olivia.subject_id
        sofia = follow_up("sofia.rossi@demo.invalid", "additional_documents")
        assert Interaction.objects.filter(subject_id=sofia.subject_id, channel=InteractionChannel.IN_APP).count() == 1
        mateo = follow_up("mateo.silva@demo.invalid")
        assert (mateo.status, mateo.ended_by) == (EnrollmentStatus.STOPPED, "support")

    def test_demo_has_a_chargeback_that_stopped_withdrawals_and_clawed_back_a_partner_commission(self) -> None:
        from ib.models import CommissionLine, LineKind, LineStatus
        from ops.models import WorkItem
        from payments.errors import PaymentError
        from payments.models import ChargebackCase, ChargebackStatus
        from payments.services.ledger import ledger_verify, wallet_for
        from payments.services.withdrawals import withdrawal_request

        case = ChargebackCase.objects.get()  # the seed ran twice: still one case
        assert case.status == ChargebackStatus.OPENED
        assert WorkItem.objects.get(queue__code="chargeback").subject_id == str(case.pk)
        cpa = CommissionLine.objects.get(kind=LineKind.CPA, qualifying_deposit=case.deposit)
        assert cpa.status == LineStatus.REVERSED and cpa.reversed_by.kind == LineKind.CLAWBACK
        with pytest.raises(PaymentError) as refused:
            withdrawal_request(
                client=case.client, source=wallet_for(client=case.client, currency="EUR"), amount="10.00",
                method="card", destination=case.deposit.payer_account, destination_name=case.client.display_name,
            )  # fmt: skip
        assert "chargebacks: 1 chargeback(s) open" in refused.value.message
        assert ledger_verify().ok

    def test_demo_has_monitoring_rules_alerts_with_evidence_and_a_rule_change_to_check(self) -> None:
        from ops.models import ApprovalRequest, ApprovalStatus
        from risk.models import AlertStatus, RiskAlert, RiskRule

        assert sorted(RiskRule.objects.values_list("code", flat=True)) == [
            "ABROAD-OUT", "LINKED-DEVICE", "LINKED-IP", "MANY-COUNTRIES", "NEW-DEVICE-OUT", "QUICK-EXIT", "ROUND-TRIP",
            "SCALPING", "SHARED-CARD", "STRUCTURING", "VELOCITY-DEP",
        ]  # fmt: skip
        quick = RiskAlert.objects.get(rule__code="QUICK-EXIT")
        assert quick.status == AlertStatus.OPEN and quick.client is not None
        assert [row["table"] for row in quick.evidence] == ["deposit", "withdrawal", "deals"]
        assert f"of 1,900.00 {quick.client.base_currency}" in quick.summary
        structuring = RiskAlert.objects.get(rule__code="STRUCTURING")
        assert structuring.client is not None
        assert (structuring.client.legal_name, structuring.status) == ("Northwind Trading Ltd", AlertStatus.TRUE_MATCH)
        limits = RiskAlert.objects.filter(source="exposure_limit").order_by("symbol")
        assert [(a.symbol, "notional" in a.summary) for a in limits] == [("EURUSD", False), ("XAUUSD", True)]
        abroad = RiskAlert.objects.get(rule__code="ABROAD-OUT")
        assert abroad.client == quick.client and "after a sign-in from" in abroad.summary
        travelled = RiskAlert.objects.get(rule__code="MANY-COUNTRIES")
        assert travelled.summary.startswith("Sign-ins from 3 countries (") and travelled.client != quick.client
        pending = ApprovalRequest.objects.get(action="risk.rule_change", status=ApprovalStatus.PENDING)
        assert pending.payload["params"]["min_pct"] == 50

    def test_demo_dashboard_shows_notional_and_the_missing_yen_rate(self) -> None:
        from risk.models import FxRateGap
        from risk.selectors import dashboard

        data = dashboard()
        rows = {r["symbol"]: r for r in data["by_symbol"]}
        assert rows["EURUSD"]["reporting_net"] is not None and rows["XAUUSD"]["reporting_net"] < 0
        assert rows["USDJPY"]["unconverted"] == "No JPY/USD rate: not converted."
        assert data["floating"]["broker_b"] is not None
        assert {c["currency"] for c in data["currencies"]} >= {"EUR", "USD", "XAU", "GBP"}
        (gap,) = FxRateGap.objects.all()
        assert (gap.base, gap.quote, gap.for_exposure) == ("JPY", "USD", True)

    def test_demo_has_sign_ins_and_two_clients_sharing_an_ip_and_a_device(self) -> None:
        from accounts.models import ClientSignIn
        from backoffice.management.commands.demo_seed import DEMO_SHARED_DEVICE, DEMO_SHARED_IP
        from risk.models import RiskAlert

        assert ClientSignIn.objects.filter(outcome="failed").exists()
        sharing = set(
            ClientSignIn.objects.filter(ip_address=DEMO_SHARED_IP).values_list("client__first_name", flat=True)
        )
        assert "Noah" in sharing and len(sharing) == 2
        assert ClientSignIn.objects.filter(device_id=DEMO_SHARED_DEVICE).values("client").distinct().count() == 2
        for code in ("LINKED-IP", "LINKED-DEVICE"):
            alert = RiskAlert.objects.get(rule__code=code)  # the seed ran twice: still one
            assert {row["client"].split()[0] for row in alert.evidence} == sharing

    def test_demo_has_a_filed_sar_on_the_structuring_alert(self) -> None:
        import hashlib

        from risk.models import SarStatus, SuspiciousActivityReport
        from risk.sar import sar_document

        sar = SuspiciousActivityReport.objects.get()  # the seed ran twice: still one
        assert sar.alert is not None and sar.alert.rule is not None and sar.alert.rule.code == "STRUCTURING"
        assert (sar.status, sar.created_by.username, sar.filed_by.username if sar.filed_by else None) == (
            SarStatus.FILED, "compliance", "compliance",
        )  # fmt: skip
        assert sar.approval is not None
        assert [d.checker.username for d in sar.approval.decisions.all()] == ["compliance2"]
        assert (
            hashlib.sha256(sar_document(sar)).hexdigest()
            == sar.content_sha256
            == sar.approval.payload["content_sha256"]
        )
        assert sar.regulator_reference == "FIU-2026-004211"
