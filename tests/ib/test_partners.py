"""Partners in a hierarchy and clients' attribution to them (issue 15, first part)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Client
from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.models import AuditEvent
from ib import errors
from ib.approval_actions import ACTION
from ib.models import Attribution, AttributionSource, Partner, PartnerStatus
from ib.selectors import attribution_at
from ib.services.partners import partner_create
from ops.models import ApprovalRequest, ApprovalStatus
from ops.roles import Role
from ops.services.approvals import approval_decide
from tests.factories import approved_client, staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

REGISTRATION = {
    "kind": "individual", "first_name": "Rita", "last_name": "Referred", "date_of_birth": "1990-04-02",
    "nationality": "DE", "country": "DE", "email": "rita@example.com", "phone": "+4915112345678",
    "base_currency": "EUR", "source_of_funds": "salary",
}  # fmt: skip


def _tree() -> tuple[Partner, Partner, Partner]:
    maker = staff(Role.SUPPORT)
    master = partner_create(name="Alpha Partners", code="ALPHA", actor=maker)
    sub = partner_create(name="Beta Introducers", code="BETA", parent_id=master.pk, actor=maker)
    subsub = partner_create(name="Gamma Desk", code="GAMMA", parent_id=sub.pk, actor=maker)
    return master, sub, subsub


def _account_type() -> Any:
    from accounts.models import AccountType

    return AccountType.objects.get(code="standard")


def _registration(**extra: str) -> dict[str, str]:
    return {**REGISTRATION, "account_type": str(_account_type().pk), **extra}


def _partner_of(c: Any, when: Any = None) -> Partner:
    attribution = attribution_at(c, when)
    assert attribution is not None
    return attribution.partner


def test_good_everyone_above_and_below_are_one_query_each() -> None:
    master, _sub, subsub = _tree()
    partner_create(name="Delta", parent_id=master.pk, actor=staff(Role.SUPPORT))
    with CaptureQueriesContext(connection) as above:
        names_above = [p.name for p in Partner.objects.get_ancestors(Partner.objects.get(pk=subsub.pk))]
    with CaptureQueriesContext(connection) as below:
        names_below = [p.name for p in Partner.objects.get_descendants(Partner.objects.get(pk=master.pk))]
    assert names_above == ["Alpha Partners", "Beta Introducers"]
    assert sorted(names_below) == ["Beta Introducers", "Delta", "Gamma Desk"]
    assert len(above.captured_queries) == 2  # the partner itself, then everyone above
    assert len(below.captured_queries) == 2  # the partner itself, then everyone below
    assert AuditEvent.objects.filter(action=AuditAction.PARTNER_CREATED).count() == 4


def test_bad_a_code_taken_or_malformed_is_a_field_error_and_nothing_is_added() -> None:
    from django.core.exceptions import ValidationError

    _tree()
    with pytest.raises(ValidationError) as taken:
        partner_create(name="Copycat", code="alpha", actor=staff(Role.SUPPORT))
    assert taken.value.message_dict == {"code": [errors.CODE_TAKEN.format(code="ALPHA", partner="Alpha Partners")]}
    with pytest.raises(ValidationError) as malformed:
        partner_create(name="Copycat", code="a b", actor=staff(Role.SUPPORT))
    assert malformed.value.message_dict == {"code": [errors.CODE_FORMAT]}
    assert Partner.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_good_two_sub_partners_added_at_once_under_one_parent_both_land() -> None:
    with acting_as(Actor.system("pytest")):
        master = partner_create(name="Alpha Partners", code="ALPHA", actor=staff(Role.SUPPORT))
        maker = staff(Role.SUPPORT)
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def add(n: int) -> None:
        try:
            with acting_as(Actor.system("pytest")):
                barrier.wait(timeout=10)
                partner_create(name=f"Sub {n}", parent_id=master.pk, actor=maker)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    master = Partner.objects.get(pk=master.pk)  # a protected status field is re-read, not refreshed
    children = list(Partner.objects.get_children(master))
    assert sorted(c.name for c in children) == ["Sub 0", "Sub 1"]
    assert len({c.path for c in children}) == 2 and master.numchild == 2


def test_good_a_referral_code_at_registration_attributes_the_client(client: HttpClient) -> None:
    _tree()
    sign_in(client, staff(Role.SUPPORT))
    response = client.post("/clients/new/", _registration(referral_code="beta", campaign="spring-webinar"))
    assert response.status_code == 302
    rita = Client.objects.get(email="rita@example.com")
    attribution = attribution_at(rita)
    assert attribution is not None
    assert (attribution.partner.code, attribution.campaign, attribution.source) == (
        "BETA", "spring-webinar", AttributionSource.REFERRAL,
    )  # fmt: skip
    page = client.get(rita.get_absolute_url()).content.decode()
    assert "Introduced by" in page and "Beta Introducers" in page and "spring-webinar" in page
    assert AuditEvent.objects.filter(action=AuditAction.ATTRIBUTION_OPENED, subject_id=str(rita.pk)).count() == 1


def test_good_the_partner_page_gives_a_referral_link_that_fills_in_the_registration(client: HttpClient) -> None:
    _, beta, _ = _tree()
    sign_in(client, staff(Role.SUPPORT))
    page = client.get(f"/partners/{beta.pk}/")
    link = page.context["partner"].code
    assert f'href="/clients/new/?ref={link}"' in page.content.decode()
    form = client.get("/clients/new/?ref=BETA&campaign=spring-webinar").context["form"]
    assert (form["referral_code"].value(), form["campaign"].value()) == ("BETA", "spring-webinar")


@pytest.mark.parametrize("code", ["NOPE", "CLOSED"])
def test_bad_an_unknown_or_closed_partner_code_registers_nothing(client: HttpClient, code: str) -> None:
    with acting_as(Actor.system("pytest")):
        closed = partner_create(name="Gone Partners", code="CLOSED", actor=staff(Role.SUPPORT))
        closed.close()
        closed.save()
    sign_in(client, staff(Role.SUPPORT))
    response = client.post("/clients/new/", _registration(referral_code=code))
    assert response.status_code == 400
    expected = (
        errors.UNKNOWN_CODE.format(code=code) if code == "NOPE"
        else errors.PARTNER_NOT_ACTIVE.format(partner="Gone Partners", status="closed")
    )  # fmt: skip
    assert response.context["form"].errors["referral_code"] == [expected]
    assert not Client.objects.filter(email="rita@example.com").exists()
    assert not Attribution.objects.exists()


def test_good_the_staff_api_attributes_through_the_referral_code_and_names_a_bad_one(client: HttpClient) -> None:
    _tree()
    sign_in(client, staff(Role.SUPPORT))
    body = {**REGISTRATION, "account_type": _account_type().code, "referral_code": "NOPE"}
    refused = client.post("/api/v1/staff/clients/", body, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"referral_code": [errors.UNKNOWN_CODE.format(code="NOPE")]}
    assert not Client.objects.filter(email="rita@example.com").exists()
    body["referral_code"] = "GAMMA"
    created = client.post("/api/v1/staff/clients/", body, content_type="application/json")
    assert created.status_code == 201
    assert _partner_of(Client.objects.get(pk=created.json()["id"])).code == "GAMMA"


def _attributed() -> tuple[Any, Partner, Partner]:
    master, sub, _ = _tree()
    c = approved_client(provision=False, first_name="Carl", last_name="Client")
    Attribution.objects.create(
        client=c, partner=sub, source=AttributionSource.REFERRAL, valid_from=timezone.now() - timedelta(days=30)
    )
    return c, master, sub


def test_good_a_change_of_partner_is_asked_by_support_and_carried_out_when_finance_approves(
    client: HttpClient,
) -> None:
    c, master, sub = _attributed()
    sign_in(client, staff(Role.SUPPORT, username="sam"))
    today = timezone.localdate().isoformat()
    response = client.post(
        f"/clients/{c.pk}/partner/",
        {"partner": master.pk, "effective_from": today, "campaign": "", "reason": "the client moved desks"},
    )
    assert response.status_code == 302
    request = ApprovalRequest.objects.get(action=ACTION)
    assert request.status == ApprovalStatus.PENDING
    assert _partner_of(c) == sub  # nothing changes before the checker decides
    before = timezone.now()
    approval_decide(
        request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="agreed with both partners"
    )
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXECUTED
    assert _partner_of(c) == master
    assert _partner_of(c, before - timedelta(seconds=1)) == sub  # commissions before keep the old one
    periods = list(Attribution.objects.filter(client=c).order_by("valid_from"))
    assert [p.partner.code for p in periods] == ["BETA", "ALPHA"]
    assert periods[0].valid_to == periods[1].valid_from and periods[1].approval == request


def test_bad_a_change_dated_in_the_past_is_refused_and_nothing_is_asked(client: HttpClient) -> None:
    c, master, _ = _attributed()
    sign_in(client, staff(Role.SUPPORT))
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(
        f"/clients/{c.pk}/partner/",
        {"partner": master.pk, "effective_from": yesterday.isoformat(), "reason": "backdated"},
        follow=True,
    )
    assert errors.EFFECTIVE_IN_PAST.format(date=yesterday.isoformat()) in response.content.decode()
    assert not ApprovalRequest.objects.filter(action=ACTION).exists()


def test_bad_the_database_refuses_two_overlapping_periods_for_one_client() -> None:
    c, master, _ = _attributed()
    with pytest.raises(IntegrityError), transaction.atomic():
        Attribution.objects.create(
            client=c, partner=master, source=AttributionSource.STAFF, valid_from=timezone.now() - timedelta(days=1)
        )


def test_bad_a_partner_closed_meanwhile_fails_the_approval_and_changes_nothing() -> None:
    from ops.services.approvals import approval_submit

    c, master, sub = _attributed()
    request = approval_submit(
        action=ACTION, subject=c, payload={"partner": master.pk, "effective_from": timezone.localdate().isoformat()},
        maker=staff(Role.SUPPORT), reason="moved",
    )  # fmt: skip
    master.close()
    master.save()
    approval_decide(request_id=request.pk, checker=staff(Role.FINANCE), decision="approve", reason="ok")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.FAILED
    assert request.failure_reason == errors.PARTNER_NOT_ACTIVE.format(partner="Alpha Partners", status="closed")
    assert _partner_of(c) == sub
    assert master.status == PartnerStatus.CLOSED
