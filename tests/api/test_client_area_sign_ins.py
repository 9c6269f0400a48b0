"""The portal reports its end users' sign-ins (successful and failed) through the client-area API:
stored append-only with the time, IP address, user agent and device (the fingerprint it sends, else
a hash of the user agent); bad input is a 400 naming the field with nothing stored; other callers
get their exact status."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from accounts import errors
from accounts.models import ClientSignIn
from tests.api.keys import approved_key, client_area_key
from tests.api.test_client_area import BASE, Portal, problem
from tests.factories import approved_client
from tests.ib.factories import tree

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal() -> Portal:
    return Portal(client_area_key())


UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_good_sign_ins_are_recorded_with_the_fingerprint_or_a_hash_of_the_user_agent(portal: Portal) -> None:
    c = approved_client(provision=False)
    url = f"{BASE}{c.pk}/sign-ins/"
    good = portal.post(
        url, {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA, "device_fingerprint": "fp-1"},
        key="signin-1",
    )  # fmt: skip
    assert good.status_code == 201, good.content
    assert (good.json()["device_id"], good.json()["outcome_display"]) == ("fp-1", "Signed in")
    earlier = (timezone.now() - timedelta(hours=3)).isoformat()
    failed = portal.post(
        url, {"outcome": "failed", "failure_reason": "wrong_password", "ip_address": "2001:db8::1", "user_agent": UA,
              "at": earlier}, key="signin-2",
    )  # fmt: skip
    assert failed.status_code == 201, failed.content
    assert failed.json()["device_id"] == "ua:" + hashlib.sha256(UA.encode()).hexdigest()[:40]
    replay = portal.post(
        url, {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA, "device_fingerprint": "fp-1"},
        key="signin-1",
    )  # fmt: skip
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    rows = list(ClientSignIn.objects.filter(client=c).order_by("at"))
    assert [(r.outcome, r.ip_address, r.device_source) for r in rows] == [
        ("failed", "2001:db8::1", "user_agent"), ("succeeded", "203.0.113.7", "fingerprint"),
    ]  # fmt: skip
    assert rows[1].reported_by  # the portal's key
    listed = portal.get(url)
    assert listed.status_code == 200
    assert [r["outcome"] for r in listed.json()["results"]] == ["failed", "succeeded"]  # newest id first


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"outcome": "maybe"}, "outcome", None),
        ({"ip_address": "not-an-ip"}, "ip_address", errors.SIGN_IN_IP),
        ({"outcome": "failed"}, "failure_reason", errors.SIGN_IN_REASON_REQUIRED),
        ({"failure_reason": "wrong_password"}, "failure_reason", errors.SIGN_IN_REASON_ON_SUCCESS),
        ({"at": "2020-01-01T00:00:00Z"}, "at", errors.SIGN_IN_TOO_OLD.format(days=7)),
        ({"at": "2999-01-01T00:00:00Z"}, "at", errors.SIGN_IN_FUTURE),
        ({"user_agent": "x" * 600}, "user_agent", None),
        ({"devce": "typo"}, "devce", None),
    ],
)
def test_bad_sign_in_is_a_400_naming_the_field_and_stores_nothing(
    portal: Portal, body: dict, field: str, message: str | None
) -> None:
    c = approved_client(provision=False)
    base = {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA}
    errors_ = problem(portal.post(f"{BASE}{c.pk}/sign-ins/", base | body), 400)["errors"]
    assert list(errors_) == [field]
    if message:
        assert errors_[field] == [message]
    assert not ClientSignIn.objects.exists()


def test_bad_unknown_client_is_a_404(portal: Portal) -> None:
    body = {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA}
    problem(portal.post(f"{BASE}999999/sign-ins/", body), 404)
    assert not ClientSignIn.objects.exists()


def test_bad_no_key_401_partner_key_403() -> None:
    c = approved_client(provision=False)
    body = {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA}
    problem(HttpClient().post(f"{BASE}{c.pk}/sign-ins/", body, content_type="application/json"), 401)
    (partner,) = tree("SIGNP")
    token = approved_key(partner, ["partner:read", "partner:write"], kind="partner")
    problem(Portal(token).post(f"{BASE}{c.pk}/sign-ins/", body), 403)
    assert not ClientSignIn.objects.exists()


# --- where the portal's edge placed the address ---------------------------------------------------


def test_good_the_country_is_stored_named_and_shown_in_the_clients_sign_in_history(portal: Portal) -> None:
    from ops.roles import Role
    from tests.factories import staff
    from tests.personas import sign_in

    c = approved_client(provision=False, country="GB")
    url = f"{BASE}{c.pk}/sign-ins/"
    body = {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA}
    abroad = portal.post(url, body | {"country": "pt"}, key="signin-country-1")  # a CDN header, any case
    assert abroad.status_code == 201, abroad.content
    assert (abroad.json()["country"], abroad.json()["country_name"]) == ("PT", "Portugal")
    home = portal.post(url, body | {"country": "GB"}, key="signin-country-2")
    unknown = portal.post(url, body, key="signin-country-3")  # the edge could not place it: left out
    assert (home.status_code, unknown.status_code) == (201, 201)
    assert unknown.json()["country"] == "" and unknown.json()["country_name"] == ""
    assert list(ClientSignIn.objects.filter(client=c).order_by("id").values_list("country", flat=True)) == [
        "PT", "GB", "",
    ]  # fmt: skip
    listed = portal.get(url).json()["results"]
    assert [r["country_name"] for r in listed] == ["", "United Kingdom", "Portugal"]
    page = sign_in(HttpClient(), staff(Role.SUPPORT, username="desk")).get(f"/clients/{c.pk}/").content.decode()
    countries = [cell.split(">", 1)[1].split("</td>", 1)[0] for cell in page.split('data-testid="sign-in-country"')[1:]]
    assert "Portugal" in countries[2] and "not the country of residence" in countries[2]
    assert countries[1].startswith("United Kingdom") and "not the country" not in countries[1]
    assert "—" in countries[0]


@pytest.mark.parametrize("country", ["XX", "T1", "GER", "G1", "ZZ", "12"])
def test_bad_country_is_a_400_naming_the_field_and_stores_nothing(portal: Portal, country: str) -> None:
    c = approved_client(provision=False)
    body = {"outcome": "succeeded", "ip_address": "203.0.113.7", "user_agent": UA, "country": country}
    errors_ = problem(portal.post(f"{BASE}{c.pk}/sign-ins/", body), 400)["errors"]
    assert errors_ == {"country": [errors.SIGN_IN_COUNTRY]}
    assert not ClientSignIn.objects.exists()


def test_good_openapi_documents_the_country_in_and_out() -> None:
    from tests.test_api_schemathesis import _live_schema

    schema = _live_schema()["components"]["schemas"]
    country_in = schema["SignInIn"]["properties"]["country"]
    assert "ISO 3166-1 alpha-2" in country_in["description"] and "CF-IPCountry" in country_in["description"]
    assert "country" not in schema["SignInIn"]["required"]
    out = schema["SignInOut"]
    assert {"country", "country_name"} <= set(out["properties"]) and {"country", "country_name"} <= set(out["required"])
