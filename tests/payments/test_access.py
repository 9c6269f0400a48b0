"""Who may open each payments page and endpoint: one persona, one exact status (see personas.py).

Anonymous: the login redirect (pages) or a 401 naming the Bearer scheme (the API takes API keys
first, whose challenge DRF sends). A role without the permission: 403. Finance's
permissions limited to another client: 404. The right role: 200 (or the redirect after a change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from ops.models import ApprovalDecision
from payments.models import DepositStatus, Withdrawal, WithdrawalStatus
from payments.services.ledger import wallet_for
from tests.payments.world import World, world
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

LOGIN = 302  # LoginRequiredMiddleware sends the anonymous to the login page


def _went_to_login(response: Any) -> bool:
    return response.status_code == LOGIN and response["Location"].startswith("/login/")


PAGES: list[tuple[str, Callable[[World], str]]] = [
    ("home", lambda w: "/payments/"),
    ("deposit", lambda w: f"/payments/deposits/{w.held.pk}/"),
    ("withdrawal", lambda w: f"/payments/withdrawals/{w.withdrawal.pk}/"),
    ("new withdrawal", lambda w: f"/payments/clients/{w.client.pk}/withdrawals/new/"),
    ("statements", lambda w: "/payments/statements/"),
    ("break", lambda w: f"/payments/breaks/{w.brk.pk}/"),
]
# (page, persona, status)
PAGE_ACCESS = [
    *[(page, "anonymous", LOGIN) for page, _ in PAGES],
    *[(page, "support", 403) for page, _ in PAGES],
    ("home", "scoped", 200),  # a list: shows only the scoped person's clients (below)
    ("deposit", "scoped", 404),
    ("withdrawal", "scoped", 404),
    ("new withdrawal", "scoped", 404),
    ("statements", "scoped", 200),  # the firm's statements are not shown to them (below)
    ("break", "scoped", 404),  # the firm's breaks: only for staff who see every client
    ("deposit", "in_scope", 200),
    ("withdrawal", "in_scope", 200),
    ("new withdrawal", "in_scope", 200),
    *[(page, "finance", 200) for page, _ in PAGES],
    ("new withdrawal", "compliance", 403),  # sees payments, does not enter withdrawals
    ("deposit", "risk", 200),
    ("break", "risk", 200),
    ("new withdrawal", "risk", 403),
]


@pytest.mark.parametrize(("page", "persona", "status"), PAGE_ACCESS)
def test_page_access(page: str, persona: str, status: int) -> None:
    w = world()
    url = dict(PAGES)[page](w)
    response = w.http(persona).get(url)
    assert response.status_code == status
    assert _went_to_login(response) == (persona == "anonymous")


def test_lists_show_only_the_clients_a_scoped_person_sees() -> None:
    w = world()
    outside = w.http("scoped").get("/payments/").content.decode()
    assert w.withdrawal.reference not in outside and w.held.reference not in outside
    assert w.brk.key not in outside
    inside = w.http("in_scope").get("/payments/").content.decode()
    assert w.withdrawal.reference in inside and w.held.reference in inside
    assert w.brk.key not in inside  # firm-wide records: not for someone limited to some clients
    assert w.brk.key in w.http("finance").get("/payments/").content.decode()


# --- the actions on the pages (POST) ------------------------------------------------------------

ACTIONS: dict[str, tuple[Callable[[World], str], Callable[[World], dict[str, str]]]] = {
    "release deposit": (
        lambda w: f"/payments/deposits/{w.held.pk}/",
        lambda w: {"action": "release", "reason": "joint account; statement on file"},
    ),
    "return deposit": (
        lambda w: f"/payments/deposits/{w.held.pk}/",
        lambda w: {"action": "refund", "reason_code": "third_party", "note": ""},
    ),
    "approve withdrawal": (
        lambda w: f"/payments/withdrawals/{w.withdrawal.pk}/",
        lambda w: {"action": "approve", "reason": "card matches the deposit", "payload_hash": ""},
    ),
    "reject withdrawal": (
        lambda w: f"/payments/withdrawals/{w.withdrawal.pk}/",
        lambda w: {"action": "reject", "reason_code": "client_request", "note": "phoned"},
    ),
    "enter withdrawal": (
        lambda w: f"/payments/clients/{w.payer.pk}/withdrawals/new/",
        lambda w: {
            "source": str(wallet_for(client=w.payer, currency="EUR").pk),
            "amount": "50.00",
            "method": "card",
            "destination": w.card,
            "destination_name": w.payer.display_name,
        },
    ),
    "resolve break": (
        lambda w: f"/payments/breaks/{w.brk.pk}/",
        lambda w: {"note": "bank fee booked on the 3rd"},
    ),
}
DONE = 302  # the page again, after the change
ACTION_ACCESS = [
    *[(action, "anonymous", LOGIN) for action in ACTIONS],
    *[(action, "support", 403) for action in ACTIONS],
    *[(action, "scoped", 404) for action in ACTIONS],
    *[(action, "finance", DONE) for action in ACTIONS],
    ("release deposit", "in_scope", DONE),
    ("reject withdrawal", "in_scope", DONE),
    ("enter withdrawal", "in_scope", DONE),
    ("release deposit", "compliance", 403),  # sees payments and may reject withdrawals; not deposits
    ("return deposit", "compliance", 403),
    ("reject withdrawal", "compliance", DONE),
    ("enter withdrawal", "compliance", 403),
    ("resolve break", "compliance", 403),
    ("reject withdrawal", "risk", 404),  # read-only: nothing to act on, as accounts' client_get_for
    ("approve withdrawal", "in_scope", 409),  # no role, so not a checker: the engine refuses
    ("approve withdrawal", "compliance", 409),  # the first level is finance's
]


@pytest.mark.parametrize(("action", "persona", "status"), ACTION_ACCESS)
def test_action_access(action: str, persona: str, status: int) -> None:
    w = world()
    url, data = ACTIONS[action]
    response = w.http(persona).post(url(w), data(w))
    assert response.status_code == status
    assert _went_to_login(response) == (persona == "anonymous")
    w.held.refresh_from_db()
    w.withdrawal.refresh_from_db()
    changed = (
        w.held.status != DepositStatus.REVIEW
        or w.withdrawal.status != WithdrawalStatus.UNDER_REVIEW
        or Withdrawal.objects.count() != 1
        or w.brk.__class__.objects.get(pk=w.brk.pk).resolved_at is not None
        or ApprovalDecision.objects.exists()
    )
    assert changed == (status == DONE and persona != "anonymous")


# --- the API --------------------------------------------------------------------------------------

API = "/api/v1/staff/withdrawals/"


def _api(w: World, persona: str) -> APIClient:
    api = APIClient()
    user = w.user(persona)
    if user is not None:
        sign_in(api, user)
    return api


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 401), ("support", 403), ("scoped", 200), ("in_scope", 200), ("finance", 200), ("risk", 200)],
)
def test_api_list_access(persona: str, status: int) -> None:
    w = world()
    response = _api(w, persona).get(API)
    assert response.status_code == status
    if status == 200:
        listed = {row["reference"] for row in response.json()["results"]}
        assert (w.withdrawal.reference in listed) == (persona != "scoped")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 401), ("support", 403), ("scoped", 404), ("in_scope", 200), ("finance", 200), ("compliance", 200)],
)
def test_api_detail_access(persona: str, status: int) -> None:
    w = world()
    assert _api(w, persona).get(f"{API}{w.withdrawal.pk}/").status_code == status


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 401), ("support", 403), ("risk", 403), ("scoped", 404), ("in_scope", 201), ("finance", 201)],
)
def test_api_create_access(persona: str, status: int) -> None:
    w = world()
    body = {
        "client": w.payer.reference, "source": wallet_for(client=w.payer, currency="EUR").code, "amount": "50.00",
        "method": "card", "destination": w.card, "destination_name": w.payer.display_name,
    }  # fmt: skip
    response = _api(w, persona).post(API, body, format="json")
    assert response.status_code == status
    assert Withdrawal.objects.count() == (2 if status == 201 else 1)
