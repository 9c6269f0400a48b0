"""The risk pages as people use them: a rule proposed through its form (bad parameters name the
field, nothing stored), the checker's approval page with the backtest, an alert's evidence and its
disposition form, the dashboard's exposure and P&L split by book, exposure limits (zero refused, a
breach raises an alert), and a trading account moved between books through maker-checker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from accounts.models import Book
from audit.models import AuditEvent
from ops.models import ApprovalRequest, WorkItem
from ops.roles import Role
from ops.services.approvals import approval_decide
from risk import errors
from risk.models import AlertStatus, ExposureLimit, Position, RiskAlert, RiskRule
from risk.services import exposure_check, positions_refresh, rule_evaluate
from sim.platform import SimulatedPlatform
from tests.factories import approved_client, staff
from tests.ib.factories import deal
from tests.personas import sign_in
from tests.risk.test_rules import _patterns, _rule_in_force

pytestmark = pytest.mark.django_db


def _as(role: Role, username: str) -> HttpClient:
    return sign_in(HttpClient(), staff(role, username=username))


def _form(**overrides: str) -> dict[str, str]:
    return {
        "code": "QUICK-EXIT", "name": "Quick exit", "kind": "deposit_then_withdrawal",
        "params": '{"min_pct": 80, "within_hours": 24}',
        "valid_from": timezone.now().strftime("%Y-%m-%dT%H:%M"), "valid_to": "", "note": "", "reason": "new pattern",
        **overrides,
    }  # fmt: skip


def test_bad_params_are_a_form_error_naming_the_field_and_nothing_is_stored() -> None:
    http = _as(Role.RISK, "maker")
    response = http.post("/risk/rules/new/", _form(params='{"min_pct": 0, "within_hourz": 3}'))
    assert response.status_code == 400
    errors_shown = response.context["form"].errors["params"]
    assert "min_pct: From 1 to 100." in errors_shown
    assert "within_hourz: Not a parameter of this kind (it takes max_lots, min_pct, within_hours)." in errors_shown
    response = http.post("/risk/rules/new/", _form(params="{oops"))
    assert response.status_code == 400 and "Not JSON" in response.context["form"].errors["params"][0]
    assert not RiskRule.objects.exists() and not ApprovalRequest.objects.exists()


def test_rule_proposed_on_the_form_and_the_checker_sees_the_backtest() -> None:
    _patterns()
    maker = _as(Role.RISK, "maker")
    response = maker.post("/risk/rules/new/", _form())
    request = ApprovalRequest.objects.get(action="risk.rule_change")
    assert response.status_code == 302 and response["Location"] == f"/approvals/{request.pk}/"
    checker = _as(Role.RISK, "checker")
    page = checker.get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-testid="rule-backtest"' in page
    assert "Withdrawal at least this % of the deposit" in page  # the parameters in words
    assert "Exit" in page  # the client whose pattern it would have raised
    response = checker.post(
        f"/approvals/{request.pk}/decide/",
        {"decision": "approve", "reason": "backtest read", "payload_hash": request.payload_hash},
    )
    assert response.status_code == 302
    rule = RiskRule.objects.get(code="QUICK-EXIT")
    detail = checker.get(f"/risk/rules/{rule.pk}/").content.decode()
    assert 'data-testid="rule-version-1"' in detail and "in force" in detail


def test_alert_page_shows_evidence_and_records_the_disposition() -> None:
    _, deposit, withdrawal = _patterns()
    rule = _rule_in_force({})
    alert = rule_evaluate(rule_id=rule.pk)[0]
    http = _as(Role.RISK, "analyst")
    page = http.get(f"/risk/alerts/{alert.pk}/").content.decode()
    assert deposit.reference in page and withdrawal.reference in page and "Record the decision" in page
    response = http.post(f"/risk/alerts/{alert.pk}/", {"disposition": "false_positive", "reason": ""})
    assert response.status_code == 400
    response = http.post(f"/risk/alerts/{alert.pk}/", {"disposition": "false_positive", "reason": "salary advance"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.disposition_reason) == (AlertStatus.FALSE_POSITIVE, "salary advance")
    detail = http.get(f"/risk/rules/{rule.pk}/").content.decode()
    assert 'data-testid="precision-1">0.0%' in detail


def test_dashboard_splits_exposure_by_book_and_filters() -> None:
    a_client = approved_client(first_name="Alpha", last_name="Book", country="DE")
    b_client = approved_client(first_name="Beta", last_name="Book", country="FR")
    a_account = a_client.trading_accounts.get()
    a_account.book = Book.A
    a_account.save()
    SimulatedPlatform.open_position(a_account.login, "EURUSD", Decimal("3.00"))
    SimulatedPlatform.open_position(b_client.trading_accounts.get().login, "EURUSD", Decimal("-1.00"))
    SimulatedPlatform.open_position(b_client.trading_accounts.get().login, "XAUUSD", Decimal("2.00"))
    assert positions_refresh() == 3
    deal(b_client, profit="-120.00", closed_at=timezone.now())
    http = _as(Role.RISK, "desk-risk")
    response = http.get("/risk/")
    data = response.context["data"]
    rows = {r["symbol"]: (r["a"], r["b"], r["net"]) for r in data["by_symbol"]}
    assert rows == {"EURUSD": (Decimal("3.00"), Decimal("-1.00"), Decimal("2.00")),
                    "XAUUSD": (Decimal("0"), Decimal("2.00"), Decimal("2.00"))}  # fmt: skip
    currencies = {r["currency"]: r["net"] for r in data["by_currency"]}
    assert currencies == {"EUR": Decimal("2.00"), "USD": Decimal("-4.00"), "XAU": Decimal("2.00")}
    (total,) = data["pnl"]["totals"]
    assert (total["client_pnl"], total["b_book_pnl"]) == (Decimal("-120.00"), Decimal("120.00"))
    page = response.content.decode()
    assert 'data-testid="exposure-heatmap"' in page and 'class="bar-chart"' in page
    filtered = http.get("/risk/", {"country": "DE"}).context["data"]["by_symbol"]
    assert [(r["symbol"], r["net"]) for r in filtered] == [("EURUSD", Decimal("3.00"))]
    assert http.get("/risk/", {"country": "Germany"}).status_code == 400


def test_exposure_limit_of_zero_is_refused_and_a_breach_raises_an_alert() -> None:
    c = approved_client()
    SimulatedPlatform.open_position(c.trading_accounts.get().login, "GBPUSD", Decimal("6.00"))
    positions_refresh()
    http = _as(Role.RISK, "limits")
    response = http.post("/risk/limits/", {"symbol": "GBPUSD", "max_net_lots": "0", "reason": "stress"})
    assert response.status_code == 400
    assert response.context["form"].errors["max_net_lots"] == [errors.LIMIT_ZERO]
    assert not ExposureLimit.objects.exists()
    response = http.post("/risk/limits/", {"symbol": "gbpusd", "max_net_lots": "5", "reason": "stress"})
    assert response.status_code == 302
    (alert,) = exposure_check()
    assert alert.symbol == "GBPUSD" and "over the limit of 5.00" in alert.summary
    assert WorkItem.objects.filter(queue__code="risk_alert", subject_id=str(alert.pk)).count() == 1
    assert exposure_check() == []  # once per symbol and day
    assert Position.objects.count() == 1 and RiskAlert.objects.count() == 1


def test_moving_an_account_between_books_is_maker_checker() -> None:
    c = approved_client()
    account = c.trading_accounts.get()
    maker = _as(Role.RISK, "router")
    response = maker.post(f"/risk/accounts/{account.pk}/book/", {"book": "b", "leverage": "", "reason": "x"})
    assert response.status_code == 400 and errors.BOOK_UNCHANGED in response.context["form"].errors["book"]
    response = maker.post(f"/risk/accounts/{account.pk}/book/", {"book": "a", "leverage": "10", "reason": "toxic"})
    request = ApprovalRequest.objects.get(action="risk.account_routing")
    assert response["Location"] == f"/approvals/{request.pk}/"
    account.refresh_from_db()
    assert account.book == Book.B  # nothing yet
    approval_decide(request_id=request.pk, checker=staff(Role.RISK, username="r2"), decision="approve", reason="ok")
    account.refresh_from_db()
    assert (account.book, account.leverage) == (Book.A, 10)
    event = AuditEvent.objects.get(action="trading_account.book_changed")
    assert (event.before, event.after["book"]) == ({"book": "b"}, "a")


def test_moving_an_account_to_another_platform_group_is_maker_checker_and_reaches_the_platform(
    django_capture_on_commit_callbacks,
) -> None:
    from accounts.services.trading_accounts import trading_account_push
    from sim.models import SimPlatformAccount

    c = approved_client()
    account = c.trading_accounts.get()
    before = account.platform_group
    maker = _as(Role.RISK, "router")
    response = maker.post(
        f"/risk/accounts/{account.pk}/book/", {"book": "b", "leverage": "", "group": "bad|group", "reason": "stress"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["group"] == [errors.GROUP_INVALID]
    assert not ApprovalRequest.objects.exists()
    response = maker.post(
        f"/risk/accounts/{account.pk}/book/",
        {"book": "a", "leverage": "", "group": "real\\A-book\\standard", "reason": "toxic flow to the LP"},
    )
    request = ApprovalRequest.objects.get(action="risk.account_routing")
    assert response["Location"] == f"/approvals/{request.pk}/"
    page = maker.get(f"/approvals/{request.pk}/")
    assert f"{before} → real\\A-book\\standard" in page.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        approval_decide(request_id=request.pk, checker=staff(Role.RISK, username="r2"), decision="approve", reason="ok")
    assert len(callbacks) == 1  # the push to the platform, once committed
    account.refresh_from_db()
    assert (account.book, account.platform_group) == (Book.A, "real\\A-book\\standard")
    event = AuditEvent.objects.get(action="trading_account.group_changed")
    assert (event.before, event.after) == ({"group": before}, {"group": "real\\A-book\\standard"})
    assert SimPlatformAccount.objects.get(login=account.login).group == before  # not before the push
    trading_account_push(account_id=account.pk)  # what the task runs
    assert SimPlatformAccount.objects.get(login=account.login).group == "real\\A-book\\standard"
