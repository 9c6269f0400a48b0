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
    # chargebacks (payments.services.chargebacks): the client hears of the dispute and of its outcome
    "payments.chargeback_opened": (
        "Your card payment of {{ deposit_amount }} is disputed: withdrawals are paused",
        "Dear {{ name }},\n\nYour card issuer has told us that the card payment of {{ deposit_amount }} you made to "
        "us on {{ paid_on }} (reference {{ deposit }}) is disputed (a chargeback{% if why %}: {{ why }}{% endif %}). "
        "The card scheme has taken {{ amount }} back from us while the dispute is decided. "
        "{% if owed %}{% if taken %}We took {{ taken }} of it from your account balance; the remaining {{ owed }} "
        "is shown as owed by you.{% else %}Your account balance did not cover it: the {{ owed }} is shown as owed "
        "by you.{% endif %}{% else %}We took it from your account balance.{% endif %}\n\n"
        "While the dispute is open, withdrawals from your account are paused. We will answer the dispute with "
        "our records of your account and payment by {{ due }}, and write to you as soon as it is decided.\n\n"
        "If you did not mean to dispute this payment, please tell your card issuer and contact us.\n\n"
        "Your reference: {{ reference }}\n",
    ),
    "payments.chargeback_opened:in_app": (
        "Your card payment of {{ deposit_amount }} is disputed: withdrawals are paused",
        "Your card issuer disputes the card payment {{ deposit }} of {{ deposit_amount }} (a chargeback). "
        "{{ amount }} was taken back{% if owed %}, {{ owed }} of it shown as owed by you{% endif %}. "
        "Withdrawals are paused until the dispute is decided; we will tell you the outcome.",
    ),
    "payments.chargeback_opened:sms": (
        "Payment disputed",
        "{{ name }}, your card payment {{ deposit }} of {{ deposit_amount }} is disputed by your card issuer. "
        "Withdrawals are paused until it is decided; details by e-mail. Ref {{ reference }}",
    ),
    "payments.chargeback_won": (
        "The dispute of your card payment {{ deposit }} is closed: the payment stands",
        "Dear {{ name }},\n\nThe card scheme has decided the dispute of your card payment of {{ deposit_amount }} "
        "(reference {{ deposit }}) in our favour: the payment stands. The {{ amount }} taken back when the "
        "dispute opened is in your account again.\n\n{% if still_open %}Withdrawals stay paused while another "
        "dispute of a payment of yours is open.{% else %}Withdrawals from your account are possible again."
        "{% endif %}\n\nYour reference: {{ reference }}\n",
    ),
    "payments.chargeback_won:in_app": (
        "The dispute of your card payment {{ deposit }} is closed: the payment stands",
        "The dispute was decided in our favour: the {{ amount }} is in your account again. "
        "{% if still_open %}Withdrawals stay paused while another dispute is open.{% else %}You can withdraw "
        "again.{% endif %}",
    ),
    "payments.chargeback_won:sms": (
        "Dispute closed",
        "{{ name }}, the dispute of your card payment {{ deposit }} is closed: the payment stands and "
        "{{ amount }} is back in your account. Ref {{ reference }}",
    ),
    "payments.chargeback_lost": (
        "The dispute of your card payment {{ deposit }} is closed: the money went back to your card",
        "Dear {{ name }},\n\nThe card scheme has decided the dispute of your card payment of {{ deposit_amount }} "
        "(reference {{ deposit }}) for your card issuer: the {{ amount }} went back to your card, so it is no "
        "longer in your account with us.\n\n{% if still_open %}Withdrawals stay paused while another dispute of "
        "a payment of yours is open.{% else %}Withdrawals from your account are possible again.{% endif %}\n\n"
        "Your reference: {{ reference }}\n",
    ),
    "payments.chargeback_lost:in_app": (
        "The dispute of your card payment {{ deposit }} is closed: the money went back to your card",
        "The dispute was decided for your card issuer: the {{ amount }} went back to your card. "
        "{% if still_open %}Withdrawals stay paused while another dispute is open.{% else %}You can withdraw "
        "again.{% endif %}",
    ),
    "payments.chargeback_lost:sms": (
        "Dispute closed",
        "{{ name }}, the dispute of your card payment {{ deposit }} is closed: {{ amount }} went back to your "
        "card. Ref {{ reference }}",
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
