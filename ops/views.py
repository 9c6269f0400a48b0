"""The operator workspace: home, queues, work items, approvals, staff roles.

Views parse input, call one service or selector, and render. A refused action re-renders the page
with the reason (409 for a business refusal, 400 for a form error) and changes nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.selectors import audit_event_list
from ops.approvals import get_action
from ops.errors import OpsError
from ops.forms import (
    AccessReviewSignOffForm,
    AssignForm,
    DecisionForm,
    LockoutClearForm,
    QueueFilterForm,
    ReasonForm,
    ResolveForm,
    RoleGrantRequestForm,
    SecondFactorResetForm,
)
from ops.models import AccessReview, ApprovalRequest, ApprovalStatus, Decision, StaffNotification, User, WorkItem
from ops.permissions import Decision as PermissionDecision
from ops.priority import priority_label
from ops.roles import CAPABILITY_PAGES, INCOMPATIBLE_ROLES, PERMISSIONS, Role
from ops.selectors import (
    DORMANT_AFTER_DAYS,
    access_review_period,
    access_review_rows,
    approval_get_for,
    approvals_made_by,
    my_open_items,
    queue_summaries,
    queues_visible_to,
    roles_refused_for,
    work_item_get_for,
    work_item_list,
)
from ops.services import access_review as access_review_services
from ops.services import approvals as approval_services
from ops.services import work_items as item_services
from ops.services.access_review import access_review_can_sign_off, access_review_can_view
from ops.services.approvals import approval_can_cancel, approval_can_decide, approval_can_submit, approvals_can_view
from ops.services.notifications import notifications_mark_read
from ops.services.second_factor import (
    lockouts_list,
    login_lockout_can_clear,
    login_lockout_clear,
    second_factor_enrolled_ids,
    second_factor_reset_request,
)
from ops.services.staff import staff_can_view


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def sla_text(due_at: datetime | None, now: datetime) -> tuple[str, str]:
    """('due in 3h 12m', 'ok'|'soon'|'late'|'paused')."""
    if due_at is None:
        return "paused", "paused"
    delta = due_at - now
    late = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    span = f"{days}d {hours}h" if days else (f"{hours}h {mins}m" if hours else f"{mins}m")
    if late:
        return f"overdue {span}", "late"
    return f"due in {span}", "soon" if delta < timedelta(hours=1) else "ok"


def _decorate(items: list[WorkItem], now: datetime) -> list[WorkItem]:
    for item in items:
        item.priority = priority_label(item.urgency_at, now)  # type: ignore[attr-defined]
        item.sla, item.sla_state = sla_text(item.due_at, now)  # type: ignore[attr-defined]
    return items


def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    now = timezone.now()
    allowed = []  # what the user may do, each linked to its page
    for code, label in PERMISSIONS.items():
        if code in CAPABILITY_PAGES and user.has_perm(f"ops.{code}"):
            name, args = CAPABILITY_PAGES[code]
            allowed.append((code, label, reverse(name, args=args)))
    notes = list(StaffNotification.objects.filter(recipient=user, read_at__isnull=True)[:10])
    context = {
        "allowed": allowed,
        "my_items": _decorate(list(my_open_items(user)[:20]), now),
        "summaries": queue_summaries(user, now),
        "waiting": approval_services.approvals_inbox(user, limit=10),
        "notifications": notes,
    }
    return render(request, "ops/home.html", context)


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    notifications_mark_read(user=_user(request))
    return redirect("home")


# --- queues -----------------------------------------------------------------------------------


def queue_view(request: HttpRequest, code: str = "") -> HttpResponse:
    user = _user(request)
    item_services.queues_can_view(user).require(PermissionDenied)
    queues = list(queues_visible_to(user).order_by("name"))
    if code and code not in {q.code for q in queues}:
        raise Http404("No such queue among yours.")
    data = request.GET.copy()
    if code:
        data.setdefault("queue", code)
    form = QueueFilterForm(data, queues=queues)
    status = 200
    if not form.is_valid():
        status = 400
        filters: dict[str, Any] = {}
        per_page = 25
    else:
        cleaned = form.cleaned_data
        per_page = cleaned.pop("per_page") or 25
        filters = {k: v for k, v in cleaned.items() if v}
    now = timezone.now()
    items = work_item_list(user=user, now=now, **filters)
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    _decorate(list(page.object_list), now)
    query = data.copy()
    query.pop("page", None)
    selected = filters.get("queue", "")
    selected_queue = next((q for q in queues if q.code == selected), None)
    return render(
        request,
        "ops/queue.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "selected_queue": selected_queue,
            "can_take_next": item_services.queue_can_take_next(user, selected_queue),
        },
        status=status,
    )


@require_POST
def next_item(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    queue = request.POST.get("queue") or None
    back = (
        redirect("queue", code=queue)
        if queue and queues_visible_to(user).filter(code=queue).exists()
        else redirect("queues")
    )
    try:
        item = item_services.work_item_claim_next(user=user, queue=queue)
    except OpsError as exc:
        messages.error(request, str(exc))
        return back
    if item is None:
        messages.info(request, "No unassigned items are waiting in your queues.")
        return back
    messages.success(request, f"You took #{item.pk}: {item.title}")
    return redirect("work-item", pk=item.pk)


# --- one work item ----------------------------------------------------------------------------


def _item_permissions(user: User, item: WorkItem) -> dict[str, Any]:
    """The item's buttons, each the Decision of the action's can-function (the service asks the same)."""
    return {
        "works_queue": item_services.queue_can_work(user, item.queue),
        "can_claim": item_services.work_item_can_claim(user, item),
        "can_assign": item_services.work_item_can_assign(user, item),
        "can_release": item_services.work_item_can_release(user, item),
        "can_hold": item_services.work_item_can_hold(user, item),
        "can_resume": item_services.work_item_can_resume(user, item),
        "can_resolve": item_services.work_item_can_resolve(user, item),
    }


def _render_item(request: HttpRequest, item: WorkItem, *, status: int = 200, **forms: Any) -> HttpResponse:
    user = _user(request)
    now = timezone.now()
    _decorate([item], now)
    subject = item.subject
    context = {
        "item": item,
        "subject": subject,
        "history": item.history.select_related("history_user", "owner", "queue").order_by("-history_date")[:50],
        "events": audit_event_list(subject_type="ops.workitem", subject_id=str(item.pk))[:50],
        "perm": _item_permissions(user, item),
        "resolve_form": forms.get("resolve_form") or ResolveForm(),
        "hold_form": forms.get("hold_form") or ReasonForm(),
        "assign_form": forms.get("assign_form") or AssignForm(queue=item.queue),
    }
    return render(request, "ops/item.html", context, status=status)


def item_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_item(request, work_item_get_for(_user(request), pk))


def _act(
    request: HttpRequest,
    pk: int,
    can: Callable[[User, WorkItem], PermissionDecision],
    run: Callable[[WorkItem], Any],
    done: str,
    **forms: Any,
) -> HttpResponse:
    item = work_item_get_for(_user(request), pk)
    can(_user(request), item).require(PermissionDenied)
    try:
        run(item)
    except OpsError as exc:
        messages.error(request, str(exc))
        return _render_item(request, work_item_get_for(_user(request), pk), status=409, **forms)
    messages.success(request, done)
    return redirect("work-item", pk=pk)


@require_POST
def item_claim(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    return _act(
        request,
        pk,
        item_services.work_item_can_claim,
        lambda i: item_services.work_item_claim(item_id=i.pk, user=user),
        "You own this item now.",
    )


@require_POST
def item_release(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    return _act(
        request,
        pk,
        item_services.work_item_can_release,
        lambda i: item_services.work_item_release(item_id=i.pk, user=user),
        "Returned to the queue.",
    )


@require_POST
def item_resume(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    return _act(
        request,
        pk,
        item_services.work_item_can_resume,
        lambda i: item_services.work_item_resume(item_id=i.pk, user=user),
        "The SLA clock runs again.",
    )


@require_POST
def item_hold(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    item_services.work_item_can_hold(user, work_item_get_for(user, pk)).require(PermissionDenied)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _render_item(request, work_item_get_for(user, pk), status=400, hold_form=form)
    reason = form.cleaned_data["reason"]
    return _act(
        request,
        pk,
        item_services.work_item_can_hold,
        lambda i: item_services.work_item_hold(item_id=i.pk, user=user, reason=reason),
        "Waiting on the client; the SLA clock is paused.",
        hold_form=form,
    )


@require_POST
def item_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    item_services.work_item_can_resolve(user, work_item_get_for(user, pk)).require(PermissionDenied)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return _render_item(request, work_item_get_for(user, pk), status=400, resolve_form=form)
    code, note = form.cleaned_data["code"], form.cleaned_data["note"]
    return _act(
        request,
        pk,
        item_services.work_item_can_resolve,
        lambda i: item_services.work_item_resolve(item_id=i.pk, user=user, code=code, note=note),
        "Resolved.",
        resolve_form=form,
    )


@require_POST
def item_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    item = work_item_get_for(user, pk)
    item_services.work_item_can_assign(user, item).require(PermissionDenied)
    form = AssignForm(request.POST, queue=item.queue)
    if not form.is_valid():
        return _render_item(request, item, status=400, assign_form=form)
    assignee, reason = form.cleaned_data["assignee"], form.cleaned_data["reason"]
    return _act(
        request,
        pk,
        item_services.work_item_can_assign,
        lambda i: item_services.work_item_assign(item_id=i.pk, assignee=assignee, actor=user, reason=reason),
        f"Assigned to {assignee.username}.",
        assign_form=form,
    )


# --- approvals --------------------------------------------------------------------------------


def approvals_inbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    approvals_can_view(user).require(PermissionDenied)
    return render(
        request,
        "ops/approvals.html",
        {"waiting": approval_services.approvals_inbox(user), "mine": list(approvals_made_by(user)[:50])},
    )


def _render_approval(
    request: HttpRequest, pk: int, *, status: int = 200, form: DecisionForm | None = None
) -> HttpResponse:
    user = _user(request)
    obj = approval_get_for(user, pk)
    decisions = list(obj.decisions.all())
    levels = [
        {"n": i + 1, "role": role, "decision": decisions[i] if i < len(decisions) else None}
        for i, role in enumerate(obj.required_roles)
    ]
    return render(
        request,
        "ops/approval.html",
        {
            "req": obj,
            "levels": levels,
            "can_decide": approval_can_decide(user, obj),
            "can_cancel": approval_can_cancel(user, obj),
            "form": form or DecisionForm(initial={"payload_hash": obj.payload_hash}),
            "cancel_form": ReasonForm(),
            "Decision": Decision,
            **_approval_panel(obj),
        },
        status=status,
    )


def _approval_panel(obj: Any) -> dict[str, Any]:
    """The action's own panel beside the payload (``ApprovalAction.panel``), if it has one."""
    try:
        panel = get_action(obj.action).panel
    except OpsError:
        return {}
    if panel is None:
        return {}
    template, context = panel(obj)
    return {"panel_template": template, "panel": context}


def approval_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_approval(request, pk)


@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    # 404 unless visible, 403 unless theirs to decide
    approval_can_decide(user, approval_get_for(user, pk)).require(PermissionDenied)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _render_approval(request, pk, status=400, form=form)
    try:
        result = approval_services.approval_decide(
            request_id=pk,
            checker=user,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            seen_payload_hash=form.cleaned_data["payload_hash"],
        )
    except OpsError as exc:
        messages.error(request, str(exc))
        return _render_approval(request, pk, status=409, form=form)
    messages.success(request, f"Recorded. The request is now {result.get_status_display().lower()}.")
    return redirect("approval", pk=pk)


@require_POST
def approval_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    approval_can_cancel(user, approval_get_for(user, pk)).require(PermissionDenied)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for cancelling.")
        return _render_approval(request, pk, status=400)
    try:
        approval_services.approval_cancel(request_id=pk, maker=user, reason=form.cleaned_data["reason"])
    except OpsError as exc:
        messages.error(request, str(exc))
        return _render_approval(request, pk, status=409)
    messages.success(request, "Cancelled.")
    return redirect("approval", pk=pk)


# --- staff ------------------------------------------------------------------------------------


def _staff_page(
    request: HttpRequest,
    form: RoleGrantRequestForm | None = None,
    status: int = 200,
    *,
    reset_form: SecondFactorResetForm | None = None,
    unlock_form: LockoutClearForm | None = None,
) -> HttpResponse:
    user = _user(request)
    staff_can_view(user).require(PermissionDenied)
    staff = list(
        User.objects.prefetch_related(
            "groups", Prefetch("user_permissions", queryset=Permission.objects.select_related("content_type"))
        ).order_by("username")
    )
    for member in staff:  # what a grant would refuse for this person (segregation of duties)
        member.refused_roles = roles_refused_for(member)  # type: ignore[attr-defined]
    return render(
        request,
        "ops/staff.html",
        {
            "staff": staff,
            "incompatible": _incompatible_pairs(),
            "can_review_access": access_review_can_view(user),
            "form": form or RoleGrantRequestForm(),
            "can_request": approval_can_submit(user, "staff.grant_role"),
            "pending": ApprovalRequest.objects.filter(action="staff.grant_role", status=ApprovalStatus.PENDING),
            "enrolled": second_factor_enrolled_ids(),
            "reset_form": reset_form or SecondFactorResetForm(prefix="reset"),
            "can_reset": approval_can_submit(user, "staff.reset_second_factor"),
            "pending_resets": ApprovalRequest.objects.filter(
                action="staff.reset_second_factor", status=ApprovalStatus.PENDING
            ),
            "lockouts": lockouts_list(),
            "unlock_form": unlock_form or LockoutClearForm(),
            "can_unlock": login_lockout_can_clear(user),
        },
        status=status,
    )


def staff_view(request: HttpRequest) -> HttpResponse:
    return _staff_page(request)


@require_POST
def staff_role_request(request: HttpRequest) -> HttpResponse:
    approval_can_submit(_user(request), "staff.grant_role").require(PermissionDenied)
    form = RoleGrantRequestForm(request.POST)
    if not form.is_valid():
        return _staff_page(request, form, status=400)
    try:
        obj = approval_services.approval_submit(
            action="staff.grant_role",
            subject=form.cleaned_data["user"],
            payload={"role": form.cleaned_data["role"]},
            maker=_user(request),
            reason=form.cleaned_data["reason"],
        )
    except OpsError as exc:
        form.add_error(None, str(exc))
        return _staff_page(request, form, status=409)
    by = "another administrator" if obj.required_roles[0] == Role.ADMIN else Role(obj.required_roles[0]).label.lower()
    messages.success(request, f"Request #{obj.pk} is waiting for approval by {by}.")
    return redirect("approval", pk=obj.pk)


def _incompatible_pairs() -> list[tuple[str, str, str]]:
    order = list(Role)
    pairs = [sorted(pair, key=order.index) for pair in INCOMPATIBLE_ROLES]
    return [
        (a.label, b.label, INCOMPATIBLE_ROLES[frozenset({a, b})])
        for a, b in sorted(pairs, key=lambda p: (order.index(p[0]), order.index(p[1])))
    ]


# --- the quarterly access review ----------------------------------------------------------------


def _access_review_page(
    request: HttpRequest, form: AccessReviewSignOffForm | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    access_review_can_view(user).require(PermissionDenied)
    now = timezone.now()
    period = access_review_period(now)
    review = AccessReview.objects.select_related("signed_off_by").filter(period=period).first()
    rows = access_review_rows(now)
    return render(
        request,
        "ops/access_review.html",
        {
            "period": period,
            "review": review,
            "rows": rows,
            "flagged": sum(1 for r in rows if r.findings),
            "dormant_days": DORMANT_AFTER_DAYS,
            "incompatible": _incompatible_pairs(),
            "past": AccessReview.objects.select_related("signed_off_by").exclude(period=period)[:8],
            "can_sign_off": access_review_can_sign_off(user, review),
            "form": form or AccessReviewSignOffForm(),
        },
        status=status,
    )


def access_review(request: HttpRequest) -> HttpResponse:
    return _access_review_page(request)


def access_review_csv(request: HttpRequest) -> HttpResponse:
    access_review_can_view(_user(request)).require(PermissionDenied)
    now = timezone.now()
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="access-review-{access_review_period(now)}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["username", "name", "active", "roles", "direct_permissions", "object_grants", "last_login", "findings"]
    )
    for row in access_review_rows(now):
        writer.writerow(
            _csv_safe(
                row.user.username,
                row.user.get_full_name(),
                "yes" if row.user.is_active else "no",
                " ".join(row.roles),
                " ".join(row.direct_permissions),
                row.object_grants,
                f"{row.user.last_login:%Y-%m-%d %H:%M}" if row.user.last_login else "never",
                "; ".join(row.findings),
            )
        )
    return response


def _csv_safe(*cells: object) -> list[str]:
    """Cells as text, a leading =, +, -, @ quoted so a spreadsheet shows it instead of running it."""
    return [f"'{c}" if str(c)[:1] in ("=", "+", "-", "@") else str(c) for c in cells]


@require_POST
def access_review_sign_off(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    access_review_can_sign_off(user).require(PermissionDenied)
    form = AccessReviewSignOffForm(request.POST)
    if not form.is_valid():
        return _access_review_page(request, form, status=400)
    try:
        review = access_review_services.access_review_sign_off(actor=user, note=form.cleaned_data["note"])
    except OpsError as exc:
        messages.error(request, str(exc))
        return _access_review_page(request, form, status=409)
    messages.success(request, f"The access review for {review.period} is signed off.")
    return redirect("access-review")


@require_POST
def staff_second_factor_reset(request: HttpRequest) -> HttpResponse:
    """Ask for another staff member's second factor to be reset (a second administrator approves)."""
    approval_can_submit(_user(request), "staff.reset_second_factor").require(PermissionDenied)
    form = SecondFactorResetForm(request.POST, prefix="reset")
    if not form.is_valid():
        return _staff_page(request, reset_form=form, status=400)
    try:
        obj = second_factor_reset_request(
            actor=_user(request), user=form.cleaned_data["user"], reason=form.cleaned_data["reason"]
        )
    except OpsError as exc:
        form.add_error(None, str(exc))
        return _staff_page(request, reset_form=form, status=409)
    messages.success(request, f"Request #{obj.pk} is waiting for a second administrator.")
    return redirect("approval", pk=obj.pk)


@require_POST
def staff_lockout_clear(request: HttpRequest) -> HttpResponse:
    """Unlock a username or an IP locked out by failed sign-ins (audited, with a reason)."""
    login_lockout_can_clear(_user(request)).require(PermissionDenied)
    form = LockoutClearForm(request.POST)
    if not form.is_valid():
        return _staff_page(request, unlock_form=form, status=400)
    try:
        login_lockout_clear(actor=_user(request), **form.cleaned_data)
    except OpsError as exc:
        form.add_error(None, str(exc))
        return _staff_page(request, unlock_form=form, status=409)
    messages.success(request, f"Unlocked {form.cleaned_data['value']}.")
    return redirect("staff")
