"""Client message templates: one place, reviewed wording (seed 004: "client comms ... with
templated reasons"). Rendered with Django's template engine, autoescape off for plain text."""

from __future__ import annotations

from typing import Any

from django.template import Context, Template

TEMPLATES: dict[str, tuple[str, str]] = {
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
