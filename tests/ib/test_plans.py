"""Commission plans as maker-checker changes (``ib.plan_change``), the comparison the checker sees,
the plan pages, and the plan a partner follows (``ib.partner_plan_assign``)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client as HttpClient
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ib import errors
from ib.errors import PlanError
from ib.models import (
    Attribution,
    AttributionSource,
    CommissionPlan,
    CommissionRun,
    Partner,
    PartnerPlan,
    PartnerStatus,
    PlanRule,
    PlanVersion,
    RuleKind,
)
from ib.selectors import last_full_month, plan_change_comparison, rule_in_words
from ib.services.commissions import deal_lines_write
from ib.services.partner_changes import PARTNER_PLAN_ASSIGN, partner_plan_request
from ib.services.plans import PLAN_CHANGE, plan_propose, plan_version_propose
from ops import errors as ops_errors
from ops.errors import OpsError
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from ops.services.approvals import approval_decide
from tests.factories import approved_client, staff
from tests.ib.factories import deal, follow, plan, symbol_groups, tree
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate
FX = {"kind": "per_lot", "symbol_group": "fx", "rate": "10", "tier_shares": ["50", "30", "20"],
      "client_rebate_pct": "10"}  # fmt: skip


def _support() -> Any:
    return staff(Role.SUPPORT)


def _finance() -> Any:
    return staff(Role.FINANCE)


def _approve(request: ApprovalRequest, checker: Any = None) -> ApprovalRequest:
    return approval_decide(request_id=request.pk, checker=checker or _finance(), decision="approve", reason="checked")


def _propose_version(version: PlanVersion, *, valid_from: date | None = None, rules: list[Any] | None = None,
                     maker: Any = None) -> ApprovalRequest:  # fmt: skip
    return plan_version_propose(
        actor=maker or _support(), plan=version.plan, valid_from=valid_from or TODAY() + timedelta(days=10),
        note="richer FX", rules=rules or [FX], reason="partners asked for 10 per lot",
    )  # fmt: skip


# --- a new plan and a new version ----------------------------------------------------------------


def test_good_a_new_plan_waits_for_finance_then_gets_its_first_version() -> None:
    symbol_groups()
    request = plan_propose(
        actor=_support(), code="gold", name="Gold partners", currency="EUR", hold_days=14, valid_from=TODAY(),
        note="launch", rules=[FX, {"kind": "cpa", "rate": "200", "tier_shares": "100", "cpa_min_deposit": "500",
                                   "cpa_min_lots": "5", "cpa_days": "30"}],
        reason="a plan for gold partners",
    )  # fmt: skip
    plan_row = CommissionPlan.objects.get(code="GOLD")
    assert (request.action, request.subject, request.status) == (PLAN_CHANGE, plan_row, ApprovalStatus.PENDING)
    assert request.required_roles == [Role.FINANCE.value]
    assert not PlanVersion.objects.filter(plan=plan_row).exists()  # nothing pays before the approval

    _approve(request)

    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED
    version = PlanVersion.objects.get(plan=plan_row)
    assert (version.number, version.valid_from, version.valid_to, version.approval_id) == (1, TODAY(), None, request.pk)
    rules = {r.kind: r for r in version.rules.all()}
    assert rules["per_lot"].tier_shares == [Decimal("50"), Decimal("30"), Decimal("20")]
    assert (rules["per_lot"].rate, rules["per_lot"].client_rebate_pct) == (Decimal("10"), Decimal("10"))
    assert (rules["cpa"].cpa_min_deposit, rules["cpa"].cpa_days) == (Decimal("500"), 30)
    assert AuditEvent.objects.filter(action=AuditAction.PLAN_CREATED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.PLAN_VERSION_ADDED).count() == 1


def test_good_a_new_version_ends_the_one_in_force_and_takes_the_next_number() -> None:
    v1 = plan()
    start = TODAY() + timedelta(days=10)
    _approve(_propose_version(v1, valid_from=start))

    v1.refresh_from_db()
    v2 = PlanVersion.objects.get(plan=v1.plan, number=2)
    assert v1.valid_to == start  # the old version pays every day before the new one, and none after
    assert (v2.valid_from, v2.valid_to, v2.note) == (start, None, "richer FX")
    assert [r.rate for r in v2.rules.all()] == [Decimal("10")]
    assert [r.rate for r in v1.rules.all()] == [Decimal("8")]  # what v1 paid is untouched
    ended = AuditEvent.objects.get(action=AuditAction.PLAN_VERSION_ENDED)
    assert (ended.before["valid_to"], ended.after["valid_to"]) == (None, start.isoformat())


def test_good_a_version_from_today_ends_the_old_one_today() -> None:
    v1 = plan()
    _approve(_propose_version(v1, valid_from=TODAY()))
    v1.refresh_from_db()
    assert v1.valid_to == TODAY()
    assert PlanVersion.objects.get(plan=v1.plan, number=2).valid_from == TODAY()


BAD_RULES = [
    ({"tier_shares": ["50", "30", "10"]}, "rules.0.tier_shares", errors.SHARES_SUM.format(total="90")),
    ({"tier_shares": ["50", "30", "20.0001"]}, "rules.0.tier_shares", errors.SHARES_SUM.format(total="100.0001")),
    ({"tier_shares": ["120", "-20"]}, "rules.0.tier_shares", errors.SHARE_NEGATIVE.format(value="-20")),
    ({"tier_shares": []}, "rules.0.tier_shares", errors.SHARES_REQUIRED),
    ({"rate": "-1"}, "rules.0.rate", errors.RATE_NEGATIVE),
    ({"rate": "ten"}, "rules.0.rate", errors.NOT_A_NUMBER.format(value="ten")),
    ({"client_rebate_pct": "101"}, "rules.0.client_rebate_pct", errors.REBATE_RANGE),
    ({"cap_per_trade": "0"}, "rules.0.cap_per_trade", errors.CAP_NEGATIVE),
    ({"cap_per_day": "-5"}, "rules.0.cap_per_day", errors.CAP_NEGATIVE),
    ({"symbol_group": ""}, "rules.0.symbol_group", errors.DEAL_RULE_GROUP),
    ({"symbol_group": "crypto"}, "rules.0.symbol_group", errors.UNKNOWN_GROUP.format(value="crypto")),
    ({"kind": "bonus"}, "rules.0.kind", errors.UNKNOWN_RULE_KIND.format(value="bonus")),
    ({"cpa_days": "30"}, "rules.0.cpa_days", "Only a CPA rule has a qualifying deposit, lots and days."),
    ({"kind": "cpa", "symbol_group": "", "cpa_min_lots": "5", "cpa_days": "30"}, "rules.0.cpa_min_deposit",
     errors.CPA_FIELD_REQUIRED),
    ({"kind": "cpa", "symbol_group": "", "cpa_min_deposit": "500", "cpa_min_lots": "5"}, "rules.0.cpa_days",
     errors.CPA_FIELD_REQUIRED),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "message"), BAD_RULES, ids=[f"{b[1]}:{b[0]}" for b in BAD_RULES])
def test_bad_rule_is_refused_naming_its_field_and_nothing_is_asked(
    change: dict[str, Any], field: str, message: str
) -> None:
    v1 = plan()
    with pytest.raises(PlanError) as refused:
        _propose_version(v1, rules=[{**FX, **change}])
    assert refused.value.problems == {field: message}
    assert not ApprovalRequest.objects.exists()
    assert PlanVersion.objects.count() == 1


def test_bad_two_deal_rules_for_one_group_and_two_cpa_rules() -> None:
    v1 = plan()
    cpa = {"kind": "cpa", "rate": "100", "tier_shares": ["100"], "cpa_min_deposit": "100", "cpa_min_lots": "1",
           "cpa_days": "30"}  # fmt: skip
    with pytest.raises(PlanError) as refused:
        _propose_version(v1, rules=[FX, {**FX, "rate": "5"}, cpa, cpa])
    assert refused.value.problems == {
        "rules.1.symbol_group": errors.ONE_RULE_PER_GROUP.format(group="FX majors"),
        "rules.3.kind": errors.ONE_RULE_OF_KIND.format(kind=RuleKind.CPA.label),
    }


def test_bad_a_version_in_the_past_or_without_rules() -> None:
    v1 = plan()
    yesterday = TODAY() - timedelta(days=1)
    with pytest.raises(PlanError) as refused:
        _propose_version(v1, valid_from=yesterday)
    assert refused.value.problems == {"valid_from": errors.VERSION_IN_PAST.format(date=yesterday.isoformat())}
    with pytest.raises(PlanError) as refused:
        plan_version_propose(actor=_support(), plan=v1.plan, valid_from=TODAY(), note="", rules=[], reason="x")
    assert refused.value.problems == {"rules": errors.RULES_REQUIRED}
    assert not ApprovalRequest.objects.exists()


def test_bad_a_new_plan_with_a_taken_code_or_unknown_currency_leaves_nothing() -> None:
    plan("STD")
    with pytest.raises(PlanError) as refused:
        plan_propose(actor=_support(), code="std", name="", currency="XYZ", hold_days=7, valid_from=TODAY(),
                     note="", rules=[FX], reason="again")  # fmt: skip
    assert refused.value.problems == {
        "code": errors.PLAN_CODE_TAKEN.format(code="STD", plan="Plan STD"),
        "name": errors.PLAN_NAME_REQUIRED,
        "currency": errors.PLAN_CURRENCY.format(currency="XYZ"),
    }
    assert CommissionPlan.objects.count() == 1
    assert not ApprovalRequest.objects.exists()


def test_bad_a_version_that_would_overlap_a_later_one_is_refused_on_valid_from() -> None:
    v1 = plan()
    later = TODAY() + timedelta(days=20)
    _approve(_propose_version(v1, valid_from=later))
    with pytest.raises(PlanError) as refused:
        _propose_version(v1, valid_from=TODAY() + timedelta(days=5))
    assert refused.value.problems == {"valid_from": errors.VERSION_NOT_AFTER.format(number=2, date=later.isoformat())}
    with pytest.raises(PlanError) as refused:  # the same day as the latest one
        _propose_version(v1, valid_from=later)
    assert set(refused.value.problems) == {"valid_from"}


def test_bad_overlap_that_appears_after_the_request_fails_the_approval_and_changes_nothing() -> None:
    v1 = plan()
    request = _propose_version(v1, valid_from=TODAY() + timedelta(days=10))
    v1.valid_to = TODAY() + timedelta(days=15)  # meanwhile a version from day 15 (made directly, as a backstop test)
    v1.save()
    PlanVersion.objects.create(plan=v1.plan, number=2, valid_from=TODAY() + timedelta(days=15))

    _approve(request)

    request.refresh_from_db()
    assert request.status == ApprovalStatus.FAILED
    assert "valid_from" in request.failure_reason
    assert PlanVersion.objects.filter(plan=v1.plan).count() == 2
    v1.refresh_from_db()
    assert v1.valid_to == TODAY() + timedelta(days=15)


def test_bad_the_database_refuses_overlapping_versions() -> None:
    v1 = plan()  # open-ended from a year ago
    with pytest.raises(IntegrityError, match="plan_versions_do_not_overlap"), transaction.atomic():
        PlanVersion.objects.create(plan=v1.plan, number=2, valid_from=TODAY())


def test_bad_checker_cannot_be_maker() -> None:
    both = staff(Role.SUPPORT, username="both")
    both.groups.add(*staff(Role.FINANCE).groups.all())
    request = _propose_version(plan(), maker=both)
    with pytest.raises(OpsError, match=re.escape(ops_errors.CHECKER_IS_MAKER)):
        _approve(request, checker=both)
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert PlanVersion.objects.count() == 1


def test_bad_one_pending_change_per_plan() -> None:
    v1 = plan()
    first = _propose_version(v1)
    with pytest.raises(PlanError, match=f"#{first.pk}"):
        _propose_version(v1, valid_from=TODAY() + timedelta(days=30))


def test_bad_finance_and_the_auditor_do_not_propose() -> None:
    v1 = plan()
    for role in (Role.FINANCE, Role.AUDITOR):
        with pytest.raises(PlanError, match=re.escape(errors.NOT_ALLOWED_PLANS)):
            _propose_version(v1, maker=staff(role))


# --- what the checker sees -----------------------------------------------------------------------


def _in_last_month(day: int, hour: int = 12) -> datetime:
    start, _ = last_full_month()
    return timezone.make_aware(datetime(start.year, start.month, day, hour))


@pytest.fixture
def paid_last_month() -> dict[str, Any]:
    """A → B → C; C follows plan STD (8.00 per lot on FX majors, 50/30/20); C's client traded 1 and
    2 lots of EURUSD and 1 lot of XAUUSD (no rule: earns nothing) last month; the run wrote the lines."""
    a, b, c = tree("AAA", "BBB", "CCC")
    v1 = plan(valid_from=TODAY() - timedelta(days=400))
    follow(c, v1, valid_from=TODAY() - timedelta(days=400))
    client = approved_client(currency="EUR")
    Attribution.objects.create(client=client, partner=c, source=AttributionSource.REFERRAL,
                               valid_from=timezone.now() - timedelta(days=400))  # fmt: skip
    deal(client, lots="1.00", closed_at=_in_last_month(3))
    deal(client, lots="2.00", closed_at=_in_last_month(20))
    deal(client, symbol="XAUUSD", lots="1.00", closed_at=_in_last_month(21))
    start, end = last_full_month()
    run = CommissionRun.objects.create(period_start=start, period_end=end, started_by="tests")
    assert deal_lines_write(run=run, client_ids=[client.pk]) == 6
    return {"tree": (a, b, c), "version": v1, "client": client}


def test_good_comparison_shows_what_the_new_rules_would_have_paid_per_partner(paid_last_month: dict[str, Any]) -> None:
    a, b, c = paid_last_month["tree"]
    # paid: 3 lots x 8.00 = 24.00 -> C 12.00, B 7.20, A 4.80
    # would: 3 lots x 10.00 = 30.00 -> client 3.00 back; 27.00 -> B 8.10, A 5.40, C 13.50; metals 1 lot x 4.00 -> C
    rules = [FX, {"kind": "per_lot", "symbol_group": "metals", "rate": "4", "tier_shares": ["100"]}]
    comparison = plan_change_comparison(paid_last_month["version"].plan, rules)
    rows = {r["partner"].name: (r["would"], r["did"], r["difference"]) for r in comparison["rows"]}
    assert rows == {
        a.name: (Decimal("5.40"), Decimal("4.80"), Decimal("0.60")),
        b.name: (Decimal("8.10"), Decimal("7.20"), Decimal("0.90")),
        c.name: (Decimal("17.50"), Decimal("12.00"), Decimal("5.50")),
    }
    assert comparison["rebates"] == {"would": Decimal("3.00"), "did": Decimal("0"), "difference": Decimal("3.00")}
    assert comparison["total"] == {"would": Decimal("34.00"), "did": Decimal("24.00"), "difference": Decimal("10.00")}
    assert comparison["deals"] == {"would": 3, "did": 2}
    assert (comparison["start"], comparison["end"]) == last_full_month()


def test_good_the_checker_reads_the_comparison_on_the_approval_page(paid_last_month: dict[str, Any]) -> None:
    request = _propose_version(paid_last_month["version"])
    http = HttpClient()
    sign_in(http, _finance())
    page = http.get(f"/approvals/{request.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    table = html[html.index('data-testid="plan-comparison-table"') :]
    for text in ("Partner AAA", "Partner BBB", "Partner CCC", "13.50 EUR", "12.00 EUR", "+1.50 EUR",
                 "30.00 EUR", "24.00 EUR", "+6.00 EUR"):  # fmt: skip
        assert text in table, text
    assert "10.00 EUR per lot on FX majors, split 50/30/20, 10% back to the client" in html


def test_good_the_comparison_is_computed_when_the_checker_looks(paid_last_month: dict[str, Any]) -> None:
    request = _propose_version(paid_last_month["version"])
    http = HttpClient()
    sign_in(http, _finance())
    before = http.get(f"/approvals/{request.pk}/").content.decode()
    assert "+6.00 EUR" in before
    deal(paid_last_month["client"], lots="1.00", closed_at=_in_last_month(25))  # arrives after the request
    after = http.get(f"/approvals/{request.pk}/").content.decode()
    assert "40.00 EUR" in after  # 4 lots x 10.00 would have paid; the new deal is not paid yet
    assert "+16.00 EUR" in after


# --- rules in words and the plan pages -----------------------------------------------------------


def test_good_rules_in_words() -> None:
    symbol_groups()
    words = rule_in_words(
        {**FX, "rate": "8", "cap_per_trade": "20", "cap_per_day": "100", "min_hold_seconds": 120}, "EUR"
    )
    assert words == (
        "8.00 EUR per lot on FX majors, split 50/30/20, 10% back to the client, capped at 20.00 EUR per trade, "
        "100.00 EUR per client and day, nothing for deals held under 2 min"
    )
    cpa = {"kind": "cpa", "rate": "250", "tier_shares": ["100"], "cpa_min_deposit": "500", "cpa_min_lots": "5",
           "cpa_days": 30}  # fmt: skip
    assert rule_in_words(cpa, "USD") == (
        "250.00 USD once per client who first deposits at least 500.00 USD and trades 5 lots within 30 days of "
        "approval, all to the introducing partner"
    )


def test_good_plan_pages_show_versions_rules_and_followers() -> None:
    v1 = plan()
    (top,) = tree("TOP")
    follow(top, v1)
    _approve(_propose_version(v1, valid_from=TODAY() + timedelta(days=3)))
    http = HttpClient()
    sign_in(http, staff(Role.AUDITOR))
    listing = http.get("/partners/plans/")
    assert listing.status_code == 200
    assert "v1 since" in listing.content.decode() and "v2 from" in listing.content.decode()
    page = http.get(f"/partners/plans/{v1.plan.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "8.00 EUR per lot on FX majors, split 50/30/20" in html
    assert "10.00 EUR per lot on FX majors, split 50/30/20, 10% back to the client" in html
    assert "Partner TOP" in html
    assert "Propose a new version" not in html  # the auditor reads only


def test_good_the_version_form_makes_the_request_and_redirects_to_it() -> None:
    v1 = plan()
    support = _support()
    http = HttpClient()
    sign_in(http, support)
    form = http.get(f"/partners/plans/{v1.plan.pk}/versions/new/")
    assert form.status_code == 200
    assert 'value="50/30/20"' in form.content.decode()  # starts from the latest version's rules
    start = TODAY() + timedelta(days=1)
    data = {
        "valid_from": start.isoformat(), "note": "", "reason": "more for FX",
        "rules-TOTAL_FORMS": "2", "rules-INITIAL_FORMS": "0", "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "20",
        "rules-0-kind": "per_lot", "rules-0-symbol_group": "fx", "rules-0-rate": "9", "rules-0-tier_shares": "60/40",
    }  # fmt: skip
    response = http.post(f"/partners/plans/{v1.plan.pk}/versions/new/", data)
    request = ApprovalRequest.objects.get(action=PLAN_CHANGE)
    assert (response.status_code, response["Location"]) == (302, f"/approvals/{request.pk}/")
    assert request.payload["rules"][0]["tier_shares"] == ["60", "40"]
    assert request.payload["valid_from"] == start.isoformat()


def test_bad_form_errors_name_the_field_of_the_rule() -> None:
    v1 = plan()
    http = HttpClient()
    sign_in(http, _support())
    data = {
        "valid_from": TODAY().isoformat(), "note": "", "reason": "try",
        "rules-TOTAL_FORMS": "3", "rules-INITIAL_FORMS": "0", "rules-MIN_NUM_FORMS": "0", "rules-MAX_NUM_FORMS": "20",
        "rules-1-kind": "per_lot", "rules-1-symbol_group": "fx", "rules-1-rate": "9", "rules-1-tier_shares": "60/30",
    }  # fmt: skip
    response = http.post(f"/partners/plans/{v1.plan.pk}/versions/new/", data)
    assert response.status_code == 400
    rule_form = response.context["formset"].forms[1]
    assert rule_form.errors == {"tier_shares": [errors.SHARES_SUM.format(total="90")]}
    assert not ApprovalRequest.objects.exists()


# --- the plan a partner follows ------------------------------------------------------------------


def test_good_a_partner_changes_plan_from_a_date_and_the_old_period_ends() -> None:
    old = plan("OLD")
    new = plan("NEW")
    (top,) = tree("TOP")
    follow(top, old)
    start = TODAY() + timedelta(days=5)
    request = partner_plan_request(actor=_support(), partner=top, plan=new.plan, valid_from=start, reason="upgrade")
    assert (request.action, request.subject) == (PARTNER_PLAN_ASSIGN, top)
    _approve(request)
    periods = list(PartnerPlan.objects.filter(partner=top).order_by("valid_from"))
    assert [(p.plan.code, p.valid_to) for p in periods] == [("OLD", start), ("NEW", None)]
    assert periods[1].approval_id == request.pk
    assert AuditEvent.objects.filter(action=AuditAction.PARTNER_PLAN_ASSIGNED).count() == 1


@pytest.mark.parametrize("case", ["past", "no_version", "same_plan", "closed"])
def test_bad_plan_assignment(case: str) -> None:
    old = plan("OLD")
    (top,) = tree("TOP")
    follow(top, old)
    target, start = plan("NEW").plan, TODAY()
    expected: dict[str, str]
    if case == "past":
        start = TODAY() - timedelta(days=1)
        expected = {"valid_from": errors.ASSIGN_IN_PAST.format(date=start.isoformat())}
    elif case == "no_version":
        target = CommissionPlan.objects.create(code="EMPTY", name="Empty", currency="EUR")
        expected = {"plan": errors.PLAN_HAS_NO_VERSION.format(plan="Empty", date=start.isoformat())}
    elif case == "same_plan":
        target = old.plan
        expected = {"plan": errors.ALREADY_FOLLOWS.format(partner=top.name, plan=old.plan.name,
                                                          date=(TODAY() - timedelta(days=365)).isoformat())}  # fmt: skip
    else:
        top.close()
        top.save()
        expected = {"partner": errors.PARTNER_NOT_ACTIVE.format(partner=top.name, status="closed")}
        with pytest.raises(PlanError, match=re.escape(expected["partner"])):  # refused already by the can-function
            partner_plan_request(actor=_support(), partner=top, plan=target, valid_from=start, reason="x")
        return
    with pytest.raises(PlanError) as refused:
        partner_plan_request(actor=_support(), partner=top, plan=target, valid_from=start, reason="x")
    assert refused.value.problems == expected
    assert not ApprovalRequest.objects.exists()
    assert Partner.objects.get(pk=top.pk).status == PartnerStatus.ACTIVE


def test_good_partner_page_form_asks_for_the_plan_change() -> None:
    old, new = plan("OLD"), plan("NEW")
    (top,) = tree("TOP")
    follow(top, old)
    http = HttpClient()
    sign_in(http, _support())
    page = http.get(f"/partners/{top.pk}/")
    assert "Follows" in page.content.decode() and "Plan OLD" in page.content.decode()
    bad = http.post(f"/partners/{top.pk}/plan/", {"plan": new.plan.pk, "valid_from": "2000-01-01", "reason": "x"})
    assert bad.status_code == 400
    assert bad.context["plan_form"].errors == {"valid_from": [errors.ASSIGN_IN_PAST.format(date="2000-01-01")]}
    good = http.post(f"/partners/{top.pk}/plan/", {"plan": new.plan.pk, "valid_from": TODAY().isoformat(),
                                                    "reason": "upgrade"})  # fmt: skip
    request = ApprovalRequest.objects.get(action=PARTNER_PLAN_ASSIGN)
    assert (good.status_code, good["Location"]) == (302, f"/approvals/{request.pk}/")
    assert PlanRule.objects.count() == 2  # nothing else written
