"""Schemathesis against the live OpenAPI schema: every operation, data that fits the schema and data
that does not, sent through the WSGI application as the personas of ``tests/personas.py``
(session cookie and CSRF token, as a browser's script would) and with API keys (a support
member's key with every staff scope, and a partner's key, an outsider to the staff API): not one
server error. The client-area operations are run again as the client area's key and as an outsider's
key (a partner's), checking also that every answer is one the document describes (status, and body
against its schema): not one server error, not one schema violation.

The schema is fetched the way a signed-in caller fetches it (it is staff-only). Examples are few
(``PERSONA_EXAMPLES`` per operation and generation mode, each sent as one persona drawn with the
request, every persona drawn somewhere; ``MAX_EXAMPLES`` for the client area and partner doors, each
sent as both callers) to stay under about a minute; the hostile values a person would try first are
in tests/test_api_hostile_input.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client as HttpClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ops.roles import Role
from tests.api.keys import client_area_key
from tests.factories import approved_client, card_deposit, staff
from tests.ib.factories import tree
from tests.personas import PERSONAS, persona_user, sign_in

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 8
PERSONA_EXAMPLES = 16  # per operation and mode (twice MAX_EXAMPLES), each as a drawn persona (of 13)
CSRF = "x" * 32  # a CSRF secret sent as cookie and header, as Django's own JavaScript does


def _session(user: Any) -> dict[str, dict[str, str]]:
    """The persona's session as a browser holds it (cookies, and the CSRF token a script sends);
    anonymous: no session, only the CSRF pair."""
    cookies = {settings.CSRF_COOKIE_NAME: CSRF}
    if user is not None:
        http = sign_in(HttpClient(), user)
        cookies[settings.SESSION_COOKIE_NAME] = http.cookies[settings.SESSION_COOKIE_NAME].value
    return {"cookies": cookies, "headers": {"X-CSRFToken": CSRF}}


def _key(owner: Any, scopes: list[str], *, kind: str) -> dict[str, dict[str, str]]:
    """A key asked for by one administrator and approved by another, as a machine sends it."""
    from ops.services.api_keys import api_key_request
    from ops.services.approvals import approval_decide

    made = api_key_request(
        maker=staff(Role.ADMIN, username=f"key-maker-{kind}"), name=f"schemathesis {kind}", owner_kind=kind,
        owner=owner, scopes=scopes, allowed_ips=[], expires_at=None, rate_per_minute=100_000, reason="fuzzing",
    )  # fmt: skip
    checker = staff(Role.ADMIN, username=f"key-checker-{kind}")
    approval_decide(request_id=made.approval.pk, checker=checker, decision="approve", reason="fuzzing")
    return {"headers": {"Authorization": f"Bearer {made.token}"}}


def _live_schema() -> dict[str, Any]:
    http = sign_in(HttpClient(), staff(Role.SUPPORT, username="schema-reader"))
    response = http.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@contextmanager
def kept_connection() -> Iterator[None]:
    """Requests through Django's WSGI application keep the test's database connection (as the test
    client's handler does: a real request's end closes it). The test client's own requests put the
    signals back, so this wraps only the WSGI calls."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_schemathesis_finds_no_server_error_as_any_persona() -> None:
    c = approved_client(provision=False)
    card_deposit(c, "1000.00")  # something to list, fetch and withdraw
    personas = {name: _session(persona_user(name)) for name in PERSONAS}
    staff_scopes = ["clients:read", "clients:write", "payments:read", "payments:write", "reports:read"]
    personas["key:support"] = _key(staff(Role.SUPPORT, username="key-owner"), staff_scopes, kind="staff")
    (partner,) = tree("FUZZ")
    personas["key:partner"] = _key(partner, ["partner:read"], kind="partner")
    schema = schemathesis.openapi.from_dict(_live_schema())
    schema.app = get_wsgi_application()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 7
    answers: set[tuple[str, int]] = set()
    seen: set[str] = set()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # each example is sent as one persona that hypothesis draws (and shrinks) with the request:
            # what each persona may reach is test_access's exact statuses; here, odd input to any door
            @given(case=operation.as_strategy(generation_mode=mode), who=st.sampled_from(sorted(personas)))
            @hypothesis_settings(
                max_examples=PERSONA_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any, who: str) -> None:
                response = case.call_and_validate(**personas[who], checks=[not_a_server_error])
                answers.add((case.method.upper(), response.status_code))
                seen.add(who)

            with kept_connection():
                run()
    assert seen == set(personas)
    # the calls got past sign-in and CSRF to the endpoints' own answers
    assert {("GET", 200), ("GET", 401), ("GET", 403), ("GET", 404), ("POST", 400), ("POST", 403)} <= answers


CLIENT_AREA = "/api/v1/client-area/"


def test_schemathesis_client_area_answers_as_documented_for_its_key_and_an_outsider() -> None:
    c = approved_client(provision=True)
    card_deposit(c, "1000.00")  # a wallet to read, withdraw from and move to the trading account
    callers = {"key:client_area": {"headers": {"Authorization": f"Bearer {client_area_key(rate=100_000)}"}}}
    (partner,) = tree("OUTS")
    callers["key:outsider"] = _key(partner, ["partner:read"], kind="partner")
    schema = schemathesis.openapi.from_dict(_live_schema())
    schema.app = get_wsgi_application()
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())  # type: ignore[union-attr]
        if op.path.startswith(CLIENT_AREA)
    ]
    assert len(operations) == 14  # a new client-area operation: count it here once it is exercised
    answers: set[tuple[str, str, int]] = set()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                positive = mode == GenerationMode.POSITIVE  # noqa: B023 - run() is called in this same iteration
                if positive and "client_id" in (case.path_parameters or {}):
                    case.path_parameters["client_id"] = c.pk  # a client that exists: past the 404
                for name, caller in callers.items():
                    response = case.call_and_validate(
                        **caller, checks=[not_a_server_error, response_schema_conformance]
                    )
                    answers.add((name, case.method.upper(), response.status_code))

            with kept_connection():
                run()
    assert {
        ("key:client_area", "GET", 200),
        ("key:client_area", "GET", 404),
        ("key:client_area", "POST", 400),
    } <= answers
    assert {status for name, _, status in answers if name == "key:outsider"} == {403}


# --- the partner API (issue 16): as an authorised partner's key and as an outsider partner's key ---------

PARTNER_API = "/api/v1/partner/"


def _partner_key(partner: Any) -> dict[str, str]:
    """A partner's read and write key, asked for by one administrator and approved by another."""
    from ops.services.api_keys import api_key_request
    from ops.services.approvals import approval_decide

    made = api_key_request(
        maker=staff(Role.ADMIN), name=f"schemathesis {partner.code}", owner_kind="partner", owner=partner,
        scopes=["partner:read", "partner:write"], allowed_ips=[], expires_at=None, rate_per_minute=100_000,
        reason="fuzzing",
    )  # fmt: skip
    approval_decide(request_id=made.approval.pk, checker=staff(Role.ADMIN), decision="approve", reason="fuzzing")
    return {"Authorization": f"Bearer {made.token}"}


def test_schemathesis_partner_api_as_its_partner_and_as_an_outsider() -> None:
    """Every partner operation, generated data that fits the schema and data that does not, sent
    with the partner's own key (read and write) and with another partner's key: no server error,
    and every answer (200, 201, 4xx problems) as the schema documents it. Then each detail
    operation on the partner's real objects: 200 for the partner, 404 for the outsider, both as
    documented."""
    from schemathesis.checks import response_schema_conformance, status_code_conformance

    from ib.models import Statement
    from ib.services.disputes import dispute_raise
    from tests.ib.factories import plan
    from tests.ib.lines import line

    a, b = tree("SCHA", "SCHB")
    (outsider,) = tree("SCHX")
    version = plan("SCHP")
    ca = approved_client(provision=False, referral_code="SCHA")
    cb = approved_client(provision=False, referral_code="SCHB")
    approved_client(provision=False, referral_code="SCHX")
    mine = line(a, ca, "8.00", version=version)
    line(a, cb, "2.40", version=version, level=1, tree=[b.pk, a.pk])
    dispute = dispute_raise(line=mine, claim="short paid", actor=staff(Role.SUPPORT, username="schema-disputer"))
    statement = Statement.objects.create(
        partner=a, period_start=mine.earned_on, period_end=mine.earned_on, currency="EUR", lines_count=1,
        total=mine.amount, sha256="0" * 64,
    )  # fmt: skip
    callers = {
        "partner": _partner_key(a),
        "outsider": _partner_key(outsider),
    }
    schema = schemathesis.openapi.from_dict(_live_schema())
    schema.app = get_wsgi_application()
    operations = [
        result.ok()  # type: ignore[union-attr]
        for result in schema.get_all_operations()
        if result.ok().path.startswith(PARTNER_API)  # type: ignore[union-attr]
    ]
    assert len(operations) == 13
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance]
    answers: set[tuple[str, str, int]] = set()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                for name, caller in callers.items():
                    response = case.call_and_validate(headers=caller, checks=checks)
                    answers.add((name, case.method.upper(), response.status_code))

            with kept_connection():
                run()

    objects = {
        "clients/{reference}/": {"reference": ca.reference},
        "commission-lines/{id}/": {"id": mine.pk},
        "statements/{id}/": {"id": statement.pk},
        "disputes/{reference}/": {"reference": dispute.reference},
    }
    details = {op.path.removeprefix(PARTNER_API): op for op in operations if "{" in op.path}
    assert set(objects) <= set(details), details
    with kept_connection():
        for path, parameters in objects.items():
            for name, expected in (("partner", 200), ("outsider", 404)):
                case = details[path].Case(path_parameters=parameters)
                response = case.call_and_validate(headers=callers[name], checks=checks)
                assert response.status_code == expected, (path, name, response.text[:300])
    assert {("partner", "GET", 200), ("outsider", "GET", 200), ("partner", "GET", 404), ("outsider", "GET", 404)} <= (
        answers
    )
    assert ("partner", "POST", 400) in answers
