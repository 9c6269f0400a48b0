from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient

from accounts.errors import ClientError
from accounts.models import ClientStatus
from accounts.services.clients import client_transition
from accounts.services.parties import client_party_add
from kyc.models import RiskFactor
from kyc.services.risk import risk_assess
from ops.models import ApprovalStatus, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide, approval_submit
from tests.factories import client, kyc_ready, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _in_review(**fields: Any) -> Any:
    c = client(**fields)
    client_transition(client_id=c.pk, name="submit_for_review", actor=staff(Role.SUPPORT))
    return c


def test_low_risk_with_documents_is_approved_by_one_reviewer() -> None:
    c = _in_review(source_of_funds="salary")
    assessment = risk_assess(client_id=c.pk)
    assert (assessment.level, assessment.score, assessment.factors) == ("low", 0, [])
    with pytest.raises(ClientError, match="Not every document is accepted"):
        client_transition(client_id=c.pk, name="approve", actor=staff(Role.COMPLIANCE))
    kyc_ready(c)
    assert (
        client_transition(client_id=c.pk, name="approve", actor=staff(Role.COMPLIANCE)).status == ClientStatus.APPROVED
    )


def test_every_factor_contribution_is_stored() -> None:
    c = _in_review(nationality="VN", source_of_funds="other")
    a = risk_assess(client_id=c.pk)
    assert {f["code"]: f["points"] for f in a.factors} == {"country_monitored": 25, "source_of_funds_unevidenced": 20}
    assert (a.score, a.level, a.edd_required) == (45, "medium", False)
    assert c.__class__.objects.get(pk=c.pk).risk_level == "medium"


def test_factors_are_configurable() -> None:
    RiskFactor.objects.filter(code="source_of_funds_unevidenced").update(points=5)  # tuned by compliance
    assert risk_assess(client_id=_in_review(source_of_funds="").pk).score == 5


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda c, s: None, "country_high"),
        (
            lambda c, s: client_party_add(client_id=c.pk, role="director", name="Minister X", actor=s, is_pep=True),
            "pep",
        ),
        (
            lambda c, s: [
                client_party_add(client_id=c.pk, role="beneficial_owner", name=n, actor=s, ownership_pct=Decimal("30"))
                for n in "ABC"
            ],
            "complex_structure",
        ),
    ],
)
def test_high_risk_triggers_route_to_edd(setup: Any, code: str) -> None:
    support = staff(Role.SUPPORT)
    kind = "individual" if code == "country_high" else "corporate"
    fields = {"country": "IR", "nationality": "IR"} if code == "country_high" else {"account_type": "corporate"}
    c = client(kind=kind, **fields)
    setup(c, support)
    client_transition(client_id=c.pk, name="submit_for_review", actor=support)
    a = risk_assess(client_id=c.pk)
    assert a.edd_required and a.level == "high" and code in [f["code"] for f in a.factors]
    assert WorkItem.objects.filter(queue__code="edd", subject_id=str(c.pk)).exists()


def test_high_risk_needs_two_compliance_officers() -> None:
    c = _in_review(country="IR", nationality="IR", source_of_funds="business")
    kyc_ready(c, level="high")
    officer, second = staff(Role.COMPLIANCE), staff(Role.COMPLIANCE)
    with pytest.raises(ClientError, match="two compliance officers"):
        client_transition(client_id=c.pk, name="approve", actor=officer)
    request = approval_submit(action="client.approve_edd", subject=c, payload={"client": c.reference}, maker=officer,
                              reason="source of wealth: sale of a business, evidenced")  # fmt: skip
    with pytest.raises(Exception, match="different person"):
        approval_decide(request_id=request.pk, checker=officer, decision="approve", reason="mine")
    done = approval_decide(
        request_id=request.pk, checker=second, decision="approve", reason="agree, evidence is sufficient"
    )
    assert done.status == ApprovalStatus.EXECUTED
    assert c.__class__.objects.get(pk=c.pk).status == ClientStatus.APPROVED


def test_good_admin_tunes_a_risk_factor_in_the_admin_with_an_audited_reason(client: HttpClient) -> None:
    """kyc.RiskFactor is configured in the Django admin, through the audited service: a reason is
    required, the change is an audit event, and roles outside configuration cannot open it."""
    from audit.models import AuditEvent
    from kyc.models import RiskFactor

    factor = RiskFactor.objects.get(code="pep")
    url = f"/admin/kyc/riskfactor/{factor.pk}/change/"
    form = {"label": factor.label, "points": factor.points + 5, "forces_edd": "on", "is_active": "on"}
    sign_in(client, staff(Role.ADMIN))
    index = client.get("/admin/").content.decode()
    assert 'href="/admin/kyc/riskfactor/"' in index
    assert client.post(url, form).status_code == 200  # no reason: the form answers with its error
    assert RiskFactor.objects.get(pk=factor.pk).points == factor.points
    response = client.post(url, form | {"change_reason": "FATF guidance on domestic PEPs"})
    assert response.status_code == 302
    tuned = RiskFactor.objects.get(pk=factor.pk)
    assert tuned.points == factor.points + 5 and tuned.forces_edd is True
    event = AuditEvent.objects.get(action="kyc.risk_factor_configured")
    assert event.before == {"points": str(factor.points)} and event.after == {"points": str(factor.points + 5)}
    assert event.reason == "FATF guidance on domestic PEPs"
    sign_in(client, staff(Role.COMPLIANCE))
    assert client.get(url).status_code == 302  # the Django admin is the administrators'
