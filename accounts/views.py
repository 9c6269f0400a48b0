"""Client pages: the list, registration, and the client 360 with the actions the viewer may take."""

from __future__ import annotations

import logging
from typing import Any

from django import forms as forms_module
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import errors
from accounts.approval_actions import client_can_request_unfreeze, unfreeze_pending
from accounts.capabilities import MATRIX, Capability
from accounts.errors import ClientError
from accounts.forms import ClientFilterForm, ClientForm, LeverageForm, LinkForm, PartyForm, TransitionForm
from accounts.models import Client, ClientStatus, TradingAccount
from accounts.panels import client_panels
from accounts.selectors import client_can_list, client_get_for, client_is_visible_to, client_links, client_list
from accounts.services import clients as client_services
from accounts.services import trading_accounts as account_services
from accounts.services.clients import RULES, client_can_edit, client_can_register, client_can_transition
from accounts.services.duplicates import client_duplicate_flags
from accounts.services.parties import client_link_add, client_party_add
from audit.context import Actor, acting_as
from audit.models import SecurityEventKind
from audit.selectors import audit_event_list, evidence_pack_can_export
from audit.services import security_event_note
from ops.errors import OpsError
from ops.models import OPEN_STATUSES, User, WorkItem
from ops.services.approvals import approval_submit

logger = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def client_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    client_can_list(user).require(PermissionDenied)
    form = ClientFilterForm(request.GET or None)
    filters = {k: v for k, v in form.cleaned_data.items() if v} if request.GET and form.is_valid() else {}
    status = 400 if request.GET and not form.is_valid() else 200
    page = Paginator(client_list(user=user, **filters), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/client_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "can_create": client_can_register(user)},
        status=status,
    )


def client_create_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    client_can_register(user).require(PermissionDenied)
    # A partner's referral link is this page with ?ref=<code>&campaign=<name>: the form starts filled in.
    referral = {"referral_code": request.GET.get("ref", "")[:32], "campaign": request.GET.get("campaign", "")[:64]}
    form = ClientForm(request.POST or None, initial={k: v for k, v in referral.items() if v})
    if request.method == "POST":
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "kind"}
            try:
                client = client_services.client_register(kind=form.cleaned_data["kind"], data=data, actor=user)
            except ValidationError as exc:
                for field, problems in exc.message_dict.items():
                    form.add_error(None if field == "__all__" else field, problems)
            else:
                messages.success(request, f"Registered {client.display_name} as {client.reference}.")
                for flag in client_duplicate_flags(client, viewer=user):
                    other = f"{flag.other.display_name} ({flag.other.reference})" if flag.other else None
                    messages.warning(
                        request,
                        errors.POSSIBLE_DUPLICATE.format(other=other or errors.OTHER_OUT_OF_SCOPE, matched=flag.note),
                    )
                return redirect("client", pk=client.pk)
        return render(request, "accounts/client_form.html", {"form": form, **KIND_FIELDS}, status=400)
    return render(request, "accounts/client_form.html", {"form": form, **KIND_FIELDS})


KIND_FIELDS = {
    "individual_fields": ["first_name", "last_name", "date_of_birth", "nationality"],
    "corporate_fields": ["legal_name", "registration_number"],
}


def _actions_for(user: User, client: Client) -> list[dict[str, Any]]:
    """The lifecycle buttons: transitions the status allows now and the viewer's role may take."""
    available = {t.name for t in client.get_available_status_transitions()}  # type: ignore[attr-defined]
    return [
        {"name": name, "label": rule.label, "needs_reason": rule.needs_reason}
        for name, rule in RULES.items()
        if name in available and client_can_transition(user, client, name)
    ]


def render_client(request: HttpRequest, client: Client, *, status: int = 200, **forms: Any) -> HttpResponse:
    user = _user(request)
    accounts = list(client.trading_accounts.select_related("account_type", "client"))
    for account in accounts:
        account.can_change_leverage = account_services.trading_account_can_change_leverage(user, account)  # type: ignore[attr-defined]
    context = {
        "client": client,
        "parties": list(client.parties.all()),
        # need to know: a linked client outside the viewer's scope is not named to them
        "links": [
            link
            for link in client_links(client)
            if client_is_visible_to(user, link.other if link.client_id == client.pk else link.client)
        ],
        "duplicates": client_duplicate_flags(client, viewer=user),
        "timeline": client.history.select_related("history_user").order_by("-history_date")[:50],
        "accounts": accounts,
        "items": WorkItem.objects.filter(
            subject_type__app_label="accounts",
            subject_type__model="client",
            subject_id=str(client.pk),
            status__in=OPEN_STATUSES,
        ).select_related("queue", "owner"),
        "events": audit_event_list(subject_type="accounts.client", subject_id=str(client.pk))[:30],
        "actions": _actions_for(user, client),
        "capabilities": [(c.value.replace("_", " "), c in MATRIX[ClientStatus(client.status)]) for c in Capability],
        "can_request_unfreeze": client_can_request_unfreeze(user, client),
        "pending_unfreeze": unfreeze_pending(client),
        "transition_form": TransitionForm(),
        "leverage_form": LeverageForm(),
        "can_edit": client_can_edit(user, client),
        "can_export_evidence": evidence_pack_can_export(user),
        "party_form": forms.get("party_form") or PartyForm(),
        "link_form": forms.get("link_form") or LinkForm(),
    }
    panel_templates, panel_context = client_panels(user, client, forms)
    context |= panel_context | {"panels": panel_templates}
    return render(request, "accounts/client_detail.html", context, status=status)


def client_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    client_can_list(user).require(PermissionDenied)  # by role (as the API), then by object
    return render_client(request, client_get_for(user, pk, for_write=False))


@require_POST
def client_transition_view(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    user = _user(request)
    client_can_list(user).require(PermissionDenied)  # by role (as the API), then by object
    client = client_get_for(user, pk, for_write=True)
    client_can_transition(user, client, name).require(PermissionDenied)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        client_services.client_transition(
            client_id=client.pk,
            name=name,
            actor=user,
            reason=form.cleaned_data.get("reason", ""),
            force=bool(form.cleaned_data.get("force")),
        )
    except ClientError as exc:
        messages.error(request, str(exc))
        return render_client(request, client_get_for(user, pk, for_write=False), status=409)
    messages.success(request, "Done.")
    return redirect("client", pk=pk)


@require_POST
def client_unfreeze_request_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    client = client_get_for(user, pk, for_write=True)
    client_can_request_unfreeze(user, client).require(PermissionDenied)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        approval = approval_submit(
            action="client.unfreeze", subject=client, payload={"client": client.reference}, maker=user,
            reason=form.cleaned_data.get("reason", ""),
        )  # fmt: skip
    except (OpsError, ClientError) as exc:
        messages.error(request, str(exc))
        return render_client(request, client, status=409)
    messages.success(request, f"Request #{approval.pk} is waiting for a second compliance officer.")
    return redirect("approval", pk=approval.pk)


@require_POST
def trading_account_leverage_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    account = get_object_or_404(TradingAccount.objects.select_related("account_type", "client"), pk=pk)
    client = client_get_for(user, account.client_id, for_write=True)
    account_services.trading_account_can_change_leverage(user, account).require(PermissionDenied)
    form = LeverageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()))
        return render_client(request, client, status=400)
    leverage, reason = form.cleaned_data["leverage"], form.cleaned_data["reason"]
    try:
        if leverage > account.account_type.default_leverage:
            approval = approval_submit(
                action="trading_account.set_leverage",
                subject=account,
                payload={"leverage": leverage},
                maker=user,
                reason=reason,
            )
            messages.success(request, f"Leverage above the default needs approval: request #{approval.pk}.")
            return redirect("approval", pk=approval.pk)
        account_services.trading_account_set_leverage(
            account_id=account.pk, leverage=leverage, actor=user, reason=reason
        )
    except (OpsError, ClientError) as exc:
        messages.error(request, str(exc))
        return render_client(request, client, status=409)
    messages.success(request, f"Leverage set to 1:{leverage}; the platform follows shortly.")
    return redirect("client", pk=client.pk)


def _form_post(
    request: HttpRequest, pk: int, form_class: type[forms_module.Form], form_name: str, run: Any, done: str
) -> HttpResponse:
    user = _user(request)
    client = client_get_for(user, pk, for_write=True)
    client_can_edit(user, client).require(PermissionDenied)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            run(user, client, form.cleaned_data)
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        except ClientError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, done)
            return redirect("client", pk=pk)
    return render_client(request, client, status=400, **{form_name: form})


@require_POST
def client_party_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_post(
        request, pk, PartyForm, "party_form",
        lambda user, client, data: client_party_add(client_id=client.pk, actor=user, **data),
        "Related party added.",
    )  # fmt: skip


@require_POST
def client_link_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_post(
        request, pk, LinkForm, "link_form",
        lambda user, client, data: client_link_add(client_id=client.pk, actor=user, **data),
        "Clients linked.",
    )  # fmt: skip


# --- CRM sync: the inbound webhook, the client 360's CRM panel, the interaction log ---------------


@csrf_exempt
@login_not_required
@require_POST
def crm_webhook(request: HttpRequest) -> HttpResponse:
    """The CRM's change notifications: verified and stored first (a bad signature: 400, nothing
    stored), then applied by a worker (or at once, with WEBHOOK_APPLY=inline)."""
    from accounts.crm import crm_configured, get_crm
    from accounts.services.crm_inbound import CrmWebhookRejected, crm_inbound_process, crm_inbound_store
    from accounts.tasks import crm_inbound_process_task

    with acting_as(Actor.system("webhook:crm")):  # the CRM acts; its signature says so
        header = get_crm().signature_header if crm_configured() else ""
        try:
            stored, new = crm_inbound_store(
                body=request.body, signature=request.headers.get(header) if header else None
            )
        except CrmWebhookRejected as exc:
            if exc.forged:
                security_event_note(kind=SecurityEventKind.WEBHOOK_REJECTED, reason=str(exc), status=exc.status)
            return JsonResponse({"error": str(exc)}, status=exc.status)
        if new and settings.WEBHOOK_APPLY == "queued":
            pk = stored.pk
            try:
                crm_inbound_process_task.delay(event_pk=pk)
            except Exception:  # stored either way: beat's drain applies it
                logger.warning("crm webhook: could not queue event %s; beat's drain will apply it", pk)
        elif new:
            stored = crm_inbound_process(event_pk=stored.pk)
        return JsonResponse({"received": True, "duplicate": not new, "status": stored.status})


def crm_panel(user: User, client: Any, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client 360's CRM section: what the CRM owns of the client, and when it was last synced."""
    from accounts.crm import crm_configured
    from accounts.models import CrmLink, CrmPushStatus

    if not crm_configured():
        return "accounts/_crm_panel.html", {"crm_visible": False}
    link = CrmLink.objects.filter(client=client).first()
    return "accounts/_crm_panel.html", {
        "crm_visible": True,
        "crm_link": link,
        "crm_contact_url": settings.CRM_CONTACT_URL.format(crm_id=link.crm_id)
        if link and link.crm_id and settings.CRM_CONTACT_URL
        else "",
        "crm_pending_pushes": client.crm_pushes.filter(status=CrmPushStatus.PENDING).count(),
        "crm_open_mismatches": list(client.crm_mismatches.filter(closed_at=None).order_by("field")),
    }


def sign_ins_panel(user: User, client: Any, forms: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client 360's sign-in history: when, from where, with which browser and device, and who
    else signed in from the same IP address or device."""
    from accounts.selectors import client_sign_in_history

    return "accounts/_sign_ins_panel.html", {"sign_in_history": client_sign_in_history(user, client)}


def client_interactions_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The client's interaction log: messages the back office sent (with their delivery results),
    the client's replies, the CRM's records, and the client's follow-up sequences."""
    from ops.selectors import followups_for, interactions_for

    user = _user(request)
    client_can_list(user).require(PermissionDenied)  # by role, then by object (as the client 360)
    client = client_get_for(user, pk, for_write=False)
    return render(
        request,
        "accounts/client_interactions.html",
        {"client": client, "interactions": interactions_for(client), "followups": followups_for(client)},
    )
