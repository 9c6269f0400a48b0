"""Risk pages: the dashboard (exposure, P&L, heatmap), exposure limits, monitoring rules and their
versions, alerts with their evidence and disposition, a trading account's book. Views parse input,
call one service or selector, and render."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import TradingAccount
from audit.selectors import evidence_pack_can_export
from ops.errors import OpsError
from ops.models import User
from payments.selectors import fx_rate_can_add
from risk import selectors
from risk.errors import RiskError
from risk.forms import (
    DashboardFilterForm,
    DispositionForm,
    ExposureLimitForm,
    FxRateForm,
    RoutingForm,
    RuleForm,
    RuleVersionForm,
)
from risk.models import AlertStatus, RuleKind
from risk.rules import KINDS, params_parse
from risk.sar import sar_can_start
from risk.services import (
    FX_RATE_ADD,
    account_routing_can_change,
    account_routing_propose,
    alert_can_dispose,
    alert_dispose,
    exposure_can_view,
    exposure_limit_can_set,
    exposure_limit_set,
    fx_gap_can_view,
    fx_rate_can_propose,
    fx_rate_propose,
    risk_can_view,
    rule_can_propose,
    rule_can_propose_version,
    rule_propose,
    rule_version_propose,
)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _errors_onto(form: Any, problems: dict[str, str]) -> None:
    """A service's problems onto the form's fields (``params.count`` onto ``params``, naming it)."""
    for key, message in problems.items():
        field, _, param = key.partition(".")
        if field in form.fields:
            form.add_error(field, f"{param}: {message}" if param else message)
        else:
            form.add_error(None, f"{key}: {message}" if key != "__all__" else message)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


# --- dashboard and limits ------------------------------------------------------------------------


def dashboard_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    exposure_can_view(user).require(PermissionDenied)
    choices = selectors.filter_choices()
    form = DashboardFilterForm(request.GET or None, groups=choices["groups"], partners=choices["partners"])
    filters = selectors.Filters()
    if request.GET and form.is_valid():
        data = form.cleaned_data
        filters = selectors.Filters(group=data["group"] or "", partner=data["partner"], country=data["country"])
        reporting = data["currency"] or ""
    elif request.GET:
        return render(request, "risk/dashboard.html", {"form": form, "data": None}, status=400)
    else:
        reporting = ""
    return render(
        request, "risk/dashboard.html", {"form": form, "data": selectors.dashboard(filters, reporting=reporting)}
    )


def limits_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    exposure_can_view(user).require(PermissionDenied)
    can_set = exposure_limit_can_set(user)
    form = ExposureLimitForm(request.POST or None)
    if request.method == "POST":
        can_set.require(PermissionDenied)
        if form.is_valid():
            data = form.cleaned_data
            try:
                limit = exposure_limit_set(
                    actor=user, symbol=data["symbol"], max_net_lots=data["max_net_lots"],
                    max_net_notional=data["max_net_notional"], notional_currency=data["notional_currency"],
                    reason=data["reason"],
                )  # fmt: skip
            except RiskError as exc:
                _errors_onto(form, exc.problems)
            else:
                messages.success(request, f"Limit set: {limit}.")
                return redirect("risk-limits")
        status = 400
    else:
        status = 200
    return render(
        request,
        "risk/limits.html",
        {"form": form, "limits": selectors.limit_list(), "can_set": can_set},
        status=status,
    )


# --- rules ---------------------------------------------------------------------------------------


def rule_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    risk_can_view(user).require(PermissionDenied)
    return render(
        request, "risk/rule_list.html", {"rules": selectors.rule_list(), "can_propose": rule_can_propose(user)}
    )


def rule_view(request: HttpRequest, pk: int) -> HttpResponse:
    from ops.selectors import approval_pending
    from risk.services import RULE_CHANGE

    user = _user(request)
    rule = selectors.rule_get_for(user, pk)
    return render(
        request,
        "risk/rule_detail.html",
        {
            "rule": rule,
            "versions": selectors.rule_versions(rule),
            "pending": approval_pending(RULE_CHANGE, rule),
            "can_propose": rule_can_propose_version(user, rule),
            "can_run": rule_can_propose(user),
            "alerts": rule.alerts.select_related("client")[:20],
            "fx_gaps": selectors.fx_gaps_of(rule),
        },
    )


def _kinds() -> list[dict[str, Any]]:
    return [
        {"label": RuleKind(k).label, "params": [(p.name, p.label, p.default) for p in spec.params]}
        for k, spec in KINDS.items()
    ]


def rule_new_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rule_can_propose(user).require(PermissionDenied)
    form = RuleForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                params = params_parse(data["kind"], data["params"])
                approval = rule_propose(
                    actor=user, code=data["code"], name=data["name"], kind=data["kind"], params=params,
                    valid_from=_utc(data["valid_from"]), valid_to=_utc(data["valid_to"]),  # type: ignore[arg-type]
                    note=data["note"], reason=data["reason"],
                )  # fmt: skip
            except RiskError as exc:
                _errors_onto(form, {k if k in form.fields or "." in k else f"params.{k}": v
                                    for k, v in exc.problems.items()})  # fmt: skip
            except OpsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Asked for approval #{approval.pk}: another risk officer decides.")
                return redirect("approval", pk=approval.pk)
        return render(request, "risk/rule_form.html", {"form": form, "rule": None, "kinds": _kinds()}, status=400)
    return render(request, "risk/rule_form.html", {"form": form, "rule": None, "kinds": _kinds()})


def rule_version_new_view(request: HttpRequest, pk: int) -> HttpResponse:
    from risk.services import version_in_force

    user = _user(request)
    rule = selectors.rule_get_for(user, pk)
    rule_can_propose_version(user, rule).require(PermissionDenied)
    current = version_in_force(rule, timezone.now())
    form = RuleVersionForm(request.POST or None, initial_params=current.params if current else None)
    context = {"form": form, "rule": rule, "kinds": _kinds(), "current": current}
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                params = params_parse(rule.kind, data["params"])
                approval = rule_version_propose(
                    actor=user, rule=rule, params=params, valid_from=_utc(data["valid_from"]),  # type: ignore[arg-type]
                    valid_to=_utc(data["valid_to"]), note=data["note"], reason=data["reason"],
                )  # fmt: skip
            except RiskError as exc:
                _errors_onto(form, {k if k in form.fields or "." in k else f"params.{k}": v
                                    for k, v in exc.problems.items()})  # fmt: skip
            except OpsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Asked for approval #{approval.pk}: another risk officer decides.")
                return redirect("approval", pk=approval.pk)
        return render(request, "risk/rule_form.html", context, status=400)
    return render(request, "risk/rule_form.html", context)


@require_POST
def rule_run_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the rule's version in force over the last day now (on demand), on the worker."""
    from risk.tasks import rule_evaluate_task

    user = _user(request)
    rule = selectors.rule_get_for(user, pk)
    rule_can_propose(user).require(PermissionDenied)
    rule_evaluate_task.delay(rule_id=rule.pk, days=1)
    messages.success(request, f"{rule.name} is running over the last day; new alerts appear below.")
    return redirect("risk-rule", pk=rule.pk)


# --- alerts --------------------------------------------------------------------------------------


def alert_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    risk_can_view(user).require(PermissionDenied)
    status = request.GET.get("status", AlertStatus.OPEN)
    if status not in (*AlertStatus.values, "all"):
        raise Http404
    page = Paginator(selectors.alert_list(status="" if status == "all" else status), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "risk/alert_list.html", {"page": page, "status": status, "statuses": [*AlertStatus.choices]})


def alert_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    alert = selectors.alert_get_for(user, pk)
    can_dispose = alert_can_dispose(user, alert)
    form = DispositionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        can_dispose.require(PermissionDenied)
        if form.is_valid():
            data = form.cleaned_data
            try:
                alert_dispose(alert_id=alert.pk, actor=user, disposition=data["disposition"], reason=data["reason"])
            except RiskError as exc:
                _errors_onto(form, exc.problems)
            else:
                messages.success(request, "Alert decided.")
                return redirect("risk-alert", pk=alert.pk)
        status = 400
    return render(request, "risk/alert_detail.html", {"alert": alert, "form": form, "can_dispose": can_dispose,
                                                       "evidence": selectors.evidence_rows(alert),
                                                       "sars": alert.sars.all(),
                                                       "can_start_sar": sar_can_start(user, alert),
                                                       "can_export_evidence": evidence_pack_can_export(user)},
                  status=status)  # fmt: skip


# --- missing FX rates ----------------------------------------------------------------------------


def fx_gap_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    fx_gap_can_view(user).require(PermissionDenied)
    return render(
        request,
        "risk/fx_gaps.html",
        {"gaps": selectors.fx_gap_list(), "can_add_rate": fx_rate_can_add(user)},
    )


def fx_gap_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A gap, its work item, and (finance and risk) the form proposing its rate for approval."""
    from ops.selectors import approval_pending

    user = _user(request)
    gap = selectors.fx_gap_get_for(user, pk)
    can_propose = fx_rate_can_propose(user, gap)
    pending = approval_pending(FX_RATE_ADD, gap)
    form = FxRateForm(request.POST or None, initial={"as_of": datetime.combine(gap.day, datetime.min.time())})
    status = 200
    if request.method == "POST":
        can_propose.require(PermissionDenied)
        if form.is_valid():
            data = form.cleaned_data
            as_of = _utc(data["as_of"])
            assert as_of is not None  # a required field
            try:
                approval = fx_rate_propose(
                    actor=user, gap_id=gap.pk, rate=data["rate"], as_of=as_of, reason=data["reason"]
                )
            except RiskError as exc:
                _errors_onto(form, exc.problems)
            except OpsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
                return redirect("approval", pk=approval.pk)
        status = 400
    (row,) = selectors.fx_gaps_with_items([gap])
    return render(
        request,
        "risk/fx_gap.html",
        {"row": row, "gap": gap, "rules": gap.rules.order_by("code"), "form": form, "pending": pending,
         "can_propose": can_propose, "can_add_rate": fx_rate_can_add(user)},
        status=status,
    )  # fmt: skip


# --- books ---------------------------------------------------------------------------------------


def account_routing_view(request: HttpRequest, pk: int) -> HttpResponse:
    from accounts.selectors import client_get_for

    user = _user(request)
    account = TradingAccount.objects.select_related("client", "account_type").filter(pk=pk).first()
    if account is None:
        raise Http404
    client_get_for(user, account.client_id, for_write=True)  # 404 outside the actor's scope
    account_routing_can_change(user, account).require(PermissionDenied)
    form = RoutingForm(request.POST or None, initial={"book": account.book})
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                approval = account_routing_propose(
                    actor=user,
                    account=account,
                    book=data["book"],
                    leverage=data["leverage"],
                    group=data["group"],
                    reason=data["reason"],
                )
            except RiskError as exc:
                _errors_onto(form, exc.problems)
            except OpsError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Asked for approval #{approval.pk}: another risk officer decides.")
                return redirect("approval", pk=approval.pk)
        return render(request, "risk/routing.html", {"form": form, "account": account}, status=400)
    return render(request, "risk/routing.html", {"form": form, "account": account})
