"""Partner pages: the hierarchy, a partner's page, adding a partner, and the client 360's partner
section (who introduced the client, since when, and asking for a change)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Client
from accounts.selectors import client_get_for
from ib.approval_actions import ACTION, attribution_can_request_change, change_pending
from ib.errors import DealFeedError, PartnerError, PlanError
from ib.filters import DealFilter
from ib.forms import (
    AttributionChangeForm,
    CommissionRunForm,
    DealImportForm,
    PartnerForm,
    PartnerMoveForm,
    PartnerPlanForm,
    PeriodForm,
    PlanForm,
    PlanVersionForm,
    RuleFormSet,
)
from ib.models import FeedSource, Partner
from ib.selectors import (
    attribution_at,
    attribution_history,
    commission_run_get,
    commission_runs_list,
    deal_batch_get_for,
    deal_batch_list,
    deal_batch_work_item,
    deal_commission_lines,
    deal_get_for,
    deal_list,
    deals_unearned,
    partner_can_view,
    partner_clients,
    partner_get_for,
    run_figures,
    run_statements,
)
from ib.selectors import partner_list as partners_in_order
from ib.services.feed import deal_batch_process, deal_batch_receive, deal_can_import
from ib.services.partners import partner_can_create, partner_create
from ib.services.runs import commission_can_run, commission_can_view_runs, commission_run_start
from ops.errors import OpsError
from ops.models import User
from ops.services.approvals import approval_submit


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def partner_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_view(user).require(PermissionDenied)
    q = request.GET.get("q", "")[:200].replace("\x00", "")
    return render(
        request,
        "ib/partner_list.html",
        {"partners": partners_in_order(q=q), "q": q, "can_create": partner_can_create(user)},
    )


def partner_new_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_create(user).require(PermissionDenied)
    form = PartnerForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            client = None
            if data["client_reference"]:
                client = Client.objects.filter(reference__iexact=data["client_reference"].strip()).first()
                if client is None:
                    form.add_error("client_reference", f"No client has the reference {data['client_reference']}.")
            if not form.errors:
                try:
                    partner = partner_create(
                        name=data["name"], actor=user, parent_id=data["parent"].pk if data["parent"] else None,
                        code=data["code"], email=data["email"], client=client,
                    )  # fmt: skip
                except ValidationError as exc:
                    for field, problems in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, problems)
                else:
                    messages.success(request, f"Added {partner.name}; referral code {partner.code}.")
                    return redirect(partner)
        return render(request, "ib/partner_form.html", {"form": form}, status=400)
    return render(request, "ib/partner_form.html", {"form": form})


def partner_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    partner = partner_get_for(user, pk)
    return _render_partner(request, user, partner)


def _render_partner(
    request: HttpRequest, user: User, partner: Partner, *, status: int = 200, **forms: Any
) -> HttpResponse:
    below = list(Partner.objects.get_descendants(partner).order_by("path"))
    return render(
        request,
        "ib/partner_detail.html",
        {
            "partner": partner,
            "above": list(Partner.objects.get_ancestors(partner)),
            "below": below,
            "base_depth": partner.depth,
            "clients": list(partner_clients(partner)),
            **_partner_money_context(partner),
            **_partner_plan_context(user, partner, forms),
        },
        status=status,
    )


def _partner_money_context(partner: Partner) -> dict[str, Any]:
    """The partner 360's money: commissions by month (a chart and its figures), payables against
    the ledger, statements and disputes."""
    from ib.selectors_money import partner_commissions_by_month, partner_disputes, partner_statements
    from ib.services.money import partner_payables

    by_month = partner_commissions_by_month(partner)
    currencies = sorted({currency for _, _, currency in by_month})
    return {
        "commission_months": by_month,
        "commission_charts": [
            (currency, [(month, amount) for month, amount, c in by_month if c == currency]) for currency in currencies
        ],
        "payables": partner_payables(partner),
        "statements": list(partner_statements(partner)),
        "disputes": list(partner_disputes(partner)),
    }


def partner_panel(user: User, client: Any, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client 360's partner section."""
    if not partner_can_view(user):
        return "ib/_client_panel.html", {"partner_visible": False}
    return "ib/_client_panel.html", {
        "partner_visible": True,
        "attribution": attribution_at(client),
        "attributions": list(attribution_history(client)),
        "partner_change_pending": change_pending(client),
        "can_change_partner": attribution_can_request_change(user, client),
        "partner_change_form": forms.get("partner_change_form") or AttributionChangeForm(),
    }


@require_POST
def attribution_change_view(request: HttpRequest, client_id: int) -> HttpResponse:
    """Ask for the client to be attributed to another partner (finance approves on /approvals/)."""
    user = _user(request)
    client = client_get_for(user, client_id, for_write=True)
    attribution_can_request_change(user, client).require(PermissionDenied)
    form = AttributionChangeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        payload = {"partner": data["partner"].pk, "effective_from": data["effective_from"].isoformat(),
                   "campaign": data["campaign"].strip()}  # fmt: skip
        try:
            approval = approval_submit(
                action=ACTION, subject=client, payload=payload, maker=user, reason=data["reason"]
            )
        except (PartnerError, OpsError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
            return redirect("client", pk=client.pk)
    problems = [
        " ".join(str(e) for e in v) if k == "__all__" else f"{k}: {' '.join(str(e) for e in v)}"
        for k, v in form.errors.items()
    ]
    messages.error(request, "; ".join(problems))
    return redirect("client", pk=client.pk)


# --- commission plans, the plan a partner follows, moving a partner -------------------------------


def _partner_plan_context(user: User, partner: Partner, forms: dict[str, Any]) -> dict[str, Any]:
    from ib.selectors import partner_plan_history
    from ib.services.partner_changes import (
        PARTNER_MOVE,
        PARTNER_PLAN_ASSIGN,
        partner_can_request_move,
        partner_plan_at,
        partner_plan_can_request,
    )
    from ops.selectors import approval_pending

    return {
        "plan_now": partner_plan_at(partner),
        "plan_history": partner_plan_history(partner),
        "plan_pending": approval_pending(PARTNER_PLAN_ASSIGN, partner),
        "can_assign_plan": partner_plan_can_request(user, partner),
        "plan_form": forms.get("plan_form") or PartnerPlanForm(),
        "move_pending": approval_pending(PARTNER_MOVE, partner),
        "can_move": partner_can_request_move(user, partner),
        "move_form": forms.get("move_form") or PartnerMoveForm(),
    }


def _form_errors(form: Any, problems: dict[str, str]) -> None:
    for field, message in problems.items():
        form.add_error(field if field in form.fields else None, message)


@require_POST
def partner_plan_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for the partner to follow another plan from a date (finance approves)."""
    from ib.services.partner_changes import partner_plan_can_request, partner_plan_request

    user = _user(request)
    partner = partner_get_for(user, pk)
    partner_plan_can_request(user, partner).require(PermissionDenied)
    form = PartnerPlanForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            approval = partner_plan_request(
                actor=user, partner=partner, plan=data["plan"], valid_from=data["valid_from"], reason=data["reason"]
            )
        except PlanError as exc:
            _form_errors(form, exc.problems)
        except (PartnerError, OpsError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
            return redirect("approval", pk=approval.pk)
    return _render_partner(request, user, partner, status=400, plan_form=form)


@require_POST
def partner_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for the partner (and everyone below it) to move under another parent (finance approves)."""
    from ib.services.partner_changes import partner_can_request_move, partner_move_request

    user = _user(request)
    partner = partner_get_for(user, pk)
    partner_can_request_move(user, partner).require(PermissionDenied)
    form = PartnerMoveForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            approval = partner_move_request(actor=user, partner=partner, parent=data["parent"], reason=data["reason"])
        except PlanError as exc:
            _form_errors(form, exc.problems)
        except (PartnerError, OpsError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
            return redirect("approval", pk=approval.pk)
    return _render_partner(request, user, partner, status=400, move_form=form)


def plan_list_view(request: HttpRequest) -> HttpResponse:
    from ib.selectors import plan_list
    from ib.services.plans import plan_can_propose

    user = _user(request)
    partner_can_view(user).require(PermissionDenied)
    return render(request, "ib/plan_list.html", {"plans": plan_list(), "can_propose": plan_can_propose(user)})


def plan_view(request: HttpRequest, pk: int) -> HttpResponse:
    from ib.selectors import plan_followers, plan_get_for, plan_versions
    from ib.services.plans import PLAN_CHANGE, plan_can_propose_version
    from ops.selectors import approval_pending

    user = _user(request)
    plan = plan_get_for(user, pk)
    return render(
        request,
        "ib/plan_detail.html",
        {
            "plan": plan,
            "versions": plan_versions(plan),
            "followers": plan_followers(plan),
            "pending": approval_pending(PLAN_CHANGE, plan),
            "can_propose": plan_can_propose_version(user, plan),
        },
    )


def _rules_from(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The rules filled in (blank rows skipped), and the form index of each."""
    rules, where = [], []
    for i, form in enumerate(formset.forms):
        if any(v not in (None, "") for v in form.cleaned_data.values()):
            rules.append(form.rule())
            where.append(i)
    return rules, where


def _plan_errors(form: Any, formset: Any, where: list[int], problems: dict[str, str]) -> None:
    """The service's problems on the fields that caused them (``rules.<n>.<field>`` on rule n's form)."""
    for key, message in problems.items():
        parts = key.split(".")
        if parts[0] == "rules" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(where):
            rule_form = formset.forms[where[int(parts[1])]]
            rule_form.add_error(parts[2] if parts[2] in rule_form.fields else None, message)
        elif key == "rules":
            formset.forms[0].add_error(None, message) if formset.forms else form.add_error(None, message)
        else:
            form.add_error(key if key in form.fields else None, message)


def _initial_rules(plan: Any) -> list[dict[str, Any]]:
    """The rules of the plan's latest version, as the starting point of the next one."""
    from ib.services.plans import rule_payload

    latest = plan.versions.order_by("-number").first()
    if latest is None:
        return []
    initial = []
    for rule in latest.rules.select_related("symbol_group"):
        fields = {name: getattr(rule, name) for name in (
            "kind", "symbol_group", "rate", "tier_shares", "client_rebate_pct", "cap_per_trade", "cap_per_day",
            "cap_per_client", "min_hold_seconds", "cpa_min_deposit", "cpa_min_lots", "cpa_days")}  # fmt: skip
        row = rule_payload(fields)
        row["tier_shares"] = "/".join(row["tier_shares"])
        row["min_hold_seconds"] = str(row["min_hold_seconds"] or "")
        row["cpa_days"] = str(row["cpa_days"])
        initial.append(row)
    return initial


def plan_new_view(request: HttpRequest) -> HttpResponse:
    """Propose a new plan with its first version (finance approves)."""
    from ib.services.plans import plan_can_propose, plan_propose

    user = _user(request)
    plan_can_propose(user).require(PermissionDenied)
    form = PlanForm(request.POST or None)
    formset = RuleFormSet(request.POST or None, prefix="rules")
    if request.method == "POST":
        if form.is_valid() and formset.is_valid():
            rules, where = _rules_from(formset)
            data = form.cleaned_data
            try:
                approval = plan_propose(
                    actor=user, code=data["code"], name=data["name"], currency=data["currency"],
                    hold_days=data["hold_days"], valid_from=data["valid_from"], note=data["note"], rules=rules,
                    reason=data["reason"],
                )  # fmt: skip
            except PlanError as exc:
                _plan_errors(form, formset, where, exc.problems)
            except (PartnerError, OpsError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
                return redirect("approval", pk=approval.pk)
        return render(request, "ib/plan_form.html", {"form": form, "formset": formset, "plan": None}, status=400)
    return render(request, "ib/plan_form.html", {"form": form, "formset": formset, "plan": None})


def plan_version_new_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose a new version of a plan (finance approves)."""
    from ib.selectors import plan_get_for
    from ib.services.plans import plan_can_propose_version, plan_version_propose

    user = _user(request)
    plan = plan_get_for(user, pk)
    plan_can_propose_version(user, plan).require(PermissionDenied)
    form = PlanVersionForm(request.POST or None)
    formset = RuleFormSet(request.POST or None, prefix="rules", initial=None if request.POST else _initial_rules(plan))
    if request.method == "POST":
        if form.is_valid() and formset.is_valid():
            rules, where = _rules_from(formset)
            data = form.cleaned_data
            try:
                approval = plan_version_propose(
                    actor=user, plan=plan, valid_from=data["valid_from"], note=data["note"], rules=rules,
                    reason=data["reason"],
                )  # fmt: skip
            except PlanError as exc:
                _plan_errors(form, formset, where, exc.problems)
            except (PartnerError, OpsError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Asked for approval #{approval.pk}: a finance officer decides.")
                return redirect("approval", pk=approval.pk)
        return render(request, "ib/plan_form.html", {"form": form, "formset": formset, "plan": plan}, status=400)
    return render(request, "ib/plan_form.html", {"form": form, "formset": formset, "plan": plan})


# --- commission runs -----------------------------------------------------------------------------


def commission_runs_view(request: HttpRequest) -> HttpResponse:
    """The runs, newest first, each with its progress; finance starts one for a period."""
    user = _user(request)
    commission_can_view_runs(user).require(PermissionDenied)
    can_run = commission_can_run(user)
    yesterday = timezone.localdate() - timedelta(days=1)
    form = CommissionRunForm(request.POST or None, initial={"period_start": yesterday, "period_end": yesterday})
    status = 200
    if request.method == "POST":
        can_run.require(PermissionDenied)
        if form.is_valid():
            try:
                run = commission_run_start(
                    period_start=form.cleaned_data["period_start"], period_end=form.cleaned_data["period_end"],
                    actor=user,
                )  # fmt: skip
            except ValidationError as exc:
                for field, problems in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                messages.success(request, f"Started the commission run of {run.period_start} to {run.period_end}.")
                return redirect("commission-run", pk=run.pk)
        status = 400
    runs = list(commission_runs_list()[:100])
    return render(request, "ib/run_list.html", {"runs": runs, "form": form, "can_run": can_run}, status=status)


def commission_run_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    commission_can_view_runs(user).require(PermissionDenied)
    run = commission_run_get(pk)
    return render(
        request,
        "ib/run_detail.html",
        {"run": run, "figures": run_figures(run), "statements": list(run_statements(run))},
    )


def commission_run_progress_view(request: HttpRequest, pk: int) -> JsonResponse:
    """What the progress bar polls: the run's status and chunks done."""
    user = _user(request)
    commission_can_view_runs(user).require(PermissionDenied)
    run = commission_run_get(pk)
    return JsonResponse(
        {
            "status": run.status,
            "status_label": run.get_status_display(),
            "done": run.progress_done,
            "total": run.progress_total,
            "lines": run.lines_created,
        }
    )


def deals_unearned_view(request: HttpRequest) -> HttpResponse:
    """Deals of a period that earned nothing, with the reason, for review (the recalculation)."""
    user = _user(request)
    commission_can_view_runs(user).require(PermissionDenied)
    yesterday = timezone.localdate() - timedelta(days=1)
    form = PeriodForm(request.GET or None)
    start = end = yesterday
    if form.is_valid():
        start = form.cleaned_data["start"] or yesterday
        end = form.cleaned_data["end"] or start
    if end < start or (end - start).days > 92:
        form.add_error("end", "Choose an end on or after the start, at most 92 days later.")
        return render(request, "ib/unearned.html", {"form": form, "deals": [], "start": start, "end": end}, status=400)
    deals = deals_unearned(start, end, limit=1000)
    return render(request, "ib/unearned.html", {"form": form, "deals": deals, "start": start, "end": end})


# --- the trade feed: deals, batches, and the deal report import ---------------------------------


def _page(request: HttpRequest, queryset: Any, per_page: int = 50) -> tuple[Any, str]:
    """One page of ``queryset`` and the query string of the other filters (for the pager's links)."""
    query = request.GET.copy()
    query.pop("page", None)
    return Paginator(queryset, per_page).get_page(request.GET.get("page")), query.urlencode()


def deal_list_view(request: HttpRequest) -> HttpResponse:
    partner_can_view(_user(request)).require(PermissionDenied)
    filters = DealFilter(request.GET or None, queryset=deal_list())
    valid = filters.is_valid() if request.GET else True
    page, query = _page(request, filters.qs if valid else deal_list().none())
    return render(
        request,
        "ib/deal_list.html",
        {"filters": filters, "page": page, "query": query, "can_import": deal_can_import(_user(request))},
        status=200 if valid else 400,
    )


def deal_view(request: HttpRequest, deal_id: str) -> HttpResponse:
    deal = deal_get_for(_user(request), deal_id)
    return render(
        request,
        "ib/deal_detail.html",
        {
            "deal": deal,
            "attribution": attribution_at(deal.client, deal.closed_at),
            "lines": list(deal_commission_lines(deal)),
            "held": deal.closed_at - deal.opened_at,
            "held_seconds": int((deal.closed_at - deal.opened_at).total_seconds()),
        },
    )


def deal_feed_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    partner_can_view(user).require(PermissionDenied)
    page, query = _page(request, deal_batch_list())
    return render(request, "ib/feed.html", {"page": page, "query": query, "can_import": deal_can_import(user)})


def deal_batch_view(request: HttpRequest, pk: int) -> HttpResponse:
    batch = deal_batch_get_for(_user(request), pk)
    return render(
        request,
        "ib/deal_batch.html",
        {
            "batch": batch,
            "work_item": deal_batch_work_item(batch),
            "deals": list(deal_list().filter(batch=batch)[:100]),
        },
    )


def deal_import_view(request: HttpRequest) -> HttpResponse:
    """Upload a deal report file: stored as a batch, then processed; the batch's page shows what
    was new, duplicate and refused (refusals also open a trade feed exception)."""
    user = _user(request)
    deal_can_import(user).require(PermissionDenied)
    form = DealImportForm(request.POST or None, request.FILES or None)
    if request.method != "POST":
        return render(request, "ib/deal_import.html", {"form": form})
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = deal_batch_receive(
                source=FeedSource.CSV, raw=upload.read(), filename=upload.name or "deals.csv",
                received_by=user.get_username(),
            )  # fmt: skip
        except DealFeedError as exc:
            form.add_error("file", exc.message)
        else:
            batch = deal_batch_process(batch_id=batch.pk)
            summary = f"{batch.rows_new} new, {batch.rows_duplicate} duplicate, {batch.rows_rejected} refused."
            (messages.warning if batch.rows_rejected else messages.success)(request, f"Imported: {summary}")
            return redirect(batch)
    return render(request, "ib/deal_import.html", {"form": form}, status=400)
