"""The staff client API: personas get 401 / 403 / 404, then success once they hold the role;
errors are problem details naming the field."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from guardian.shortcuts import assign_perm

from accounts.models import Client, ClientStatus
from ops.roles import Role
from tests.factories import approvable_client as client
from tests.factories import kyc_ready, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "kind": "individual",
    "first_name": "Grace",
    "last_name": "Hopper",
    "date_of_birth": "1976-12-09",
    "country": "US",
    "email": "grace@example.test",
    "phone": "+1 202 555 0143",
    "account_type": "pro",
    "base_currency": "USD",
}


def test_anonymous_gets_401_and_no_data(client: HttpClient) -> None:
    response = client.get("/api/v1/staff/clients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"


def test_read_only_staff_lists_and_reads_but_may_not_create(client: HttpClient) -> None:
    c = client_obj()
    sign_in(client, staff(Role.RISK))  # may view client status, may not manage clients
    listed = client.get("/api/v1/staff/clients/").json()
    assert [row["reference"] for row in listed["results"]] == [c.reference] and listed["next"] is None
    assert client.get(f"/api/v1/staff/clients/{c.pk}/").json()["status"] == "registered"
    refused = client.post("/api/v1/staff/clients/", PAYLOAD, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["status"] == 403
    assert Client.objects.count() == 1


def test_outsider_sees_404_for_a_client_it_was_not_given(client: HttpClient) -> None:
    c = client_obj()
    outsider = staff()  # no role
    sign_in(client, outsider)
    assert client.get(f"/api/v1/staff/clients/{c.pk}/").status_code == 403  # no role at all: refused outright
    # a desk-scoped viewer: per-object permission on one client only
    scoped = staff()
    assign_perm("accounts.view_client_record", scoped, c)
    other = client_obj()
    from accounts.selectors import client_get_for

    assert client_get_for(scoped, c.pk, for_write=False) == c
    with pytest.raises(Exception, match="No such client"):
        client_get_for(scoped, other.pk, for_write=False)


def test_create_then_move_through_the_lifecycle(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    created = client.post("/api/v1/staff/clients/", PAYLOAD, content_type="application/json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["phone"] == "+12025550143" and body["status"] == "registered" and body["account_type"] == "pro"
    pk = body["id"]
    assert (
        client.post(
            f"/api/v1/staff/clients/{pk}/transitions/",
            {"transition": "submit_for_review"},
            content_type="application/json",
        ).status_code
        == 200
    )
    refused = client.post(
        f"/api/v1/staff/clients/{pk}/transitions/", {"transition": "approve"}, content_type="application/json"
    )
    assert refused.status_code == 403 and "may not approve" in refused.json()["detail"]
    kyc_ready(Client.objects.get(pk=pk))  # documents accepted, risk assessed (tested in tests/kyc)
    sign_in(client, staff(Role.COMPLIANCE))
    approved = client.post(
        f"/api/v1/staff/clients/{pk}/transitions/", {"transition": "approve"}, content_type="application/json"
    )
    assert approved.status_code == 200 and approved.json()["status"] == ClientStatus.APPROVED
    assert approved.json()["trading_accounts"][0]["status"] == "pending"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "555"}, "phone"),
        ({"base_currency": "ZZZ"}, "base_currency"),
        ({"account_type": "platinum"}, "account_type"),
        ({"email": "not-an-email"}, "email"),
        ({"date_of_birth": "31/12/1990"}, "date_of_birth"),
        ({"first_name": "Ada\x00"}, "first_name"),  # a NUL byte: Postgres cannot store it
        ({"city": "Lon\x00don"}, "city"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(client: HttpClient, change: dict[str, str], field: str) -> None:
    sign_in(client, staff(Role.SUPPORT))
    response = client.post("/api/v1/staff/clients/", PAYLOAD | change, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Bad Request" and field in problem["errors"]
    assert not Client.objects.exists()


def test_missing_reason_on_restrict_is_a_400(client: HttpClient) -> None:
    c = client_obj()
    sign_in(client, staff(Role.COMPLIANCE))
    for name in ("submit_for_review", "approve"):
        client.post(f"/api/v1/staff/clients/{c.pk}/transitions/", {"transition": name}, content_type="application/json")
    response = client.post(
        f"/api/v1/staff/clients/{c.pk}/transitions/", {"transition": "restrict"}, content_type="application/json"
    )
    assert response.status_code == 400 and "reason is required" in response.json()["errors"]["transition"][0]
    assert Client.objects.get(pk=c.pk).status == ClientStatus.APPROVED


def test_openapi_schema_documents_the_client_endpoints(client: HttpClient) -> None:
    sign_in(client, staff(Role.SUPPORT))
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/staff/clients/" in schema["paths"] and "/api/v1/staff/clients/{id}/transitions/" in schema["paths"]


def client_obj() -> Client:
    return client()


@pytest.mark.parametrize("name", ["q", "status", "kind", "account_type", "country", "risk_level", "manager"])
def test_bad_a_nul_byte_in_a_list_filter_is_a_400_naming_it(client: HttpClient, name: str) -> None:
    sign_in(client, staff(Role.SUPPORT))
    response = client.get("/api/v1/staff/clients/", {name: "a\x00b"})
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert name in response.json()["errors"]
