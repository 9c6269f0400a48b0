"""The staff API's OpenAPI document: staff-only like every page, and every operation declares its
problem+json error responses."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from ops.roles import Role
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db
JSON = "application/vnd.oai.openapi+json"


@pytest.mark.parametrize("accept", [JSON, "application/yaml", "*/*"])
def test_bad_the_schema_needs_a_login(client: HttpClient, accept: str) -> None:
    response = client.get("/api/v1/schema/", HTTP_ACCEPT=accept)
    assert response.status_code == 401  # no session and no key: the Bearer scheme is named
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not_authenticated")


def test_good_any_signed_in_staff_member_reads_the_schema(client: HttpClient) -> None:
    sign_in(client, staff())  # no role needed: the schema says what exists, each endpoint who may use it
    assert client.get("/api/v1/schema/", HTTP_ACCEPT=JSON).status_code == 200


def test_every_operation_declares_its_problem_responses(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT=JSON).json()
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 7
    for path, method, operation in operations:
        codes = ("400", "401", "403", "404", "409", "429") + (("422",) if method != "get" else ())
        for code in codes:
            content = operation["responses"][code]["content"]
            assert list(content) == ["application/problem+json"], (path, method, code)
            assert content["application/problem+json"]["examples"], (path, method, code)
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        assert "x-required-scope" in operation, (path, method)


def test_list_filters_are_in_the_schema(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT=JSON).json()["paths"]
    names = {p["name"] for p in paths["/api/v1/staff/clients/"]["get"]["parameters"]}
    paging = {"cursor", "page_size"}
    assert names == {"q", "status", "kind", "account_type", "country", "risk_level", "manager"} | paging
    assert {p["name"] for p in paths["/api/v1/staff/withdrawals/"]["get"]["parameters"]} == {"status"} | paging


def test_good_a_payment_provider_refusal_is_a_declared_502_problem(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT=JSON).json()["paths"]
    [path] = [p for p in paths if p.startswith("/api/v1/client-area/") and p.endswith("/deposits/")]
    response = paths[path]["post"]["responses"]["502"]
    assert "nothing was charged" in response["description"]
    problem = response["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert problem["examples"]["payment_refused"]["value"]["status"] == 502
