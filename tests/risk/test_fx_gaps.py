"""A missing FX rate never silently switches a rule off: when a rule's run meets amounts in a
currency with no rate into the rule's currency at their moment, one work item per pair and day
lands in the "Missing FX rate" queue for finance and risk (opened once, however often the rules
run and however many rules meet it), the rule's page and the backtest say which amounts were not
compared, and once the rate is in the rule fires on them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client as HttpClient
from django.utils import timezone

from audit.models import AuditEvent
from ops.models import ApprovalRequest, WorkItem
from ops.roles import Role
from payments.models import FxRate
from risk.models import FxRateGap, RuleKind
from risk.rules import params_clean
from risk.selectors import rule_backtest
from risk.services import rule_evaluate, rule_version_propose
from tests.factories import approved_client, card_deposit, staff
from tests.personas import sign_in
from tests.risk.test_rules import _rule_in_force

pytestmark = pytest.mark.django_db

STRUCTURING_GBP = {"direction": "deposit", "threshold": "1000", "band_pct": 10, "min_count": 3, "currency": "GBP"}


def _as(role: Role, username: str) -> HttpClient:
    return sign_in(HttpClient(), staff(role, username=username))


def _structured_in_eur() -> list:
    """Three EUR deposits just under 1,000 (in GBP they would be just under too, at 1.00)."""
    c = approved_client(first_name="Split", last_name="Payer")
    return [card_deposit(c, amount) for amount in ("950.00", "960.00", "980.00")]


def test_good_a_rule_meeting_amounts_without_a_rate_opens_one_work_item_per_pair_and_day() -> None:
    deposits = _structured_in_eur()
    (day,) = {d.created_at.astimezone(UTC).date() for d in deposits}
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    assert rule_evaluate(rule_id=rule.pk) == []  # nothing comparable: no alert, but not silent
    gap = FxRateGap.objects.get()
    assert (gap.base, gap.quote, gap.day, gap.transactions, gap.for_exposure) == ("EUR", "GBP", day, 3, False)
    assert gap.examples == [d.reference for d in deposits]
    assert list(gap.rules.all()) == [rule]
    item = WorkItem.objects.get(queue__code="fx_rate_missing")
    assert item.title == f"No EUR/GBP rate on {day:%Y-%m-%d}: 3 amount(s) not compared by rule Rule STRUCT-GBP"
    assert (item.details["pair"], item.details["day"], item.details["rule"]) == (
        "EUR/GBP",
        day.isoformat(),
        "STRUCT-GBP",
    )
    assert sorted(item.queue.roles) == ["finance", "risk"]
    assert AuditEvent.objects.filter(action="work_item.opened", subject_id=str(item.pk)).count() == 1
    # again, and another rule meeting the same pair and day: still one gap, one work item
    assert rule_evaluate(rule_id=rule.pk) == []
    dormant = _rule_in_force(
        {"dormant_days": 7, "min_amount": "1", "currency": "GBP"}, kind=RuleKind.DORMANT_THEN_LARGE, code="DORMANT"
    )
    rule_evaluate(rule_id=dormant.pk)
    assert FxRateGap.objects.count() == 1 and WorkItem.objects.filter(queue__code="fx_rate_missing").count() == 1
    assert sorted(r.code for r in FxRateGap.objects.get().rules.all()) == ["DORMANT", "STRUCT-GBP"]


def test_bad_a_second_gap_for_the_same_pair_and_day_is_refused_by_the_database() -> None:
    now = timezone.now()
    FxRateGap.objects.create(base="EUR", quote="GBP", day=now.date(), first_needed_at=now)
    with pytest.raises(IntegrityError, match="fx_rate_gap_once_per_day"), transaction.atomic():
        FxRateGap.objects.create(base="EUR", quote="GBP", day=now.date(), first_needed_at=now)


def test_good_amounts_in_the_rules_currency_need_no_rate_and_open_nothing() -> None:
    c = approved_client(currency="GBP", first_name="Pound", last_name="Payer")
    for amount in ("950.00", "960.00", "980.00"):
        card_deposit(c, amount, currency="GBP")
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    (alert,) = rule_evaluate(rule_id=rule.pk)
    assert alert.client_id == c.pk
    assert not FxRateGap.objects.exists() and not WorkItem.objects.filter(queue__code="fx_rate_missing").exists()


def test_good_pages_show_the_gap_and_once_the_rate_is_in_the_rule_fires() -> None:
    deposits = _structured_in_eur()
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    rule_evaluate(rule_id=rule.pk)
    gap = FxRateGap.objects.get()
    item = WorkItem.objects.get(queue__code="fx_rate_missing")
    risk = _as(Role.RISK, "analyst")
    page = risk.get(f"/risk/rules/{rule.pk}/").content.decode()
    assert 'data-testid="rule-fx-gaps"' in page and "EUR → GBP" in page and "still missing" in page
    assert f"/items/{item.pk}/" in page
    finance = _as(Role.FINANCE, "treasurer")
    listed = finance.get("/risk/fx-gaps/")
    assert listed.status_code == 200 and "Rule STRUCT-GBP" in listed.content.decode()
    detail = finance.get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    assert f"No EUR/GBP rate on {gap.day:%Y-%m-%d}" in detail and deposits[0].reference in detail
    assert "Add the EUR/GBP rate" not in detail  # finance proposes the rate for approval (below), not in the admin
    assert 'data-testid="fx-rate-form"' in detail and "Propose the EUR/GBP rate" in detail
    admin_page = _as(Role.ADMIN, "configurer").get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    assert f"/admin/payments/fxrate/add/?base=EUR&amp;quote=GBP&amp;as_of_0={gap.day:%Y-%m-%d}" in admin_page
    assert _as(Role.SUPPORT, "helper").get(f"/risk/fx-gaps/{gap.pk}/").status_code == 404
    # the rate for the day arrives; the rule's next run compares the amounts and fires
    start_of_day = datetime.combine(gap.day, time.min, tzinfo=UTC)
    FxRate.objects.create(base="EUR", quote="GBP", rate=Decimal("1.00"), as_of=start_of_day)
    covered = finance.get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    assert "A rate covering it is in: its work item closes at the next check" in covered
    assert 'data-testid="fx-rate-form"' not in covered
    (alert,) = rule_evaluate(rule_id=rule.pk)
    assert alert.client_id == deposits[0].client_id
    assert FxRateGap.objects.count() == 1


def test_good_the_backtest_says_which_amounts_it_could_not_compare() -> None:
    _structured_in_eur()
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    backtest = rule_backtest(rule, params_clean(RuleKind.STRUCTURING, {**STRUCTURING_GBP, "band_pct": 20}))
    (unconverted,) = backtest.unconverted
    assert (unconverted.currency, unconverted.count) == ("EUR", 3)
    assert not FxRateGap.objects.exists()  # reading the backtest opens nothing
    request = rule_version_propose(
        actor=staff(Role.RISK, username="proposer"), rule=rule, params={**STRUCTURING_GBP, "band_pct": 20},
        valid_from=timezone.now(), valid_to=None, note="", reason="wider band",
    )  # fmt: skip
    page = _as(Role.RISK, "checker").get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-testid="backtest-unconverted"' in page and f"3 in EUR on {unconverted.day:%Y-%m-%d}" in page
    assert ApprovalRequest.objects.count() == 2


def test_good_a_version_from_before_the_currency_parameter_names_its_default_currency_in_the_gap() -> None:
    from risk.models import RiskRule, RiskRuleVersion

    c = approved_client(currency="GBP", first_name="Old", last_name="Version")
    for amount in ("950.00", "960.00", "980.00"):
        card_deposit(c, amount, currency="GBP")
    rule = RiskRule.objects.create(code="OLD-STRUCT", name="Old structuring", kind=RuleKind.STRUCTURING)
    old = {"direction": "deposit", "threshold": "1000.00", "band_pct": 10, "min_count": 3, "window_days": 7}
    RiskRuleVersion.objects.create(rule=rule, number=1, params=old, valid_from=timezone.now() - timedelta(days=1))
    assert rule_evaluate(rule_id=rule.pk) == []
    gap = FxRateGap.objects.get()
    assert (gap.base, gap.quote) == ("GBP", "EUR")  # the kind's default currency, as the statement ran


def _gap_in_eur() -> tuple[FxRateGap, Any]:
    _structured_in_eur()
    rule = _rule_in_force(STRUCTURING_GBP, kind=RuleKind.STRUCTURING, code="STRUCT-GBP")
    rule_evaluate(rule_id=rule.pk)
    return FxRateGap.objects.get(), rule


def _propose(http: HttpClient, gap: FxRateGap, **fields: str) -> Any:
    data = {"rate": "0.999", "as_of": f"{gap.day:%Y-%m-%d}T00:00", "reason": "ECB reference rate of the day"} | fields
    return http.post(f"/risk/fx-gaps/{gap.pk}/", data)


def test_good_a_risk_officer_proposes_the_missing_rate_a_finance_officer_approves_and_the_gap_closes(
    django_capture_on_commit_callbacks: Any,
) -> None:
    gap, rule = _gap_in_eur()
    item = WorkItem.objects.get(queue__code="fx_rate_missing")
    risk = _as(Role.RISK, "analyst")
    response = _propose(risk, gap)
    request = ApprovalRequest.objects.get(action="risk.fx_rate_add")
    assert response.status_code == 302 and response["Location"] == f"/approvals/{request.pk}/"
    assert request.required_roles == ["finance"] and request.payload["rate"] == "0.999"
    assert not FxRate.objects.exists()  # nothing before a second person approves
    page = risk.get(f"/risk/fx-gaps/{gap.pk}/").content.decode()
    assert 'data-testid="fx-rate-pending"' in page and 'data-testid="fx-rate-form"' not in page
    assert _propose(risk, gap).status_code == 400  # a second request while one waits is refused
    assert ApprovalRequest.objects.filter(action="risk.fx_rate_add").count() == 1
    # the checker sees the pair's known rates around the proposal (here the next one, after the gap)
    FxRate.objects.create(base="EUR", quote="GBP", rate=Decimal("0.99"), as_of=gap.first_needed_at + timedelta(hours=1))
    finance = _as(Role.FINANCE, "treasurer")
    approval_page = finance.get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-testid="fx-rate-panel"' in approval_page and ">+0.91%<" in approval_page
    assert "1 EUR = 0.999 GBP" in approval_page
    with django_capture_on_commit_callbacks() as callbacks:
        decided = finance.post(
            f"/approvals/{request.pk}/decide/",
            {"decision": "approve", "reason": "matches the ECB", "payload_hash": request.payload_hash},
        )
    assert decided.status_code == 302
    added = FxRate.objects.get(rate=Decimal("0.999"))
    assert (added.base, added.quote, added.source) == ("EUR", "GBP", f"approval #{request.pk}")
    assert added.as_of == datetime.combine(gap.day, time.min, tzinfo=UTC)
    item.refresh_from_db()
    assert (item.status, item.resolution_code) == ("resolved", "fixed")
    assert item.resolution_note == f"The EUR/GBP rate 0.999 of {gap.day:%Y-%m-%d} 00:00 UTC is in."
    event = AuditEvent.objects.get(action="payments.fx_rate_added")
    assert event.after["rate"] == "0.999" and event.reason == "ECB reference rate of the day"
    assert len(callbacks) == 1  # the rule that met the gap runs again (a Celery task, after commit)
    (alert,) = rule_evaluate(rule_id=rule.pk)
    assert alert.rule_id == rule.pk


def test_bad_the_proposer_does_not_approve_their_own_rate() -> None:
    gap, _rule = _gap_in_eur()
    finance = _as(Role.FINANCE, "treasurer")
    _propose(finance, gap)
    request = ApprovalRequest.objects.get(action="risk.fx_rate_add")
    refused = finance.post(
        f"/approvals/{request.pk}/decide/",
        {"decision": "approve", "reason": "mine", "payload_hash": request.payload_hash},
    )
    assert refused.status_code == 403 and not FxRate.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"rate": "0"}, "rate", "must be greater than zero"),
        ({"rate": "-1.2"}, "rate", "must be greater than zero"),
        ({"rate": "abc"}, "rate", "is not a number"),
        ({"rate": "0.123456789"}, "rate", "8 after"),
        ({"rate": "12345678901"}, "rate", "10 digits"),
        ({"as_of": "2999-01-01T00:00"}, "as_of", "in the future"),
        ({"as_of": "not a date"}, "as_of", "Enter a valid date/time"),
        ({"reason": ""}, "reason", "This field is required"),
    ],
)
def test_bad_a_proposed_rate_that_does_not_hold_is_a_form_error_and_nothing_is_asked(
    fields: dict[str, str], field: str, message: str
) -> None:
    gap, _rule = _gap_in_eur()
    response = _propose(_as(Role.RISK, "analyst"), gap, **fields)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not ApprovalRequest.objects.filter(action="risk.fx_rate_add").exists() and not FxRate.objects.exists()


def test_bad_a_rate_dated_after_the_gap_was_first_needed_does_not_cover_it() -> None:
    from risk.services import fx_gap_record

    needed = timezone.now() - timedelta(hours=2)
    gap = fx_gap_record(base="EUR", quote="GBP", day=needed.date(), first_at=needed, count=1, examples=["D-1"])
    later = gap.first_needed_at + timedelta(minutes=5)
    response = _propose(_as(Role.RISK, "analyst"), gap, as_of=f"{later:%Y-%m-%dT%H:%M}")
    assert response.status_code == 400
    assert "at or before" in " ".join(response.context["form"].errors["as_of"])
    assert not ApprovalRequest.objects.exists()


def test_good_a_rate_added_in_the_admin_closes_its_gaps_at_the_next_check() -> None:
    from risk.tasks import fx_gaps_close_task

    gap, _rule = _gap_in_eur()
    item = WorkItem.objects.get(queue__code="fx_rate_missing")
    assert fx_gaps_close_task() == 0  # nothing covers it yet
    # the inverse pair covers it as well
    FxRate.objects.create(base="GBP", quote="EUR", rate=Decimal("1.17"), as_of=gap.first_needed_at - timedelta(hours=1))
    assert fx_gaps_close_task() == 1
    item.refresh_from_db()
    assert item.status == "resolved" and item.resolution_code == "fixed"
    assert fx_gaps_close_task() == 0  # closed once
