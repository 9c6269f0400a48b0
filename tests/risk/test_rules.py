"""Monitoring rules: parameters checked per kind, versions that never overlap, rules found by set-based
SQL on injected patterns and not on clean activity, alerts with their evidence in the risk alert
queue, dispositions kept to measure each version, and a rule change approved by a second risk
officer who sees the 30-day backtest."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from ops.errors import OpsError
from ops.models import ApprovalStatus, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide
from payments.services.ledger import wallet_for
from payments.services.withdrawals import withdrawal_request
from risk import errors
from risk.errors import RiskError, RuleError
from risk.models import AlertStatus, RiskAlert, RiskRule, RiskRuleVersion, RuleKind
from risk.rules import hits, params_clean, params_parse
from risk.selectors import precision_by_version, rule_backtest
from risk.services import (
    alert_dispose,
    rule_evaluate,
    rule_propose,
    rule_version_propose,
)
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import deal

pytestmark = pytest.mark.django_db

DTW = RuleKind.DEPOSIT_THEN_WITHDRAWAL


def _withdraw(c, amount: str, card: str):
    return withdrawal_request(
        client=c, source=wallet_for(client=c, currency="EUR"), amount=amount, method="card", destination=card,
        destination_name=c.display_name,
    )  # fmt: skip


def _rule_in_force(params: dict, *, kind: str = DTW, code: str = "DTW") -> RiskRule:
    """A rule with its first version approved by a second risk officer (the real path)."""
    maker = staff(Role.RISK, username=f"maker-{code}")
    checker = staff(Role.RISK, username=f"checker-{code}")
    request = rule_propose(
        actor=maker, code=code, name=f"Rule {code}", kind=kind, params=params, valid_from=timezone.now(),
        valid_to=None, note="", reason="new pattern",
    )  # fmt: skip
    approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="backtest fine")
    return RiskRule.objects.get(code=code)


# --- parameters ---------------------------------------------------------------------------------------


def test_bad_params_name_the_parameter() -> None:
    with pytest.raises(RuleError) as caught:
        params_clean(RuleKind.VELOCITY, {"count": "many", "window_hours": 0, "direction": "sideways", "windw": 3})
    assert caught.value.problems == {
        "count": "A number.",
        "window_hours": "From 1 to 720.",
        "direction": "One of deposit, withdrawal.",
        "windw": "Not a parameter of this kind (it takes count, direction, window_hours).",
    }


def test_bad_json_is_refused_with_its_position() -> None:
    with pytest.raises(RuleError) as caught:
        params_parse(DTW, '{"min_pct": 80,')
    assert list(caught.value.problems) == ["params"]
    assert "line 1" in caught.value.problems["params"]


def test_good_params_take_defaults_and_normalise() -> None:
    assert params_clean(DTW, {"min_pct": "90", "max_lots": "0.5"}) == {
        "min_pct": 90, "within_hours": 24, "max_lots": "0.50",
    }  # fmt: skip


def test_bad_rule_proposal_stores_nothing() -> None:
    maker = staff(Role.RISK)
    with pytest.raises(RuleError) as caught:
        rule_propose(
            actor=maker, code="X", name="", kind=DTW, params={"min_pct": 0}, valid_from=timezone.now(),
            valid_to=None, note="", reason="",
        )  # fmt: skip
    assert set(caught.value.problems) == {"code", "name", "reason", "params.min_pct"}
    assert not RiskRule.objects.exists()


def test_bad_only_risk_proposes() -> None:
    with pytest.raises(RuleError, match=errors.NOT_ALLOWED_PROPOSE):
        rule_propose(
            actor=staff(Role.FINANCE), code="DTW", name="x", kind=DTW, params={}, valid_from=timezone.now(),
            valid_to=None, note="", reason="r",
        )  # fmt: skip


# --- versions -----------------------------------------------------------------------------------------


def test_bad_overlapping_version_is_refused() -> None:
    rule = _rule_in_force({})
    later = timezone.now() + timedelta(days=10)
    maker = staff(Role.RISK, username="maker2")
    request = rule_version_propose(
        actor=maker, rule=rule, params={"min_pct": 90}, valid_from=later, valid_to=later + timedelta(days=5),
        note="", reason="tighter",
    )  # fmt: skip
    approval_decide(request_id=request.pk, checker=staff(Role.RISK, username="c2"), decision="approve", reason="ok")
    assert list(rule.versions.values_list("number", flat=True)) == [1, 2]
    # a version from day 12 overlaps version 2 (days 10 to 15)
    with pytest.raises(RuleError) as caught:
        rule_version_propose(
            actor=maker, rule=rule, params={}, valid_from=later + timedelta(days=2), valid_to=None, note="",
            reason="again",
        )  # fmt: skip
    assert "Overlaps version 2" in caught.value.problems["valid_from"]
    assert rule.versions.count() == 2


def test_bad_overlap_refused_by_the_database_too() -> None:
    rule = _rule_in_force({})
    with pytest.raises(IntegrityError, match="risk_rule_versions_do_not_overlap"), transaction.atomic():
        RiskRuleVersion.objects.create(rule=rule, number=9, params={}, valid_from=timezone.now() + timedelta(hours=1))


def test_bad_past_start_is_refused() -> None:
    rule = _rule_in_force({})
    with pytest.raises(RuleError) as caught:
        rule_version_propose(
            actor=staff(Role.RISK), rule=rule, params={}, valid_from=timezone.now() - timedelta(days=1),
            valid_to=None, note="", reason="r",
        )  # fmt: skip
    assert caught.value.problems == {"valid_from": errors.VALID_FROM_PAST}


# --- evaluation ---------------------------------------------------------------------------------------


def _patterns():
    """Three clients: one deposits and withdraws nearly all of it without trading (the pattern);
    one trades in between; one withdraws a small part."""
    bad = approved_client(first_name="Quick", last_name="Exit")
    deposit = card_deposit(bad, "1000.00")
    withdrawal = _withdraw(bad, "950.00", deposit.payer_account)
    trader = approved_client(first_name="Real", last_name="Trader")
    d2 = card_deposit(trader, "1000.00")
    deal(trader, lots="5.00", closed_at=timezone.now())
    _withdraw(trader, "900.00", d2.payer_account)
    small = approved_client(first_name="Small", last_name="Part")
    d3 = card_deposit(small, "1000.00")
    _withdraw(small, "100.00", d3.payer_account)
    return bad, deposit, withdrawal


def test_good_evaluation_finds_the_injected_pattern_and_not_clean_activity() -> None:
    bad, deposit, withdrawal = _patterns()
    rule = _rule_in_force({"min_pct": 80, "within_hours": 24, "max_lots": "0.10"})
    raised = rule_evaluate(rule_id=rule.pk)
    assert [(a.client_id, a.key) for a in raised] == [(bad.pk, f"withdrawal:{withdrawal.pk}")]
    alert = raised[0]
    rows = {row["table"]: row for row in alert.evidence}
    assert (rows["deposit"]["id"], rows["withdrawal"]["id"], rows["deals"]["count"]) == (deposit.pk, withdrawal.pk, 0)
    assert alert.summary.startswith(f"Withdrawal {withdrawal.reference} of 950.00 EUR")
    item = WorkItem.objects.get(queue__code="risk_alert", subject_id=str(alert.pk))
    assert item.title.startswith("Rule DTW: Withdrawal")
    assert AuditEvent.objects.filter(action="risk_alert.raised", subject_id=str(alert.pk)).count() == 1
    # run again: nothing new
    assert rule_evaluate(rule_id=rule.pk) == []
    assert RiskAlert.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        (RuleKind.VELOCITY, {"direction": "deposit", "count": 3, "window_hours": 24}, 1),
        (RuleKind.VELOCITY, {"direction": "deposit", "count": 4, "window_hours": 24}, 0),
        (RuleKind.STRUCTURING, {"direction": "deposit", "threshold": "1000", "band_pct": 10, "min_count": 3}, 1),
        (RuleKind.STRUCTURING, {"direction": "deposit", "threshold": "900", "band_pct": 10, "min_count": 3}, 0),
        (RuleKind.SHORT_HOLD, {"max_seconds": 30, "min_deals": 3, "window_days": 1}, 1),
        (RuleKind.SHORT_HOLD, {"max_seconds": 5, "min_deals": 3, "window_days": 1}, 0),
    ],
)
def test_kinds_fire_on_their_pattern_only(kind: str, params: dict, expected: int) -> None:
    c = approved_client()
    for amount in ("950.00", "960.00", "980.00"):
        card_deposit(c, amount)
    for _ in range(3):
        deal(c, held=timedelta(seconds=10), closed_at=timezone.now())
    clean = approved_client(first_name="Calm", last_name="Client")
    card_deposit(clean, "100.00")
    deal(clean, held=timedelta(hours=2), closed_at=timezone.now())
    now = timezone.now()
    found = hits(kind, params_clean(kind, params), start=now - timedelta(days=1), end=now + timedelta(seconds=1))
    assert [h.client_id for h in found] == [c.pk] * expected


# --- disposition and precision ------------------------------------------------------------------------


def test_disposition_needs_a_reason_and_closes_the_work_item() -> None:
    _patterns()
    rule = _rule_in_force({})
    alert = rule_evaluate(rule_id=rule.pk)[0]
    officer = staff(Role.RISK, username="analyst")
    with pytest.raises(RiskError) as caught:
        alert_dispose(alert_id=alert.pk, actor=officer, disposition="true_match", reason=" ")
    assert caught.value.problems == {"reason": errors.DISPOSITION_REASON_REQUIRED}
    with pytest.raises(RiskError, match=errors.NOT_ALLOWED_DISPOSE):
        alert_dispose(alert_id=alert.pk, actor=staff(Role.SUPPORT), disposition="true_match", reason="x")
    alert_dispose(alert_id=alert.pk, actor=officer, disposition="true_match", reason="card not the client's")
    alert.refresh_from_db()
    assert (alert.status, alert.disposed_by, alert.disposition_reason) == (
        AlertStatus.TRUE_MATCH, officer, "card not the client's",
    )  # fmt: skip
    item = WorkItem.objects.get(queue__code="risk_alert", subject_id=str(alert.pk))
    assert (item.status, item.resolution_code) == ("resolved", "true_match")
    assert AuditEvent.objects.filter(action="risk_alert.disposed", subject_id=str(alert.pk)).count() == 1
    assert alert.rule_version_id is not None
    assert precision_by_version(rule)[alert.rule_version_id].precision == Decimal("100.0")
    with pytest.raises(RiskError, match="already decided"):
        alert_dispose(alert_id=alert.pk, actor=officer, disposition="false_positive", reason="x")


# --- a rule change with its backtest ------------------------------------------------------------------


def test_rule_change_is_approved_by_another_risk_officer_who_sees_the_backtest() -> None:
    _patterns()
    rule = _rule_in_force({"min_pct": 80})
    alert = rule_evaluate(rule_id=rule.pk)[0]
    alert_dispose(alert_id=alert.pk, actor=staff(Role.RISK, username="an"), disposition="true_match", reason="ok")
    maker = staff(Role.RISK, username="proposer")
    # the proposal catches the small withdrawal too (10% of the deposit)
    request = rule_version_propose(
        actor=maker, rule=rule, params={"min_pct": 10}, valid_from=timezone.now(), valid_to=None, note="wider",
        reason="catch partial exits",
    )  # fmt: skip
    backtest = rule_backtest(rule, params_clean(DTW, request.payload["params"]))
    assert (backtest.proposed_count, backtest.current_count, backtest.both) == (2, 1, 1)
    assert backtest.proposed_precision.true_match == 1 and backtest.missed_true_matches == 0
    assert [r.client.last_name for r in backtest.rows if r.proposed and not r.current and r.client] == ["Part"]
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=maker, decision="approve", reason="mine")
    with pytest.raises(OpsError):
        approval_decide(request_id=request.pk, checker=staff(Role.COMPLIANCE), decision="approve", reason="x")
    done = approval_decide(request_id=request.pk, checker=staff(Role.RISK, username="ck"), decision="approve",
                           reason="backtest read")  # fmt: skip
    assert done.status == ApprovalStatus.EXECUTED
    v1, v2 = rule.versions.order_by("number")
    assert v1.valid_to == v2.valid_from and v2.valid_to is None and v2.params["min_pct"] == 10
    assert AuditEvent.objects.filter(action="risk_rule.version_added").count() == 2
