"""The maker-checker actions of risk, registered with the one approval engine (``ops/approvals.py``).
A risk officer asks, another risk officer approves:

- ``risk.rule_change``: a new monitoring rule's first version, or a new version of a rule
  (subject: the rule). The checker sees, beside the parameters, the proposed version replayed over
  the last 30 days of real activity next to the version in force, and each one's precision on the
  alerts already decided (the ``panel``, computed when the page is shown).
- ``risk.account_routing``: a trading account moved to the other book and/or its leverage
  tightened (subject: the trading account).
- ``risk.sar_file``: a suspicious activity report approved for filing by a second compliance
  officer, on the sha256 of its content (subject: the report; the panel shows the draft).
- ``risk.fx_rate_add``: a missing FX rate proposed by a finance or risk officer from its gap, approved
  by a finance officer (subject: the gap; the panel shows the pair's known rates around it). On
  approval the rate is in (``payments.services.fx.fx_rate_add``) and every gap it covers closes.

Each payload is checked when the request is made and again when it is approved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models

from accounts.models import Book, TradingAccount
from ops.approvals import ApprovalAction, Payload, register
from ops.roles import Role
from risk import errors
from risk.errors import RiskError, RuleError
from risk.models import FxRateGap, RiskRule, SuspiciousActivityReport
from risk.rules import kind_spec, params_clean
from risk.services import (
    ACCOUNT_ROUTING,
    FX_RATE_ADD,
    RULE_CHANGE,
    fx_gap_covered,
    fx_gaps_close_covered,
    fx_rate_check,
    routing_check,
    rule_version_check,
)


def _rule(subject: models.Model) -> RiskRule:
    assert isinstance(subject, RiskRule)
    return RiskRule.objects.get(pk=subject.pk)


def _validate_rule_change(subject: models.Model, payload: Payload) -> None:
    rule = _rule(subject)
    facts = payload.get("rule") or {}
    if facts.get("code") != rule.code or facts.get("kind") != rule.kind:
        raise RuleError({"rule": "The request names another rule than its subject."})
    rule_version_check(rule, {**payload, "approved_at": "yes"})


def _execute_rule_change(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from risk.services import rule_version_add

    version = rule_version_add(rule_id=subject.pk, payload=payload, request=request)
    return {"rule": version.rule.name, "version": version.number, "from": version.valid_from.isoformat()}


def params_in_words(kind: str, params: dict[str, Any]) -> dict[str, str]:
    spec = kind_spec(kind)
    return {p.label: str(params.get(p.name, "")) for p in spec.params}


def _show_rule_change(payload: Payload) -> dict[str, str]:
    from risk.models import RuleKind

    facts = payload.get("rule") or {}
    kind = str(facts.get("kind", ""))
    shown = {
        "Rule": f"{facts.get('name', '')} ({facts.get('code', '')})"
        + (" — a new rule" if payload.get("new_rule") else ""),
        "Kind": RuleKind(kind).label if kind in RuleKind.values else kind,
        "In force from": str(payload.get("valid_from", "")).replace("T", " ")[:16] + " UTC",
        "Until": str(payload["valid_to"]).replace("T", " ")[:16] + " UTC" if payload.get("valid_to") else "open-ended",
    }
    try:
        shown.update(params_in_words(kind, payload.get("params") or {}))
    except RuleError:
        shown["Parameters"] = str(payload.get("params"))
    if payload.get("note"):
        shown["Note"] = str(payload["note"])
    return shown


def _describe_rule_change(subject: models.Model, payload: Payload) -> str:
    facts = payload.get("rule") or {}
    if payload.get("new_rule"):
        return f"New monitoring rule {facts.get('name', subject)}"
    return f"New version of monitoring rule {facts.get('name', subject)}"


def _backtest_panel(request: Any) -> tuple[str, dict[str, Any]]:
    from risk.selectors import rule_backtest

    rule = request.subject
    if not isinstance(rule, RiskRule):
        return "risk/_backtest.html", {"backtest": None}
    try:
        params = params_clean(rule.kind, request.payload.get("params"))
    except RuleError as exc:
        return "risk/_backtest.html", {"backtest": None, "problem": str(exc)}
    return "risk/_backtest.html", {"backtest": rule_backtest(rule, params)}


register(
    ApprovalAction(
        key=RULE_CHANGE,
        label="Change a monitoring rule (new rule or new version)",
        subject_model=RiskRule,
        maker_permission="ops.work_as_risk",
        policy=lambda subject, payload: [Role.RISK],
        validate=_validate_rule_change,
        execute=_execute_rule_change,
        describe=_describe_rule_change,
        show=_show_rule_change,
        panel=_backtest_panel,
    )
)


# --- risk.account_routing ------------------------------------------------------------------------


def _account(subject: models.Model) -> TradingAccount:
    assert isinstance(subject, TradingAccount)
    return TradingAccount.objects.select_related("account_type", "client").get(pk=subject.pk)


def _validate_routing(subject: models.Model, payload: Payload) -> None:
    account = _account(subject)
    if (
        payload.get("from_book") != account.book
        or payload.get("from_leverage") != account.leverage
        or payload.get("from_group", account.platform_group) != account.platform_group
    ):
        raise RiskError({"book": f"Account {account} has changed since the request: ask again."})
    problems = routing_check(account, payload)
    if problems:
        raise RiskError(problems)


def _execute_routing(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from risk.services import account_routing_apply

    account = account_routing_apply(account_id=subject.pk, payload=payload, request=request)
    return {"account": str(account), "book": account.get_book_display(), "leverage": account.leverage,
            "group": account.platform_group, "book_pushed_to_platform": False}  # fmt: skip


def _show_routing(payload: Payload) -> dict[str, str]:
    labels = dict(Book.choices)
    shown = {
        "Book": f"{labels.get(str(payload.get('from_book')), '?')} → {labels.get(str(payload.get('book')), '?')}",
        "Leverage": (
            f"1:{payload.get('from_leverage')} → 1:{payload['leverage']}"
            if payload.get("leverage") is not None
            else f"unchanged (1:{payload.get('from_leverage')})"
        ),
        "Platform group": (
            f"{payload.get('from_group')} → {payload['group']}"
            if payload.get("group")
            else f"unchanged ({payload.get('from_group') or 'as now'})"
        ),
        "Platform": "The book is recorded in the back office (the platform has no book; it routes by group); a group "
        "or leverage change is pushed to the platform after approval.",
    }
    return shown


register(
    ApprovalAction(
        key=ACCOUNT_ROUTING,
        label="Move a trading account between books or platform groups, or tighten its leverage",
        subject_model=TradingAccount,
        maker_permission="ops.change_leverage",
        policy=lambda subject, payload: [Role.RISK],
        validate=_validate_routing,
        execute=_execute_routing,
        describe=lambda subject, payload: f"Route {subject}: {_show_routing(payload)['Book']}",
        show=_show_routing,
    )
)


# --- risk.sar_file -------------------------------------------------------------------------------


def _sar(subject: models.Model) -> Any:
    from risk.models import SuspiciousActivityReport

    assert isinstance(subject, SuspiciousActivityReport)
    return SuspiciousActivityReport.objects.select_related("created_by", "client").get(pk=subject.pk)


def _validate_sar(subject: models.Model, payload: Payload) -> None:
    from risk.sar import sar_check_pending

    sar_check_pending(_sar(subject), payload)


def _execute_sar(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from risk.sar import sar_approve_apply

    sar = sar_approve_apply(sar_id=subject.pk, payload=payload, request=request)
    return {"report": sar.reference, "content_sha256": sar.content_sha256}


def _close_sar(subject: models.Model, payload: Payload, request: Any) -> None:
    from risk.sar import sar_reopen

    sar_reopen(sar_id=subject.pk, request=request)


def _show_sar(payload: Payload) -> dict[str, str]:
    return {
        "Report": str(payload.get("report", "")),
        "Client": str(payload.get("client", "")),
        "Content (sha256)": str(payload.get("content_sha256", "")),
        "What approval does": "Fixes this content for export to the regulator; the exported file has exactly this "
        "sha256.",
    }


def _sar_panel(request: Any) -> tuple[str, dict[str, Any]]:
    from risk.models import SuspiciousActivityReport
    from risk.sar import included, sar_sha256

    sar = request.subject
    if not isinstance(sar, SuspiciousActivityReport):
        return "risk/_sar_panel.html", {"sar": None}
    return "risk/_sar_panel.html", {
        "sar": sar, "transactions": included(sar.transactions), "current_sha256": sar_sha256(sar),
        "unchanged": sar_sha256(sar) == request.payload.get("content_sha256"),
    }  # fmt: skip


register(
    ApprovalAction(
        key="risk.sar_file",
        label="Approve a suspicious activity report for filing",
        subject_model=SuspiciousActivityReport,
        maker_permission="ops.work_as_compliance",
        policy=lambda subject, payload: [Role.COMPLIANCE],
        validate=_validate_sar,
        execute=_execute_sar,
        describe=lambda subject, payload: (
            f"File suspicious activity report {payload.get('report', subject)} on {payload.get('client', '')}"
        ),
        on_close=_close_sar,
        show=_show_sar,
        panel=_sar_panel,
    )
)


# --- risk.fx_rate_add ----------------------------------------------------------------------------


def _gap(subject: models.Model) -> FxRateGap:
    assert isinstance(subject, FxRateGap)
    return FxRateGap.objects.get(pk=subject.pk)


def _as_of(payload: Payload) -> datetime:
    try:
        return datetime.fromisoformat(str(payload.get("as_of")))
    except ValueError:
        raise RiskError({"as_of": "Not a date and time."}) from None


def _validate_fx_rate(subject: models.Model, payload: Payload) -> None:
    gap = _gap(subject)
    if fx_gap_covered(gap):
        raise RiskError(errors.FX_GAP_COVERED)
    problems = fx_rate_check(
        gap,
        base=str(payload.get("base")),
        quote=str(payload.get("quote")),
        rate=payload.get("rate"),
        as_of=_as_of(payload),
    )
    if problems:
        raise RiskError(problems)


def _execute_fx_rate(subject: models.Model, payload: Payload, request: Any) -> dict[str, Any]:
    from payments.services.fx import fx_rate_add

    rate = fx_rate_add(
        base=payload["base"], quote=payload["quote"], rate=payload["rate"], as_of=_as_of(payload),
        source=f"approval #{request.pk}", reason=request.reason,
    )  # fmt: skip
    closed = fx_gaps_close_covered()
    return {"pair": f"{rate.base}/{rate.quote}", "rate": f"{rate.rate.normalize():f}", "as_of": rate.as_of.isoformat(),
            "gaps_closed": closed}  # fmt: skip


def _show_fx_rate(payload: Payload) -> dict[str, str]:
    from decimal import Decimal

    base, quote, rate = payload.get("base"), payload.get("quote"), Decimal(str(payload.get("rate")))
    return {
        "Pair": f"{base}/{quote}",
        "Rate": f"1 {base} = {rate.normalize():f} {quote} (1 {quote} = {(1 / rate).quantize(Decimal('0.00000001'))} {base})",
        "From": f"{_as_of(payload):%Y-%m-%d %H:%M:%S} UTC",
    }


def _fx_rate_panel(request: Any) -> tuple[str, dict[str, Any]]:
    """The pair's known rates around the proposed one, and how far the proposal is from them (a
    mistyped rate, 1.17 for 0.87, is what the checker is there to catch)."""
    from decimal import Decimal

    from payments.selectors import fx_rate_latest_before, fx_rate_next_after

    payload = request.payload
    base, quote = str(payload.get("base")), str(payload.get("quote"))
    as_of, rate = _as_of(payload), Decimal(str(payload.get("rate")))
    rows = []
    for label, known in (
        ("Before", fx_rate_latest_before(base, quote, as_of)),
        ("After", fx_rate_next_after(base, quote, as_of)),
    ):
        if known is not None:
            change = ((rate / known.rate - 1) * 100).quantize(Decimal("0.01"))
            rows.append({"label": label, "rate": known, "change": f"{change:+}%"})
    return "risk/_fx_rate_panel.html", {"gap": request.subject, "rows": rows, "pair": f"{base}/{quote}"}


register(
    ApprovalAction(
        key=FX_RATE_ADD,
        label="Add a missing FX rate",
        subject_model=FxRateGap,
        maker_permission="ops.propose_fx_rates",
        policy=lambda subject, payload: [Role.FINANCE],
        validate=_validate_fx_rate,
        execute=_execute_fx_rate,
        describe=lambda subject, payload: (
            f"{payload.get('base')}/{payload.get('quote')} at {payload.get('rate')} from {str(payload.get('as_of'))[:16]}"
        ),
        show=_show_fx_rate,
        panel=_fx_rate_panel,
    )
)
