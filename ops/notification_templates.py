"""Client message templates: one place, reviewed wording (seed 004: "client comms ... with
templated reasons"). Rendered with Django's template engine, autoescape off for plain text."""

from __future__ import annotations

import functools
from typing import Any

from django.template import Context, Template

TEMPLATES: dict[str, tuple[str, str]] = {
    "kyc.document_expiring": (
        "Your {{ document }} expires in {{ days }} days",
        "Dear {{ name }},\n\nThe {{ document|lower }} we hold for you expires on {{ expiry }}. Please upload a "
        "valid one in your client area before then, so that your account stays fully active.\n\n"
        "Your reference: {{ reference }}\n",
    ),
    "kyc.document_expired_restricted": (
        "Your account is restricted until we receive a valid {{ document }}",
        "Dear {{ name }},\n\nThe {{ document|lower }} we hold for you expired on {{ expiry }}. Until you upload a "
        "valid one, your account is restricted: you can close positions but not open new ones or withdraw.\n\n"
        "Your reference: {{ reference }}\n",
    ),
    "kyc.document_rejected": (
        "We need a new {{ document }}",
        "Dear {{ name }},\n\nThank you for the {{ document|lower }} you sent us. We could not accept it: "
        "{{ reason|lower }}.{% if note %}\n\n{{ note }}{% endif %}\n\nPlease upload a new one in your client area; "
        "your application continues as soon as we have it.\n\nYour reference: {{ reference }}\n",
    ),
    # follow-up sequences (ops.followups): reminders while documents are outstanding
    "kyc.documents_reminder": (
        "Reminder: we still need your documents",
        "Dear {{ name }},\n\nTo open your account we need the documents listed in your client area "
        "(proof of identity and proof of address). It takes a few minutes: upload them there and we "
        "will review them straight away.\n\nYour reference: {{ reference }}\n",
    ),
    "kyc.documents_reminder:sms": (
        "Documents reminder",
        "{{ name }}, we still need your documents to open your account. Please upload them in your "
        "client area. Ref {{ reference }}",
    ),
    "kyc.additional_documents_reminder": (
        "Reminder: we are waiting for a document from you",
        "Dear {{ name }},\n\nYour application is on hold until we receive the document we asked you "
        "for{% if reason %} ({{ reason }}){% endif %}. Please upload it in your client area; your application "
        "continues as soon as we have it.\n\nYour reference: {{ reference }}\n",
    ),
    "kyc.additional_documents_reminder:in_app": (
        "We are waiting for a document from you",
        "Your application is on hold until you upload the document we asked for{% if reason %} "
        "({{ reason }}){% endif %}. Upload it on the Documents page.",
    ),
    "kyc.additional_documents_reminder:sms": (
        "Document reminder",
        "{{ name }}, your application is on hold until you upload the document we asked for. "
        "Please upload it in your client area. Ref {{ reference }}",
    ),
    "payments.deposit_credited": (
        "Your deposit of {{ amount }} has arrived",
        "Dear {{ name }},\n\nWe received your {{ channel }} deposit of {{ amount }} (reference {{ deposit }}) and "
        "credited it to your {{ destination }}.\n\nYour reference: {{ reference }}\n",
    ),
    "payments.deposit_failed": (
        "Your deposit of {{ amount }} did not go through",
        "Dear {{ name }},\n\nYour {{ channel }} deposit of {{ amount }} (reference {{ deposit }}) failed: "
        "{{ failure }}. No money was taken. Please try again, or use another payment method.\n\n"
        "Your reference: {{ reference }}\n",
    ),
    "payments.deposit_under_review": (
        "We are checking your deposit of {{ amount }}",
        "Dear {{ name }},\n\nWe received a deposit of {{ amount }} (reference {{ deposit }}) that we need to "
        "check before crediting it: payments must come from an account in your own name. We will contact you if "
        "we need anything.\n\nYour reference: {{ reference }}\n",
    ),
    "payments.deposit_returned": (
        "We returned your payment of {{ amount }}",
        "Dear {{ name }},\n\nWe could not accept the payment of {{ amount }} (reference {{ deposit }}): "
        "{{ reason }}. It is being returned to where it came from.\n\nYour reference: {{ reference }}\n",
    ),
    "payments.withdrawal_received": (
        "We received your withdrawal request {{ withdrawal }}",
        "Dear {{ name }},\n\nWe received your request to withdraw {{ amount }} to {{ destination }}. "
        "{% if review %}It is being reviewed; we will let you know as soon as it is approved.{% else %}"
        "It is approved and on its way.{% endif %}\n\nYour reference: {{ reference }}\n",
    ),
    "payments.withdrawal_approved": (
        "Your withdrawal {{ withdrawal }} is approved",
        "Dear {{ name }},\n\nYour withdrawal of {{ amount }} is approved and will be paid to {{ destination }} "
        "shortly.\n\nYour reference: {{ reference }}\n",
    ),
    "payments.withdrawal_paid": (
        "Your withdrawal {{ withdrawal }} has been paid",
        "Dear {{ name }},\n\nWe paid {{ amount }} to {{ destination }} (payment reference {{ voucher }}). "
        "Depending on your bank it can take a few days to arrive.\n\nYour reference: {{ reference }}\n",
    ),
    "payments.withdrawal_rejected": (
        "Your withdrawal {{ withdrawal }} could not be processed",
        "Dear {{ name }},\n\nWe could not process your withdrawal of {{ amount }}: {{ reason }}. The amount "
        "is available in your account again.{% if note %}\n\n{{ note }}{% endif %}\n\nYour reference: {{ reference }}\n",
    ),
    # a reply an agent drafted and a support officer approved (agents.client_reply)
    "agents.client_reply": (
        "A reply to your message",
        "Dear {{ name }},\n\n{{ message }}\n\nYour reference: {{ reference }}\n",
    ),
    "payments.withdrawal_failed": (
        "Your withdrawal {{ withdrawal }} was returned",
        "Dear {{ name }},\n\nThe payment of {{ amount }} to {{ destination }} was returned by the receiving "
        "side ({{ failure }}). The amount is available in your account again; please check your payment "
        "details.\n\nYour reference: {{ reference }}\n",
    ),
}


@functools.cache
def _compiled(template: str, channel: str) -> tuple[Template, Template]:
    """The wording for ``channel``: its own variant (``"<template>:<channel>"``: an SMS is short,
    an in-app notice has no greeting) where there is one, else the template's e-mail wording."""
    title, body = TEMPLATES.get(f"{template}:{channel}") or TEMPLATES[template]
    return Template(title), Template(body)


def template_exists(template: str) -> bool:
    return template in TEMPLATES


def render(template: str, context: dict[str, Any], *, channel: str = "email") -> tuple[str, str]:
    title, body = _compiled(template, channel)  # KeyError for an unknown template, as before
    ctx = Context(context, autoescape=False)
    return title.render(ctx).strip(), body.render(ctx)
