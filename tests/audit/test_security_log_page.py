"""The security log page: who was refused what, by name, filtered by kind, user, address and date."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from ops.roles import Role
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def log() -> None:
    nosy = staff(username="nosy", first_name="Nina", last_name="Nosy")
    sign_in(HttpClient(), nosy).get("/payments/")  # refused: not a payments role
    HttpClient().post("/login/", {"username": "ghost", "password": "guess"}, REMOTE_ADDR="198.51.100.7")


@pytest.fixture
def officer() -> HttpClient:
    return sign_in(HttpClient(), staff(Role.COMPLIANCE, username="officer"))


def test_events_show_names_not_ids(officer: HttpClient, log: None) -> None:
    response = officer.get("/audit/security/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nina Nosy" in html and "GET /payments/" in html and "Refused (403)" in html
    assert "tried</span> ghost" in html and "198.51.100.7" in html and "Failed sign-in" in html
    assert response.context["page"].paginator.count == 2


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("kind=refused", 1),
        ("kind=login_failed", 1),
        ("user=NOSY", 1),
        ("user=ghost", 1),
        ("ip=198.51.100.7", 1),
        ("ip=127.0.0.1", 1),
        ("kind=webhook_rejected", 0),
    ],
)
def test_filters(officer: HttpClient, log: None, query: str, count: int) -> None:
    response = officer.get(f"/audit/security/?{query}")
    assert response.status_code == 200
    assert response.context["page"].paginator.count == count


def test_bad_filter_is_a_400_naming_the_field(officer: HttpClient) -> None:
    response = officer.get("/audit/security/?ip=not-an-address&date_from=2026-13-01")
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"ip", "date_from"}
