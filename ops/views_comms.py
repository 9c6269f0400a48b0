"""Client communications: the SMS provider's signed callback, and the follow-up sequences page
(sequences, the clients in them with their next step and when, stopping one by hand)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.context import Actor, acting_as
from audit.models import SecurityEventKind
from audit.services import security_event_note
from ops.errors import OpsError
from ops.forms import ReasonForm
from ops.models import FollowUpEnrollment, User
from ops.selectors import followup_enrollment_list, followup_sequence_list
from ops.services.followups import followup_can_manage, followup_stop

logger = logging.getLogger(__name__)


@csrf_exempt
@login_not_required
@require_POST
def sms_webhook(request: HttpRequest) -> HttpResponse:
    """The SMS provider's callbacks (delivery results, replies): verified and stored first (a bad
    signature: 400, nothing stored), then processed by a worker (or at once, with WEBHOOK_APPLY=inline)."""
    from ops.services.sms_inbound import SmsCallbackRejected, sms_inbound_process, sms_inbound_store
    from ops.sms import get_sms_provider, sms_configured
    from ops.tasks import sms_inbound_process_task

    with acting_as(Actor.system("webhook:sms")):  # the provider acts; its signature says so
        header = get_sms_provider().signature_header if sms_configured() else ""
        try:
            stored, new = sms_inbound_store(
                body=request.body, signature=request.headers.get(header) if header else None
            )
        except SmsCallbackRejected as exc:
            if exc.forged:
                security_event_note(kind=SecurityEventKind.WEBHOOK_REJECTED, reason=str(exc), status=exc.status)
            return JsonResponse({"error": str(exc)}, status=exc.status)
        if new and settings.WEBHOOK_APPLY == "queued":
            pk = stored.pk
            try:
                sms_inbound_process_task.delay(event_pk=pk)
            except Exception:  # stored either way: beat's drain applies it
                logger.warning("sms callback: could not queue event %s; beat's drain will apply it", pk)
        elif new:
            stored = sms_inbound_process(event_pk=stored.pk)
        return JsonResponse({"received": True, "duplicate": not new, "status": stored.status})


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _page(request: HttpRequest, *, stop_forms: dict[int, ReasonForm] | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    sequences = followup_sequence_list()
    chosen = request.GET.get("sequence", "")
    if chosen not in {s.code for s in sequences}:
        chosen = ""
    active = followup_enrollment_list(active=True, sequence=chosen)
    for e in active:
        e.stop_form = (stop_forms or {}).get(e.pk) or ReasonForm(auto_id=f"stop-{e.pk}-%s")
        e.can_stop = followup_can_manage(user, e)
    return render(
        request,
        "ops/followups.html",
        {
            "sequences": sequences,
            "chosen": chosen,
            "active": active,
            "ended": followup_enrollment_list(active=False, sequence=chosen, limit=50),
        },
        status=status,
    )


def followups_view(request: HttpRequest) -> HttpResponse:
    followup_can_manage(_user(request)).require(PermissionDenied)
    return _page(request)


@require_POST
def followup_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    followup_can_manage(user).require(PermissionDenied)
    enrollment = get_object_or_404(FollowUpEnrollment, pk=pk)
    form = ReasonForm(request.POST, auto_id=f"stop-{pk}-%s")
    if not form.is_valid():
        return _page(request, stop_forms={pk: form}, status=400)
    try:
        followup_stop(enrollment_id=enrollment.pk, actor=user, reason=form.cleaned_data["reason"])
    except OpsError as exc:
        messages.error(request, str(exc))
        return _page(request, status=409)
    messages.success(request, f"The follow-up of {enrollment.subject_label} is stopped.")
    return redirect("followups")
