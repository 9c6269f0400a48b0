"""A simulated receiver of the back office's outbound webhooks, for the demo and the tests: it
verifies each request with the Standard Webhooks reference library (``standardwebhooks``), records
what it got, and answers as its mode says (accept, fail with a 500, or 410 Gone). The demo's
endpoint points at the demo server itself: ``/sim/webhooks/<receiver name>/``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sim.models import SimWebhookReceipt, SimWebhookReceiver


def verify(body: bytes, headers: dict[str, str], secrets: list[str]) -> str:
    """'' when one of ``secrets`` verifies the request, else the reference library's reason."""
    error = "no secret configured"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError, UnicodeDecodeError) as exc:
            error = str(exc) or type(exc).__name__
        else:
            return ""
    return error


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest, name: str) -> JsonResponse:
    receiver = get_object_or_404(SimWebhookReceiver, name=name)
    headers = {k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    error = verify(request.body, headers, receiver.secrets.split())
    if error:
        answered = 400
    else:
        answered = {"fail": 500, "gone": 410}.get(receiver.mode, 200)
    receipt = SimWebhookReceipt.objects.create(
        receiver=receiver,
        webhook_id=headers["webhook-id"][:100],
        webhook_timestamp=headers["webhook-timestamp"][:20],
        signature=headers["webhook-signature"],
        body=request.body.decode("utf-8", "replace"),
        verified=not error,
        error=error[:200],
        answered=answered,
    )
    return JsonResponse({"receipt": receipt.pk, "error": error or None}, status=answered)
