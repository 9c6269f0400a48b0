"""The partner API through HTTP with real keys (asked for by one administrator, approved by
another): a partner sees its own clients and its sub-partners', never another partner's (404 for
each object: client, line, statement, payout, dispute); a key without a partner scope is a 403 naming
it, no key a 401; a dispute raised through the API is audited as the partner; bad input is a 4xx
naming the field and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from ib import errors
from ib.models import CommissionLine, Dispute, DisputeResolution, Partner, Statement
from ib.services.disputes import dispute_raise, dispute_resolve
from ib.services.money import commission_lines_post, commission_payout_request, commissions_release_due
from ops.models import ApprovalRequest, WorkItem
from ops.roles import Role
from ops.services.api_keys import api_key_request
from ops.services.approvals import approval_decide
from tests.factories import approved_client, staff
from tests.ib.factories import deal, plan, tree
from tests.ib.lines import line
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

API = "/api/v1/partner/"
LISTS = ["clients/", "tree/", "commission-lines/", "statements/", "payouts/", "disputes/", "referral-links/"]
TODAY = timezone.localdate()


def key(owner: Any, scopes: list[str], *, kind: str = "partner") -> str:
    """A key asked for by one administrator and approved by another: its secret."""
    made = api_key_request(
        maker=staff(Role.ADMIN), name=f"{kind} key", owner_kind=kind, owner=owner, scopes=scopes, allowed_ips=[],
        expires_at=None, rate_per_minute=None, reason="partner API test",
    )  # fmt: skip
    approval_decide(request_id=made.approval.pk, checker=staff(Role.ADMIN), decision="approve", reason="checked")
    return made.token


def get(token: str | None, path: str) -> Any:
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return HttpClient().get(API + path, **headers)


def post(token: str | None, path: str, body: Any, **headers: Any) -> Any:
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return HttpClient().post(API + path, body, content_type="application/json", **headers)


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://backoffice.invalid/problems/{kind}", body
    return body


@dataclass
class World:
    a: Partner  # the master partner
    b: Partner  # a sub-partner of a
    x: Partner  # an outsider: another partner's tree
    ca: Any  # a's own client
    cb: Any  # b's client
    cx: Any  # x's client
    line_a: CommissionLine  # a's line on ca's deal
    line_a_via_b: CommissionLine  # a's level-1 share of cb's deal
    line_x: CommissionLine
    key_a: str  # partner:read + partner:write
    key_b: str  # partner:read
    key_x: str  # partner:read + partner:write


@pytest.fixture
def world() -> World:
    a, b = tree("PAA", "PAB")
    (x,) = tree("PAX")
    version = plan("PAPI")
    ca = approved_client(provision=False, referral_code="PAA")
    cb = approved_client(provision=False, referral_code="PAB")
    cx = approved_client(provision=False, referral_code="PAX")
    line_a = line(a, ca, "8.00", version=version, available_on=TODAY)
    own = line(b, cb, "4.00", version=version, tree=[b.pk, a.pk])
    line_a_via_b = line(a, cb, "2.40", version=version, deal=own.deal, level=1, tree=[b.pk, a.pk])
    line_x = line(x, cx, "5.00", version=version)
    return World(
        a, b, x, ca, cb, cx, line_a, line_a_via_b, line_x,
        key(a, ["partner:read", "partner:write"]), key(b, ["partner:read"]), key(x, ["partner:read", "partner:write"]),
    )  # fmt: skip


def _refs(response: Any, field: str = "reference") -> list[Any]:
    assert response.status_code == 200, response.content[:500]
    return [row[field] for row in response.json()["results"]]


# --- who gets in -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LISTS)
def test_bad_no_key_is_a_401(path: str) -> None:
    response = get(None, path)
    problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("path", LISTS)
def test_bad_a_key_without_partner_scopes_is_a_403_naming_the_scope(path: str) -> None:
    token = key(staff(Role.SUPPORT), ["clients:read"], kind="staff")
    body = problem(get(token, path), 403, "api_key_scope_missing")
    assert body["required_scope"] == "partner:read"
    assert "partner:read" in body["detail"]


def test_bad_a_read_only_partner_key_cannot_raise_a_dispute(world: World) -> None:
    before = Dispute.objects.count()
    body = problem(post(world.key_b, "disputes/", {"line": 1, "reason": "x"}), 403, "api_key_scope_missing")
    assert body["required_scope"] == "partner:write"
    assert Dispute.objects.count() == before


def test_bad_a_staff_session_is_not_a_partner() -> None:
    http = sign_in(HttpClient(), staff(Role.SUPPORT))
    body = problem(http.get(API + "clients/"), 403, "permission_denied")
    assert body["detail"] == errors.PARTNER_API_ONLY


# --- clients: mine and my sub-partners', nobody else's --------------------------------------------------


def test_good_partner_sees_its_clients_and_its_sub_partners(world: World) -> None:
    response = get(world.key_a, "clients/")
    rows = {row["reference"]: row for row in response.json()["results"]}
    assert response.status_code == 200
    assert set(rows) == {world.ca.reference, world.cb.reference}
    mine, below = rows[world.ca.reference], rows[world.cb.reference]
    assert mine["partner"] == {"code": "PAA", "name": "Partner PAA", "level": 0}
    assert below["partner"] == {"code": "PAB", "name": "Partner PAB", "level": 1}
    assert mine["display_name"] == world.ca.display_name
    assert mine["status"] == "Approved" and mine["country"] == "GB"
    assert set(mine) == {
        "reference", "display_name", "country", "status", "status_code", "registered_at", "attributed_since",
        "campaign", "partner",
    }  # fmt: skip  # no birth date, address, e-mail, phone or documents


def test_good_a_sub_partner_does_not_see_upwards(world: World) -> None:
    assert _refs(get(world.key_b, "clients/")) == [world.cb.reference]
    assert get(world.key_b, f"clients/{world.cb.reference}/").status_code == 200
    problem(get(world.key_b, f"clients/{world.ca.reference}/"), 404, "not_found")


def test_good_the_master_opens_a_sub_partners_client(world: World) -> None:
    response = get(world.key_a, f"clients/{world.cb.reference}/")
    assert response.status_code == 200
    assert response.json()["partner"]["code"] == "PAB"


def test_bad_outsider_gets_404_for_another_partners_client(world: World) -> None:
    problem(get(world.key_x, f"clients/{world.ca.reference}/"), 404, "not_found")
    problem(get(world.key_x, f"clients/{world.cb.reference}/"), 404, "not_found")
    assert _refs(get(world.key_x, "clients/")) == [world.cx.reference]


def test_bad_a_client_attributed_elsewhere_since_is_no_longer_visible(world: World) -> None:
    from django.db.models import F

    from ib.models import Attribution

    # ended just after it began (the period's check wants an end after the start), so already over now
    Attribution.objects.filter(client=world.ca).update(valid_to=F("valid_from") + timedelta(microseconds=1))
    problem(get(world.key_a, f"clients/{world.ca.reference}/"), 404, "not_found")


def test_bad_odd_references_are_404_not_errors(world: World) -> None:
    problem(get(world.key_a, "clients/C%00X/"), 404, "not_found")
    problem(get(world.key_a, "clients/" + "9" * 60 + "/"), 404, "not_found")


def test_good_cursor_pagination_walks_every_client_once(world: World) -> None:
    seen: list[str] = []
    url: str | None = API + "clients/?page_size=1"
    while url:
        body = HttpClient().get(url, HTTP_AUTHORIZATION=f"Bearer {world.key_a}").json()
        seen += [row["reference"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted([world.ca.reference, world.cb.reference])
    problem(get(world.key_a, "clients/?cursor=nonsense"), 400, "invalid")


# --- the tree ------------------------------------------------------------------------------------------


def test_good_tree_lists_sub_partners_with_their_level(world: World) -> None:
    (c,) = tree("PAC")
    from ib.services.partners import partner_create

    deeper = partner_create(name="Partner PAD", code="PAD", parent_id=world.b.pk, actor=staff(Role.SUPPORT))
    response = get(world.key_a, "tree/")
    assert response.status_code == 200
    rows = [(r["code"], r["level"], r["parent"], r["clients_now"]) for r in response.json()["results"]]
    assert rows == [("PAB", 1, "PAA", 1), ("PAD", 2, "PAB", 0)]
    assert [r["code"] for r in get(world.key_b, "tree/").json()["results"]] == [deeper.code]
    assert get(world.key_x, "tree/").json()["results"] == []
    assert c.code not in str(get(world.key_a, "tree/").json())


# --- commission lines and their derivation -----------------------------------------------------------------


def test_good_lines_carry_their_derivation_in_minor_units(world: World) -> None:
    response = get(world.key_a, "commission-lines/")
    rows = {row["id"]: row for row in response.json()["results"]}
    assert response.status_code == 200
    assert set(rows) == {world.line_a.pk, world.line_a_via_b.pk}
    mine = rows[world.line_a.pk]
    assert (mine["amount_minor"], mine["currency"], mine["level"], mine["kind"]) == (800, "EUR", 0, "Deal commission")
    derivation = mine["derivation"]
    assert derivation["deal"]["deal_id"] == world.line_a.deal.deal_id  # type: ignore[union-attr]
    assert derivation["client"] == world.ca.reference
    assert derivation["plan"] == {"code": "PAPI", "name": "Plan PAPI", "version": 1}
    assert (derivation["rule"]["rate"], derivation["rule"]["level_share"]) == ("8", "50")
    assert derivation["base_amount_minor"] == 800
    via_b = rows[world.line_a_via_b.pk]
    assert (via_b["level"], via_b["derivation"]["introduced_by"]["code"]) == (1, "PAB")
    assert via_b["derivation"]["rule"]["level_share"] == "30"


def test_good_lines_filter_by_period(world: World) -> None:
    old = line(world.a, world.ca, "1.00")
    CommissionLine.objects.filter(pk=old.pk).update(earned_on=TODAY - timedelta(days=40))
    start = (TODAY - timedelta(days=45)).isoformat()
    end = (TODAY - timedelta(days=35)).isoformat()
    assert _refs(get(world.key_a, f"commission-lines/?period_start={start}&period_end={end}"), "id") == [old.pk]
    assert old.pk not in _refs(get(world.key_a, f"commission-lines/?period_start={TODAY - timedelta(days=2)}"), "id")


def test_bad_period_that_is_no_date_is_a_400_naming_it(world: World) -> None:
    body = problem(get(world.key_a, "commission-lines/?period_start=2026-13-45"), 400, "invalid")
    assert list(body["errors"]) == ["period_start"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("period_start=a%00b", "period_start"),
        ("period_end=" + "9" * 40, "period_end"),
        ("status=%ED%A0%80", "status"),
        ("kind=bonus", "kind"),
        ("page_size=0", "page_size"),
        ("cursor=x%00", "cursor"),
    ],
)
def test_bad_list_parameters_are_a_400_naming_them(world: World, query: str, parameter: str) -> None:
    body = problem(get(world.key_a, f"commission-lines/?{query}"), 400, "invalid")
    assert list(body["errors"]) == [parameter]


def test_bad_outsider_gets_404_for_another_partners_line(world: World) -> None:
    assert get(world.key_a, f"commission-lines/{world.line_a.pk}/").status_code == 200
    problem(get(world.key_x, f"commission-lines/{world.line_a.pk}/"), 404, "not_found")
    problem(get(world.key_b, f"commission-lines/{world.line_a_via_b.pk}/"), 404, "not_found")  # a's share


# --- statements and payouts ------------------------------------------------------------------------------


def test_good_statements_are_the_partners_own_and_outsiders_get_404(world: World) -> None:
    mine = Statement.objects.create(
        partner=world.a, period_start=TODAY.replace(day=1), period_end=TODAY, currency="EUR", lines_count=2,
        total=Decimal("10.40"), sha256="a" * 64,
    )  # fmt: skip
    Statement.objects.create(
        partner=world.x, period_start=TODAY.replace(day=1), period_end=TODAY, currency="EUR", lines_count=1,
        total=Decimal("5.00"), sha256="b" * 64,
    )  # fmt: skip
    rows = get(world.key_a, "statements/").json()["results"]
    assert [(r["id"], r["total_minor"], r["lines_count"]) for r in rows] == [(mine.pk, 1040, 2)]
    assert get(world.key_a, f"statements/{mine.pk}/").status_code == 200
    problem(get(world.key_x, f"statements/{mine.pk}/"), 404, "not_found")


def test_good_payouts_follow_the_approval_and_outsiders_get_404(world: World) -> None:
    own = approved_client(provision=False)
    Partner.objects.filter(pk=world.a.pk).update(client=own)
    commission_lines_post()
    commissions_release_due(today=TODAY)
    a = Partner.objects.get(pk=world.a.pk)
    request = commission_payout_request(partner=a, currency="EUR", actor=staff(Role.FINANCE), reason="monthly")
    rows = get(world.key_a, "payouts/").json()["results"]
    assert [(r["id"], r["status"], r["amount_minor"], r["currency"]) for r in rows] == [
        (request.pk, "Waiting for approval", 800, "EUR")
    ]
    approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    paid = get(world.key_a, f"payouts/{request.pk}/")
    assert paid.status_code == 200
    assert (paid.json()["status"], paid.json()["status_code"]) == ("Paid to your wallet", "executed")
    problem(get(world.key_x, f"payouts/{request.pk}/"), 404, "not_found")
    problem(get(world.key_b, f"payouts/{request.pk}/"), 404, "not_found")
    assert get(world.key_x, "payouts/").json()["results"] == []
    assert ApprovalRequest.objects.filter(pk=request.pk).exists()


# --- disputes: raise and follow ------------------------------------------------------------------------


def test_good_partner_raises_a_dispute_audited_as_the_partner_and_follows_it(world: World) -> None:
    response = post(
        world.key_a,
        "disputes/",
        {"line": world.line_a.pk, "reason": "8.00 per lot, not 6.00", "claimed_amount": "2.00"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["line"], body["reason"], body["claimed_amount"]) == (
        "Open", world.line_a.pk, "8.00 per lot, not 6.00", "2.00",
    )  # fmt: skip
    dispute = Dispute.objects.get(reference=body["reference"])
    assert (dispute.partner_id, dispute.work_item.queue.code) == (world.a.pk, "ib_dispute")
    event = AuditEvent.objects.get(action=AuditAction.DISPUTE_RAISED, subject_id=str(dispute.pk))
    assert (event.actor_kind, event.actor_id) == ("partner", str(world.a.pk))
    assert event.actor_label.startswith("partner:PAA (API key ")

    dispute_resolve(dispute_id=dispute.pk, actor=staff(Role.FINANCE), resolution=DisputeResolution.CORRECT_AS_PAID,
                    note="The plan pays 6.00 on this symbol group.")  # fmt: skip
    followed = get(world.key_a, f"disputes/{dispute.reference}/").json()
    assert (followed["status"], followed["resolution"]) == ("Resolved", "Correct as paid")
    assert [e["status"] for e in followed["timeline"]] == ["Open", "Resolved"]
    assert followed["timeline"][-1]["text"] == "Resolved: Correct as paid. The plan pays 6.00 on this symbol group."
    assert _refs(get(world.key_a, "disputes/")) == [dispute.reference]


def test_good_partner_disputes_a_deal_that_earned_nothing(world: World) -> None:
    unearned = deal(world.ca, closed_at=timezone.now())  # after ca was introduced by a
    response = post(world.key_a, "disputes/", {"deal": unearned.deal_id, "reason": "This deal earned me nothing."})
    assert response.status_code == 201, response.content
    assert (response.json()["deal"], response.json()["line"]) == (unearned.deal_id, None)


def test_bad_outsider_gets_404_for_another_partners_dispute(world: World) -> None:
    theirs = dispute_raise(line=world.line_x, claim="short paid", actor=staff(Role.SUPPORT))
    assert get(world.key_x, f"disputes/{theirs.reference}/").status_code == 200
    problem(get(world.key_a, f"disputes/{theirs.reference}/"), 404, "not_found")
    assert get(world.key_a, "disputes/").json()["results"] == []


def _unchanged() -> tuple[int, int, int]:
    return Dispute.objects.count(), WorkItem.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"line": 0, "reason": "x", "colour": "red"}, 400, "colour"),
        ({"line": "1", "reason": "x"}, 400, "line"),
        ({"line": 1.0, "reason": "x"}, 400, "line"),
        ({"line": True, "reason": "x"}, 400, "line"),
        ({"line": 10**30, "reason": "x"}, 400, "line"),
        ({"reason": "what line?"}, 400, "line"),
        ({"line": 1, "reason": 12}, 400, "reason"),
        ({"line": 1, "reason": "   "}, 400, "reason"),
        ({"line": 1, "reason": "x", "claimed_amount": "1.234"}, 400, "claimed_amount"),
        ({"line": 1, "reason": "x", "claimed_amount": "-5"}, 400, "claimed_amount"),
        ({"line": 1, "reason": "x", "claimed_amount": 5}, 400, "claimed_amount"),
        ({"line": 1, "reason": "x", "claimed_amount": "NaN"}, 400, "claimed_amount"),
    ],
)
def test_bad_dispute_input_is_a_400_naming_the_field_nothing_changed(
    world: World, body: dict[str, Any], status: int, field: str
) -> None:
    before = _unchanged()
    response = post(world.key_a, "disputes/", body)
    assert field in problem(response, status, "invalid")["errors"]
    assert _unchanged() == before


def test_bad_another_partners_line_or_deal_is_a_404_naming_the_field_nothing_changed(world: World) -> None:
    before = _unchanged()
    body = problem(post(world.key_a, "disputes/", {"line": world.line_x.pk, "reason": "mine?"}), 404, "not_found")
    assert body["errors"] == {"line": [errors.API_NO_SUCH_LINE.format(line=world.line_x.pk)]}
    deal_of_x = world.line_x.deal.deal_id  # type: ignore[union-attr]
    body = problem(post(world.key_a, "disputes/", {"deal": deal_of_x, "reason": "mine?"}), 404, "not_found")
    assert list(body["errors"]) == ["deal"]
    # a sub-partner's line is not the master's to dispute either (its own share is)
    own_of_b = CommissionLine.objects.get(partner=world.b)
    problem(post(world.key_a, "disputes/", {"line": own_of_b.pk, "reason": "mine?"}), 404, "not_found")
    assert _unchanged() == before


def test_good_idempotency_key_replays_and_refuses_another_body(world: World) -> None:
    body = {"line": world.line_a.pk, "reason": "once"}
    first = post(world.key_a, "disputes/", body, HTTP_IDEMPOTENCY_KEY="dispute-1")
    again = post(world.key_a, "disputes/", body, HTTP_IDEMPOTENCY_KEY="dispute-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["reference"] == first.json()["reference"]
    assert Dispute.objects.filter(partner=world.a).count() == 1
    other = post(world.key_a, "disputes/", {**body, "reason": "twice"}, HTTP_IDEMPOTENCY_KEY="dispute-1")
    assert problem(other, 422, "idempotency_key_reused")["mismatch"] == ["reason"]
    assert Dispute.objects.filter(partner=world.a).count() == 1


# --- referral links -----------------------------------------------------------------------------------


def test_good_referral_links_are_full_registration_urls(world: World) -> None:
    (row,) = get(world.key_a, "referral-links/").json()["results"]
    assert row == {
        "code": "PAA",
        "url": "http://testserver/clients/new/?ref=PAA",
        "campaign_url": "http://testserver/clients/new/?ref=PAA&campaign={campaign}",
    }


# --- the OpenAPI document --------------------------------------------------------------------------------


def test_every_partner_operation_is_in_the_schema_with_its_scope(world: World) -> None:
    schema = HttpClient().get(
        "/api/v1/schema/", HTTP_AUTHORIZATION=f"Bearer {world.key_a}", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    operations = {(p, m): op for p, ops in paths.items() if p.startswith(API) for m, op in ops.items()}
    assert {(p, m) for p, m in operations} == {
        (API + "clients/", "get"), (API + "clients/{reference}/", "get"), (API + "tree/", "get"),
        (API + "commission-lines/", "get"), (API + "commission-lines/{id}/", "get"), (API + "statements/", "get"),
        (API + "statements/{id}/", "get"), (API + "payouts/", "get"), (API + "payouts/{id}/", "get"),
        (API + "disputes/", "get"), (API + "disputes/", "post"), (API + "disputes/{reference}/", "get"),
        (API + "referral-links/", "get"),
    }  # fmt: skip
    for (_, method), op in operations.items():
        assert op["x-required-scope"] == ("partner:write" if method == "post" else "partner:read")
        assert "404" in op["responses"] and "403" in op["responses"]
        success = op["responses"]["201" if method == "post" else "200"]
        assert success["content"]["application/json"]["examples"], (method, op["operationId"])
    raise_body = paths[API + "disputes/"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in raise_body["parameters"]}
    assert raise_body["requestBody"]["content"]["application/json"]["examples"]
