"""Who gets in where: every page and endpoint, tried by the personas of ``tests/personas.py``.

Each row is one persona and exactly one status: ``LOGIN`` (302 to the login page with ?next=),
403 (the can-function refused: a role without the permission), 404 (outside the persona's scope:
the scoped selector does not find the object), or what the right role gets (200 for a page; for a
POST, 302 when the action was done, or 400 when an empty form got past every permission check to
the form's own validation). The staff API answers anonymous callers 403: with session
authentication only, DRF has no WWW-Authenticate challenge to send, so it does not answer 401.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.test import override_settings

from accounts.models import TradingAccount
from accounts.services.clients import client_transition
from kyc.models import SanctionsListVersion, ScreeningHit
from kyc.services.documents import document_upload
from ops.models import FollowUpEnrollment
from ops.roles import Role
from ops.services.approvals import approval_submit
from ops.services.work_items import work_item_claim, work_item_hold
from tests.factories import approved_client, staff, work_item
from tests.factories import client as make_client
from tests.kyc import files
from tests.personas import ANONYMOUS, DESK, NOBODY

pytestmark = pytest.mark.django_db

LOGIN = "login"
PDF = files.pdf()
SUPPORT, COMPLIANCE, FINANCE, RISK, ADMIN, AUDITOR = (
    Role.SUPPORT,
    Role.COMPLIANCE,
    Role.FINANCE,
    Role.RISK,
    Role.ADMIN,
    Role.AUDITOR,
)


def _officer() -> Any:
    """The "compliance" persona, made ahead when the test data needs it to own something."""
    return staff(Role.COMPLIANCE, username=COMPLIANCE.value)


def _document(c: Any) -> Any:
    upload = SimpleUploadedFile("scan.pdf", PDF)
    return document_upload(client_id=c.pk, kind="proof_of_identity", upload=upload, actor=staff(Role.SUPPORT))


def _checked(c: Any) -> Any:
    """An identity document whose provider check was given up on: staff may request it again."""
    from kyc.services.identity import identity_check_give_up

    document = _document(c)
    identity_check_give_up(check_id=document.identity_checks.get().pk, error="provider down")
    return document


def _hit(c: Any) -> Any:
    version = SanctionsListVersion.objects.create(name="test", source_file="t.csv", sha256="0" * 64)
    return ScreeningHit.objects.create(
        client=c, version=version, entry_id="Q1", entry_data_hash="0" * 64, entry_name=c.display_name,
        matched_name=c.display_name, score=Decimal("95"), name_score=Decimal("95"),
    )  # fmt: skip


def _account(c: Any) -> Any:
    return TradingAccount.objects.create(
        client=c, account_type=c.account_type, currency="USD", leverage=100, platform_group="demo", login="900001"
    )


def _owned() -> Any:
    return work_item_claim(item_id=work_item("kyc_review").pk, user=_officer())


def _waiting() -> Any:
    item = _owned()
    return work_item_hold(item_id=item.pk, user=item.owner, reason="asked for a new scan")


def _restricted() -> Any:
    c = approved_client(provision=False)
    return client_transition(client_id=c.pk, name="restrict", actor=_officer(), reason="chargebacks")


def _approval() -> Any:
    return approval_submit(
        action="staff.grant_role",
        subject=staff(username="grantee"),
        payload={"role": "risk"},
        maker=staff(Role.ADMIN, username="maker"),
        reason="joins the risk desk",
    )


def _line() -> Any:
    from ib.models import CommissionLine, LineKind
    from ib.services.partners import partner_create

    partner = partner_create(name="Line Partners", code="LINEP", actor=staff(Role.SUPPORT, username="ib-line-maker"))
    return CommissionLine.objects.create(
        kind=LineKind.CPA, client=make_client(), partner=partner, level=0, earned_on="2026-01-05",
        base_amount=Decimal("50.00"), base_currency="EUR", amount=Decimal("50.00"), currency="EUR", tree=[partner.pk],
    )  # fmt: skip


def _dispute() -> Any:
    from ib.services.disputes import dispute_raise

    return dispute_raise(line=_line(), claim="CPA should be 80", actor=staff(Role.SUPPORT, username="ib-disputer"))


def _partner() -> Any:
    from ib.services.partners import partner_create

    return partner_create(name="Alpha Partners", code="ALPHA", actor=staff(Role.SUPPORT, username="ib-maker"))


def _deal(c: Any) -> Any:
    """A deal on the client's account; its page is named by the platform's deal id."""
    from types import SimpleNamespace

    from tests.ib.factories import deal

    _account(c)
    return SimpleNamespace(pk=deal(c).deal_id)


def _batch() -> Any:
    from tests.ib.factories import batch

    return batch()


def _plan() -> Any:
    from tests.ib.factories import plan

    return plan("ACCESS").plan


def _run() -> Any:
    import datetime

    from ib.services.runs import commission_run_start

    day = datetime.date(2026, 1, 5)
    return commission_run_start(period_start=day, period_end=day, actor=staff(Role.FINANCE, username="ib-runner"))


def _endpoint() -> Any:
    from ops.services.webhooks import webhook_endpoint_create

    endpoint, _ = webhook_endpoint_create(
        url="http://127.0.0.1:9/hooks", description="CRM", event_types=["client.status_changed"],
        actor=staff(Role.ADMIN, username="webhook-admin"),
    )  # fmt: skip
    return endpoint


def _chargeback() -> Any:
    """A chargeback case of a client's card deposit, opened by the PSP's dispute callback."""
    from payments.services.webhooks import inbound_event_process, inbound_event_store
    from sim import simpay
    from tests.factories import card_deposit

    deposit = card_deposit(approved_client(provision=False), "120.00")
    delivery = simpay.signed(simpay.dispute_open(payment_id=deposit.external_id).event)
    stored, _ = inbound_event_store(provider="simpay", body=delivery.body, signature=delivery.signature)
    inbound_event_process(event_pk=stored.pk)
    return deposit.chargebacks.get()


def _risk_rule() -> Any:
    from django.utils import timezone

    from risk.models import RiskRule, RiskRuleVersion

    rule = RiskRule.objects.create(code="ACCESS", name="Access rule", kind="velocity")
    RiskRuleVersion.objects.create(
        rule=rule, number=1, params={"direction": "deposit", "count": 5, "window_hours": 24}, valid_from=timezone.now()
    )
    return rule


def _risk_alert() -> Any:
    from risk.models import RiskAlert

    rule = _risk_rule()
    return RiskAlert.objects.create(
        rule=rule, rule_version=rule.versions.get(), key="client:0:2026-01-01", summary="5 deposits within 24 h"
    )


def _fx_gap() -> Any:
    from django.utils import timezone

    from risk.services import fx_gap_record

    now = timezone.now()
    return fx_gap_record(base="CHF", quote="GBP", day=now.date(), first_at=now, count=1, examples=["D-1"])


def _agent() -> Any:
    from agents.services import agent_register

    admin = staff(Role.ADMIN, username="agent-owner")
    agent, _ = agent_register(name="access-bot", owner=admin, purpose="access tests", scopes=[], actor=admin)
    return agent


def _proposal(c: Any) -> Any:
    """A proposal an agent made (through the door's own service), waiting for compliance."""
    from agents.approval_actions import KYC_DOCUMENT
    from agents.services import agent_actor, proposal_make
    from audit.context import acting_as

    agent, document = _agent(), _document(c)
    with acting_as(agent_actor(agent)):
        return proposal_make(
            agent=agent, action=KYC_DOCUMENT, subject=document, payload={"document": document.pk, "decision": "accept"},
            rationale="dates and name check out", evidence=[],
        )  # fmt: skip


def _client_alert(c: Any) -> Any:
    from risk.models import RiskAlert

    rule = _risk_rule()
    return RiskAlert.objects.create(
        rule=rule, rule_version=rule.versions.get(), key=f"client:{c.pk}:2026-01-01", client=c,
        summary="5 deposits within 24 h", status="escalated",
    )  # fmt: skip


def _sar(c: Any) -> Any:
    from risk.sar import sar_draft

    maker = staff(Role.COMPLIANCE, username="sar-maker")
    return sar_draft(
        actor=maker, origin=_client_alert(c), narrative="Five deposits in a day", no_transactions_reason="x"
    )


def _sar_approved(c: Any) -> Any:
    from ops.services.approvals import approval_decide
    from risk.sar import sar_submit

    sar = _sar(c)
    request = sar_submit(sar_id=sar.pk, actor=sar.created_by, reason="file it")
    approval_decide(
        request_id=request.pk, checker=staff(Role.COMPLIANCE, username="sar-checker"), decision="approve", reason="ok"
    )
    return sar


class World:
    """The objects a row's URL names (``{client}``, ``{document}``, ...), made when first named;
    none of them is in the desk persona's scope."""

    def __init__(self) -> None:
        self.client = make_client()
        self.makers: dict[str, Callable[[], Any]] = {
            "corporate": lambda: make_client(kind="corporate"),
            "restricted": _restricted,
            "document": lambda: _document(self.client),
            "checked": lambda: _checked(self.client),
            "hit": lambda: _hit(self.client),
            "account": lambda: _account(self.client),
            "item": lambda: work_item("kyc_review", title="Review a client"),
            "owned": _owned,
            "waiting": _waiting,
            "approval": _approval,
            "partner": _partner,
            "line": _line,
            "dispute": _dispute,
            "deal": lambda: _deal(self.client),
            "batch": _batch,
            "plan": _plan,
            "run": _run,
            "endpoint": _endpoint,
            "chargeback": _chargeback,
            "riskrule": _risk_rule,
            "riskalert": _risk_alert,
            "fxgap": _fx_gap,
            "agent": _agent,
            "proposal": lambda: _proposal(self.client),
            "clientalert": lambda: _client_alert(self.client),
            "sar": lambda: _sar(self.client),
            "sarapproved": lambda: _sar_approved(self.client),
            # the world's client is in the documents follow-up since its registration
            "enrollment": lambda: FollowUpEnrollment.objects.get(subject_id=str(self.client.pk)),
        }

    def url(self, pattern: str) -> str:
        names = re.findall(r"{(\w+)}", pattern)
        objects = {name: self.client if name == "client" else self.makers[name]() for name in names}
        # a dispute's page is addressed by its reference, every other object by its id
        ids = {name: obj.reference if name == "dispute" else obj.pk for name, obj in objects.items()}
        return pattern.format(**ids)


@pytest.fixture
def world(tmp_path: Any) -> Any:
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        yield World()


@dataclass(frozen=True)
class Row:
    method: str
    url: str
    persona: str
    expected: int | str
    data: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.url} as {self.persona} -> {self.expected}"


def rows(method: str, url: str, *expectations: tuple[str, int | str], data: dict[str, Any] | None = None) -> list[Row]:
    return [Row(method, url, persona, expected, data) for persona, expected in expectations]


# fmt: off
PAGES = [
    # --- clients (accounts) ---
    *rows("GET", "/clients/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 200), (SUPPORT, 200)),
    *rows("GET", "/clients/new/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 200)),
    *rows("GET", "/clients/{client}/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 404), (AUDITOR, 200), (SUPPORT, 200)),
    *rows(
        "POST", "/clients/{client}/transition/submit_for_review/",
        (ANONYMOUS, LOGIN), (NOBODY, 403), (RISK, 403), (DESK, 404), (SUPPORT, 302),
    ),
    *rows(
        "POST", "/clients/{restricted}/unfreeze/",
        (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404), (COMPLIANCE, 302),
        data={"reason": "chargebacks settled"},
    ),
    *rows("POST", "/clients/{corporate}/parties/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (DESK, 404), (SUPPORT, 400)),
    *rows("POST", "/clients/{client}/links/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (DESK, 404), (SUPPORT, 400)),
    *rows(
        "POST", "/clients/trading-accounts/{account}/leverage/",
        (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404), (RISK, 400),
    ),
    # the client's interaction log (messages sent, CRM records): whoever sees the client
    *rows(
        "GET", "/clients/{client}/interactions/",
        (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 404), (AUDITOR, 200), (SUPPORT, 200),
    ),
    # the simulated CRM's own pages (demo and tests only): an outside system's, any signed-in user
    *rows("GET", "/sim/crm/", (ANONYMOUS, LOGIN), (NOBODY, 200)),
    # --- KYC ---
    *rows(
        "POST", "/kyc/clients/{client}/documents/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (DESK, 404), (SUPPORT, 400)
    ),
    *rows("GET", "/kyc/documents/{document}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (DESK, 404), (COMPLIANCE, 200)),
    *rows(
        "POST", "/kyc/documents/{document}/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404), (COMPLIANCE, 400)
    ),
    *rows(
        "GET", "/kyc/documents/{document}/file/", (ANONYMOUS, LOGIN), (NOBODY, 404), (DESK, 404), (COMPLIANCE, 200)
    ),
    # only compliance and the auditor open identity documents; the others see the checklist state
    *rows(
        "GET", "/kyc/documents/{document}/file/",
        (SUPPORT, 403), (FINANCE, 403), (RISK, 403), (ADMIN, 403), (AUDITOR, 200),
    ),
    # asking the identity verification provider to check a document again: compliance, with a reason
    *rows(
        "POST", "/kyc/documents/{checked}/identity-check/",
        (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 403), (DESK, 404), (COMPLIANCE, 400),
    ),
    *rows("POST", "/kyc/documents/{checked}/identity-check/", (COMPLIANCE, 302), data={"reason": "provider was down"}),
    *rows("POST", "/kyc/clients/{client}/risk/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404), (COMPLIANCE, 302)),
    *rows(
        "POST", "/kyc/screening-hits/{hit}/decide/",
        (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404), (COMPLIANCE, 302),
        data={"decision": "false_positive", "reason": "a different person"},
    ),
    *rows("POST", "/kyc/clients/{client}/edd-approval/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404)),
    *rows("GET", "/kyc/sanctions-lists/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 200), (COMPLIANCE, 200)),
    # --- the operator workspace (ops): a queue and an approval level are scopes too ---
    *rows("GET", "/", (ANONYMOUS, LOGIN), (NOBODY, 200)),
    *rows("GET", "/queues/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 200), (SUPPORT, 200)),
    *rows("GET", "/queues/kyc_review/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 404), (COMPLIANCE, 200)),
    *rows("GET", "/items/{item}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (SUPPORT, 404), (AUDITOR, 200), (COMPLIANCE, 200)),
    *rows("POST", "/items/{item}/claim/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 302)),
    *rows("POST", "/items/{item}/assign/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 400)),
    # the item's owner acts on it; another worker of the queue may not (403)
    *rows("POST", "/items/{item}/resolve/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 403)),
    *rows(
        "POST", "/items/{owned}/resolve/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 302),
        data={"code": "fixed", "note": "the client re-uploaded"},
    ),
    *rows(
        "POST", "/items/{owned}/hold/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 302),
        data={"reason": "asked for a bank statement"},
    ),
    *rows("POST", "/items/{owned}/release/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 302)),
    *rows("POST", "/items/{waiting}/resume/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 404), (COMPLIANCE, 302)),
    *rows("GET", "/approvals/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 200), (COMPLIANCE, 200)),
    *rows("GET", "/approvals/{approval}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (COMPLIANCE, 404), (ADMIN, 200)),
    *rows(
        "POST", "/approvals/{approval}/decide/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (COMPLIANCE, 404), (ADMIN, 400)
    ),
    *rows("POST", "/approvals/{approval}/cancel/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (COMPLIANCE, 404), (ADMIN, 403)),
    *rows("GET", "/staff/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 200), (ADMIN, 200)),
    *rows("POST", "/staff/role-request/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (ADMIN, 400)),
    *rows(
        "GET", "/staff/access-review/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (SUPPORT, 403),
        (FINANCE, 403), (RISK, 403), (COMPLIANCE, 200), (ADMIN, 200), (AUDITOR, 200),
    ),
    *rows(
        "GET", "/staff/access-review.csv", (ANONYMOUS, LOGIN), (SUPPORT, 403), (COMPLIANCE, 200), (ADMIN, 200),
        (AUDITOR, 200),
    ),
    *rows(
        "POST", "/staff/access-review/sign-off/", (ANONYMOUS, LOGIN), (NOBODY, 403), (ADMIN, 403), (AUDITOR, 403),
        (COMPLIANCE, 302), data={"note": "nothing found this quarter"},
    ),
    *rows(
        "POST", "/staff/second-factor-reset/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 403), (ADMIN, 400)
    ),
    *rows("POST", "/staff/unlock/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (COMPLIANCE, 403), (ADMIN, 400)),
    # --- client follow-up sequences: support and compliance ---
    *rows(
        "GET", "/followups/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (FINANCE, 403), (RISK, 403),
        (ADMIN, 403), (AUDITOR, 403), (SUPPORT, 200), (COMPLIANCE, 200),
    ),
    *rows(
        "POST", "/followups/{enrollment}/stop/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (FINANCE, 403),
        (AUDITOR, 403), (SUPPORT, 400),
    ),
    *rows("POST", "/followups/{enrollment}/stop/", (COMPLIANCE, 302), data={"reason": "the client called us"}),
    *rows("POST", "/followups/999999/stop/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 404)),
    # --- API keys: administrators ---
    *rows("GET", "/staff/api-keys/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 403), (ADMIN, 200)),
    *rows("POST", "/staff/api-keys/request/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (ADMIN, 400)),
    *rows("POST", "/staff/api-keys/1/revoke/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (ADMIN, 404)),
    # --- agents: administrators manage them; compliance and the auditor read the oversight pages ---
    *rows(
        "GET", "/agents/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (SUPPORT, 403), (FINANCE, 403),
        (RISK, 403), (COMPLIANCE, 200), (AUDITOR, 200), (ADMIN, 200),
    ),
    *rows("GET", "/agents/{agent}/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (COMPLIANCE, 200), (AUDITOR, 200)),
    *rows("GET", "/agents/999999/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (ADMIN, 404)),
    *rows("GET", "/agents/new/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (AUDITOR, 403), (ADMIN, 200)),
    *rows("POST", "/agents/new/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (ADMIN, 400)),
    *rows("POST", "/agents/stop/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (AUDITOR, 403), (ADMIN, 302)),
    *rows("POST", "/agents/start/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (ADMIN, 302)),
    *rows("POST", "/agents/{agent}/stop/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (ADMIN, 302)),
    *rows("POST", "/agents/{agent}/stop/", (ADMIN, 302), data={"reason": "misbehaving"}),
    *rows("POST", "/agents/{agent}/change/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (ADMIN, 302)),
    # the review page: whoever decides requests (each proposal says whether it is theirs)
    *rows(
        "GET", "/agents/review/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 200), (FINANCE, 200),
        (COMPLIANCE, 200), (AUDITOR, 200),
    ),
    *rows(
        "POST", "/agents/review/{proposal}/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403), (AUDITOR, 403),
        (ADMIN, 403), (COMPLIANCE, 400),
    ),
    *rows("POST", "/agents/review/{proposal}/", (COMPLIANCE, 302), data={"outcome": "accepted", "reason": "checked"}),
    *rows("POST", "/agents/review/999999/", (ANONYMOUS, LOGIN), (NOBODY, 403), (COMPLIANCE, 404)),
    # the second step of signing in: a verified session goes on to its page (tests/ops/test_second_factor.py)
    *rows("GET", "/account/second-factor/", (ANONYMOUS, LOGIN), (NOBODY, 302), (AUDITOR, 302)),
    *rows("GET", "/account/second-factor/enrol/", (ANONYMOUS, LOGIN), (NOBODY, 302), (SUPPORT, 302)),
    # --- payments (the rest of its pages: tests/payments/test_access.py) ---
    *rows("GET", "/payments/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 403), (FINANCE, 200), (AUDITOR, 200)),
    *rows("GET", "/payments/statements/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (FINANCE, 200)),
    # starting deposits and PSP routing
    *rows(
        "GET", "/clients/{client}/deposit-link/",
        (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (AUDITOR, 403), (RISK, 403), (SUPPORT, 200), (FINANCE, 200),
    ),
    *rows("POST", "/clients/{client}/deposit-link/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (SUPPORT, 400)),
    *rows("GET", "/payments/routing/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 200), (FINANCE, 200)),
    *rows("POST", "/payments/routing/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (RISK, 403), (FINANCE, 400)),
    # chargebacks: read with the payments pages; finance and compliance send the response
    *rows(
        "GET", "/payments/chargebacks/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403), (DESK, 403),
        (FINANCE, 200), (COMPLIANCE, 200), (RISK, 200), (AUDITOR, 200),
    ),
    *rows(
        "GET", "/payments/chargebacks/{chargeback}/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403),
        (AUDITOR, 200), (FINANCE, 200), (COMPLIANCE, 200),
    ),
    *rows(
        "POST", "/payments/chargebacks/{chargeback}/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 404),
        (RISK, 404), (FINANCE, 400),
    ),
    *rows(
        "POST", "/payments/chargebacks/{chargeback}/", (COMPLIANCE, 302),
        data={"action": "respond", "note": "The cardholder signed in and traded the funds."},
    ),
    *rows("GET", "/payments/chargebacks/999999/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (FINANCE, 404)),
    # --- partners (ib) ---
    *rows("GET", "/partners/", (ANONYMOUS, LOGIN), (NOBODY, 403), (RISK, 200), (AUDITOR, 200), (SUPPORT, 200)),
    *rows("GET", "/partners/new/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (FINANCE, 403), (SUPPORT, 200)),
    *rows("POST", "/partners/new/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (SUPPORT, 400)),
    *rows("GET", "/partners/{partner}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 200), (FINANCE, 200)),
    *rows("GET", "/partners/deals/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 200), (RISK, 200)),
    *rows("GET", "/partners/deals/{deal}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (SUPPORT, 200), (FINANCE, 200)),
    *rows("GET", "/partners/feed/", (ANONYMOUS, LOGIN), (NOBODY, 403), (COMPLIANCE, 200)),
    *rows("GET", "/partners/feed/{batch}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 200)),
    *rows("GET", "/partners/deals/import/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 403), (FINANCE, 200),
          (RISK, 200)),
    *rows("POST", "/partners/deals/import/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (FINANCE, 400)),
    *rows(
        "POST", "/clients/{client}/partner/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (FINANCE, 403), (DESK, 404),
        (SUPPORT, 302),
    ),
    # --- partner commissions: statement lines, disputes, payouts (ib) ---
    *rows(
        "GET", "/partners/lines/{line}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (DESK, 404), (AUDITOR, 200), (RISK, 200),
    ),
    *rows(
        "POST", "/partners/lines/{line}/dispute/",
        (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (RISK, 403), (SUPPORT, 400), (FINANCE, 400),
    ),
    *rows("GET", "/partners/disputes/", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (AUDITOR, 200), (SUPPORT, 200)),
    *rows("GET", "/partners/disputes/{dispute}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 200), (FINANCE, 200)),
    *rows(
        "POST", "/partners/disputes/{dispute}/resolve/",
        (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (RISK, 403), (SUPPORT, 400),
    ),
    *rows(
        "POST", "/partners/disputes/{dispute}/resolve/", (FINANCE, 302),
        data={"resolution": "correct", "note": "CPA paid as the plan says"},
    ),
    *rows(
        "POST", "/partners/disputes/{dispute}/adjustment/",
        (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (SUPPORT, 400), (FINANCE, 400),
    ),
    *rows(
        "POST", "/partners/disputes/{dispute}/adjustment/", (SUPPORT, 302), data={"amount": "30.00", "reason": "plan says 80"},
    ),
    *rows("GET", "/partners/{partner}/payouts/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 200), (FINANCE, 200)),
    *rows(
        "POST", "/partners/{partner}/payouts/request/",
        (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (SUPPORT, 403), (FINANCE, 400),
    ),
    # --- commission plans and partner changes (ib) ---
    *rows("GET", "/partners/plans/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 200), (FINANCE, 200), (SUPPORT, 200)),
    *rows("GET", "/partners/plans/{plan}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 200), (RISK, 200)),
    *rows("GET", "/partners/plans/new/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (FINANCE, 403), (SUPPORT, 200)),
    *rows("POST", "/partners/plans/new/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (FINANCE, 403), (SUPPORT, 400)),
    *rows(
        "GET", "/partners/plans/{plan}/versions/new/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403),
        (FINANCE, 403), (SUPPORT, 200),
    ),
    *rows("POST", "/partners/plans/{plan}/versions/new/", (ANONYMOUS, LOGIN), (RISK, 403), (SUPPORT, 400)),
    *rows(
        "POST", "/partners/{partner}/plan/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (FINANCE, 403),
        (SUPPORT, 400),
    ),
    *rows(
        "POST", "/partners/{partner}/move/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (FINANCE, 403),
        (SUPPORT, 400),
    ),
    # --- commission runs (ib) ---
    *rows("GET", "/partners/runs/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 200), (FINANCE, 200)),
    *rows("POST", "/partners/runs/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 403), (FINANCE, 400)),
    *rows("GET", "/partners/runs/{run}/", (ANONYMOUS, LOGIN), (NOBODY, 403), (RISK, 200), (FINANCE, 200)),
    *rows("GET", "/partners/runs/{run}/progress/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 200)),
    *rows("GET", "/partners/unearned/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 200), (FINANCE, 200)),
    # --- risk: the dashboard (trading risk), limits, monitoring rules and alerts (anomalies), books ---
    *rows(
        "GET", "/risk/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403), (COMPLIANCE, 403), (AUDITOR, 200),
        (RISK, 200),
    ),
    *rows("GET", "/risk/?country=Germany", (RISK, 400)),
    *rows("GET", "/risk/?currency=XYZ", (RISK, 400)),
    *rows("GET", "/risk/limits/", (ANONYMOUS, LOGIN), (FINANCE, 403), (AUDITOR, 200), (RISK, 200)),
    *rows("POST", "/risk/limits/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (FINANCE, 403), (RISK, 400)),
    *rows("GET", "/risk/rules/", (ANONYMOUS, LOGIN), (NOBODY, 403), (COMPLIANCE, 403), (AUDITOR, 200), (RISK, 200)),
    *rows("GET", "/risk/rules/new/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (FINANCE, 403), (RISK, 200)),
    *rows("POST", "/risk/rules/new/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (SUPPORT, 403), (RISK, 400)),
    *rows("GET", "/risk/rules/{riskrule}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (SUPPORT, 404), (AUDITOR, 200), (RISK, 200)),
    *rows(
        "GET", "/risk/rules/{riskrule}/versions/new/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (RISK, 200),
    ),
    *rows("POST", "/risk/rules/{riskrule}/versions/new/", (ANONYMOUS, LOGIN), (FINANCE, 404), (AUDITOR, 403), (RISK, 400)),
    *rows("POST", "/risk/rules/{riskrule}/run/", (ANONYMOUS, LOGIN), (NOBODY, 404), (AUDITOR, 403), (RISK, 302)),
    *rows("GET", "/risk/alerts/", (ANONYMOUS, LOGIN), (NOBODY, 403), (FINANCE, 403), (AUDITOR, 200), (RISK, 200)),
    *rows("GET", "/risk/alerts/?status=nonsense", (RISK, 404)),
    # missing FX rates: finance and risk work their queue, administrators add rates, the auditor reads
    *rows(
        "GET", "/risk/fx-gaps/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403), (COMPLIANCE, 403), (FINANCE, 200),
        (RISK, 200), (ADMIN, 200), (AUDITOR, 200),
    ),
    *rows(
        "GET", "/risk/fx-gaps/{fxgap}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (SUPPORT, 404), (FINANCE, 200), (RISK, 200),
        (AUDITOR, 200),
    ),
    # finance and risk propose the missing rate (an empty form: 400); the auditor and admins do not
    *rows(
        "POST", "/risk/fx-gaps/{fxgap}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (SUPPORT, 404), (FINANCE, 400), (RISK, 400),
        (AUDITOR, 403), (ADMIN, 403),
    ),
    *rows(
        "GET", "/risk/alerts/{riskalert}/", (ANONYMOUS, LOGIN), (NOBODY, 404), (SUPPORT, 404), (AUDITOR, 200), (RISK, 200),
        (COMPLIANCE, 200),
    ),
    # --- suspicious activity reports: compliance drafts, submits and records filing; the auditor reads ---
    *rows(
        "GET", "/risk/sars/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403), (RISK, 403), (FINANCE, 403),
        (COMPLIANCE, 200), (AUDITOR, 200),
    ),
    *rows(
        "GET", "/risk/sars/new/alert/{clientalert}/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (RISK, 403), (AUDITOR, 403),
        (COMPLIANCE, 200),
    ),
    *rows("POST", "/risk/sars/new/alert/{clientalert}/", (ANONYMOUS, LOGIN), (RISK, 403), (AUDITOR, 403), (COMPLIANCE, 400)),
    *rows(
        "GET", "/risk/sars/new/hit/{hit}/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (RISK, 403), (AUDITOR, 403),
        (COMPLIANCE, 200),
    ),
    *rows("POST", "/risk/sars/new/hit/{hit}/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 403), (COMPLIANCE, 400)),
    *rows(
        "GET", "/risk/sars/{sar}/", (ANONYMOUS, LOGIN), (NOBODY, 403), (SUPPORT, 403), (RISK, 403), (COMPLIANCE, 200),
        (AUDITOR, 200),
    ),
    *rows("GET", "/risk/sars/{sar}/edit/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (RISK, 403), (AUDITOR, 403), (COMPLIANCE, 200)),
    *rows("POST", "/risk/sars/{sar}/edit/", (ANONYMOUS, LOGIN), (RISK, 403), (AUDITOR, 403), (COMPLIANCE, 400)),
    *rows("POST", "/risk/sars/{sar}/submit/", (ANONYMOUS, LOGIN), (RISK, 403), (AUDITOR, 403), (COMPLIANCE, 400)),
    *rows("GET", "/risk/sars/{sar}/export/", (ANONYMOUS, LOGIN), (RISK, 403), (COMPLIANCE, 403)),
    *rows(
        "GET", "/risk/sars/{sarapproved}/export/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (RISK, 403), (COMPLIANCE, 200),
        (AUDITOR, 200),
    ),
    *rows("POST", "/risk/sars/{sarapproved}/filing/", (ANONYMOUS, LOGIN), (RISK, 403), (AUDITOR, 403), (COMPLIANCE, 400)),
    *rows("POST", "/risk/alerts/{riskalert}/", (ANONYMOUS, LOGIN), (SUPPORT, 404), (AUDITOR, 403), (RISK, 400)),
    *rows(
        "GET", "/risk/accounts/{account}/book/",
        (ANONYMOUS, LOGIN), (NOBODY, 404), (DESK, 404), (SUPPORT, 403), (FINANCE, 403), (RISK, 200),
    ),
    *rows("POST", "/risk/accounts/{account}/book/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (DESK, 404), (RISK, 400)),
    # --- outbound webhooks: administrators ---
    *rows("GET", "/staff/webhooks/", (ANONYMOUS, LOGIN), (NOBODY, 403), (AUDITOR, 403), (FINANCE, 403), (ADMIN, 200)),
    *rows("POST", "/staff/webhooks/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (ADMIN, 400)),
    *rows("GET", "/staff/webhooks/{endpoint}/", (ANONYMOUS, LOGIN), (COMPLIANCE, 403), (ADMIN, 200)),
    *rows("POST", "/staff/webhooks/{endpoint}/edit/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (ADMIN, 400)),
    *rows("POST", "/staff/webhooks/{endpoint}/disable/", (ANONYMOUS, LOGIN), (RISK, 403), (ADMIN, 400)),
    *rows("POST", "/staff/webhooks/{endpoint}/rotate/", (ANONYMOUS, LOGIN), (AUDITOR, 403), (ADMIN, 302)),
    # --- the audit trail ---
    *rows("GET", "/audit/", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 200)),
    *rows("GET", "/audit/export.csv", (ANONYMOUS, LOGIN), (SUPPORT, 403), (AUDITOR, 200)),
    # the evidence pack for a regulator: compliance and the auditor
    *rows(
        "GET", "/audit/evidence/clients/{client}.zip", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (SUPPORT, 403),
        (FINANCE, 403), (RISK, 403), (ADMIN, 403), (COMPLIANCE, 200), (AUDITOR, 200),
    ),
    *rows("GET", "/audit/evidence/clients/999999.zip", (COMPLIANCE, 404)),
    # ... and per case: a chargeback, a risk alert (with or without a client), a SAR
    *[
        row
        for case in ("chargebacks/{chargeback}", "risk-alerts/{clientalert}", "risk-alerts/{riskalert}", "sars/{sar}")
        for row in rows(
            "GET", f"/audit/evidence/{case}.zip", (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (SUPPORT, 403),
            (FINANCE, 403), (RISK, 403), (ADMIN, 403), (COMPLIANCE, 200), (AUDITOR, 200),
        )
    ],
    *rows("GET", "/audit/evidence/chargebacks/999999.zip", (COMPLIANCE, 404), (AUDITOR, 404)),
    *rows("GET", "/audit/evidence/sars/999999.zip", (COMPLIANCE, 404)),
    *rows("GET", "/audit/evidence/nonsense/{chargeback}.zip", (COMPLIANCE, 404)),
    # --- the security log: administrators, compliance and the auditor ---
    *rows(
        "GET", "/audit/security/",
        (ANONYMOUS, LOGIN), (NOBODY, 403), (DESK, 403), (SUPPORT, 403), (FINANCE, 403), (RISK, 403),
        (COMPLIANCE, 200), (ADMIN, 200), (AUDITOR, 200),
    ),
]

API = [
    *rows("GET", "/api/v1/staff/clients/", (ANONYMOUS, 401), (NOBODY, 403), (DESK, 200), (SUPPORT, 200)),
    *rows("GET", "/api/v1/staff/clients/{client}/", (ANONYMOUS, 401), (NOBODY, 403), (DESK, 404), (SUPPORT, 200)),
    *rows("POST", "/api/v1/staff/clients/", (ANONYMOUS, 401), (AUDITOR, 403), (SUPPORT, 400), data={}),
    *rows("GET", "/api/v1/events", (ANONYMOUS, 401), (NOBODY, 403), (AUDITOR, 403), (ADMIN, 200)),
    *rows(
        "GET", "/api/v1/staff/reports/",
        (ANONYMOUS, 401), (NOBODY, 403), (SUPPORT, 403), (FINANCE, 200), (COMPLIANCE, 200), (AUDITOR, 200),
    ),
    *rows(
        "GET", "/api/v1/staff/reports/payments/",
        (ANONYMOUS, 401), (NOBODY, 403), (SUPPORT, 403), (COMPLIANCE, 403), (FINANCE, 200), (AUDITOR, 200),
    ),
    *rows("GET", "/api/v1/staff/reports/nothing/", (ANONYMOUS, 401), (FINANCE, 404)),
    *rows(
        "POST", "/api/v1/staff/clients/{client}/transitions/",
        (ANONYMOUS, 401), (NOBODY, 403), (RISK, 403), (DESK, 404), (SUPPORT, 200),
        data={"transition": "submit_for_review"},
    ),
]
# fmt: on


def _call(http: HttpClient, row: Row, url: str, *, api: bool) -> Any:
    if row.method == "GET":
        return http.get(url)
    if api:
        return http.post(url, row.data or {}, content_type="application/json")
    return http.post(url, row.data or {})


@pytest.mark.parametrize("row", PAGES, ids=str)
def test_page_access(row: Row, persona: Callable[[str], HttpClient], world: World) -> None:
    url = world.url(row.url)  # first: the test data may make the persona's own user
    response = _call(persona(row.persona), row, url, api=False)
    if row.expected == LOGIN:
        assert (response.status_code, response["Location"]) == (302, f"/login/?next={url}")
    else:
        assert response.status_code == row.expected, getattr(response, "content", b"")[:400]
        if response.status_code == 302:
            assert not response["Location"].startswith("/login/")


@pytest.mark.parametrize("row", API, ids=str)
def test_api_access(row: Row, persona: Callable[[str], HttpClient], world: World) -> None:
    url = world.url(row.url)  # first: the test data may make the persona's own user
    response = _call(persona(row.persona), row, url, api=True)
    assert response.status_code == row.expected, response.content[:400]
    if response.status_code in (401, 403):
        assert response["Content-Type"] == "application/problem+json"
