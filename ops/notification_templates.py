"""Client message templates: one place, reviewed wording (seed 004: "client comms ... with
templated reasons"). Rendered with Django's template engine, autoescape off for plain text."""

from __future__ import annotations

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
}


def render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    title, body = TEMPLATES[template]
    ctx = Context(context, autoescape=False)
    return Template(title).render(ctx).strip(), Template(body).render(ctx)
