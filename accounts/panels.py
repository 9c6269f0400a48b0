"""Sections that higher apps add to the client 360 (KYC documents, later payments, IB...).

accounts sits below them, so it never imports them: each registers a panel in its AppConfig.ready.
A panel returns the template to include and the context it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Panel = Callable[[Any, Any, dict[str, Any]], tuple[str, dict[str, Any]]]
_panels: list[Panel] = []


def register_client_panel(panel: Panel) -> Panel:
    if panel not in _panels:
        _panels.append(panel)
    return panel


def client_panels(user: Any, client: Any, forms: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    templates: list[str] = []
    context: dict[str, Any] = {}
    for panel in _panels:
        template, extra = panel(user, client, forms)
        templates.append(template)
        context.update(extra)
    return templates, context
