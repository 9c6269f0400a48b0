"""The main navigation shows an entry exactly when its can-function lets the viewer in: every link
a persona is shown opens (200), and the areas it may not open are not shown."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client as HttpClient

from tests.personas import DESK, NOBODY

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)">([^<]+)</a>')


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        (NOBODY, ["Home"]),
        (DESK, ["Home", "Clients", "Lists"]),
        ("support", ["Home", "Clients", "Queues", "Approvals", "Agent proposals", "Follow-ups", "Partners"]),
        (
            "compliance",
            [
                "Home",
                "Clients",
                "Queues",
                "Approvals",
                "Agent proposals",
                "Follow-ups",
                "Payments",
                "Partners",
                "SARs",
                "Reports",
                "Access review",
                "Agents",
                "Lists",
                "Security log",
            ],
        ),
        ("finance", ["Home", "Clients", "Queues", "Approvals", "Agent proposals", "Payments", "Partners", "Reports"]),
        (
            "risk",
            ["Home", "Clients", "Queues", "Approvals", "Agent proposals", "Payments", "Partners", "Risk", "Reports"],
        ),
        (
            "admin",
            [
                "Home",
                "Clients",
                "Queues",
                "Approvals",
                "Agent proposals",
                "Payments",
                "Partners",
                "Risk",
                "SARs",
                "Reports",
                "Staff",
                "Access review",
                "API keys",
                "Agents",
                "Lists",
                "Audit trail",
                "Security log",
                "Webhooks",
                "Admin",
            ],
        ),
        (
            "auditor",
            [
                "Home",
                "Clients",
                "Queues",
                "Approvals",
                "Agent proposals",
                "Payments",
                "Partners",
                "Risk",
                "SARs",
                "Reports",
                "Staff",
                "Access review",
                "Agents",
                "Lists",
                "Audit trail",
                "Security log",
            ],
        ),
    ],
)
def test_nav_shows_what_each_persona_may_open(
    name: str, labels: list[str], persona: Callable[[str], HttpClient]
) -> None:
    http = persona(name)
    home = http.get("/")
    assert home.status_code == 200
    nav = NAV.search(home.content.decode())
    assert nav is not None
    links = LINK.findall(nav.group(1))
    assert [label for _, label in links] == labels
    for href, label in links:
        assert http.get(href).status_code == 200, label
