"""A likely duplicate client (same e-mail, same phone, or same name and date of birth; trimmed and
case-insensitive) is registered all the same, but flagged: linked to the other, a work item in
the duplicates queue, a warning in the API answer, after the form and on the client page."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client as HttpClient

from accounts import errors
from accounts.models import Client, ClientLink, LinkReason
from accounts.services.duplicates import QUEUE
from ops.models import ResolutionCode, WorkItem
from ops.roles import Role
from ops.services.work_items import work_item_claim, work_item_resolve
from tests.factories import client as make_client
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

GRACE: dict[str, Any] = {
    "first_name": "Grace", "last_name": "Hopper", "date_of_birth": datetime.date(1976, 12, 9),
    "email": "grace@example.test", "phone": "+1 202 555 0143",
}  # fmt: skip
# the new client shares exactly one thing with Grace, written differently
SHARING: dict[str, dict[str, Any]] = {
    "email": {"email": "GRACE@Example.TEST"},
    "phone": {"phone": "+1 (202) 555-0143"},
    "name_dob": {"first_name": "  grace", "last_name": "HOPPER ", "date_of_birth": datetime.date(1976, 12, 9)},
}
NOTHING_SHARED: dict[str, Any] = {
    "first_name": "Ada", "last_name": "Byron", "date_of_birth": datetime.date(1980, 1, 1),
    "email": "ada@example.test", "phone": "+33 6 12 34 56 78",
}  # fmt: skip


def _items(client: Client) -> list[WorkItem]:
    return list(WorkItem.objects.filter(queue__code=QUEUE, subject_id=str(client.pk)))


@pytest.mark.parametrize("rule", list(SHARING))
def test_good_a_likely_duplicate_is_registered_and_flagged(rule: str) -> None:
    grace = make_client(**GRACE)
    new = make_client(**(NOTHING_SHARED | SHARING[rule]))
    assert Client.objects.count() == 2
    link = ClientLink.objects.get(reason=LinkReason.POSSIBLE_DUPLICATE)
    assert (link.client, link.other) == (new, grace)
    [item] = _items(new)
    assert item.status == "open"
    assert item.details["candidates"] == [{"reference": grace.reference, "name": "Grace Hopper", "matched": [rule]}]
    assert _items(grace) == []


def test_good_nothing_shared_flags_nothing() -> None:
    make_client(**GRACE)
    make_client(**NOTHING_SHARED)
    assert not ClientLink.objects.filter(reason=LinkReason.POSSIBLE_DUPLICATE).exists()
    assert not WorkItem.objects.filter(queue__code=QUEUE).exists()


def test_good_one_item_names_every_rule_that_matched() -> None:
    grace = make_client(**GRACE)
    new = make_client(**(GRACE | {"email": "Grace@example.test"}))
    [item] = _items(new)
    assert item.details["candidates"][0]["matched"] == ["email", "phone", "name_dob"]
    assert item.details["candidates"][0]["reference"] == grace.reference
    assert item.title == f"Possible duplicate: Grace Hopper ({new.reference}) matches 1 other client(s)"


def test_good_the_api_answer_carries_the_warning(client: HttpClient) -> None:
    grace = make_client(**GRACE)
    sign_in(client, staff(Role.SUPPORT))
    body = {
        "kind": "individual", "first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1976-12-09",
        "country": "US", "email": "GRACE@example.test", "phone": "+1 202 555 0143", "account_type": "pro",
        "base_currency": "USD",
    }  # fmt: skip
    created = client.post("/api/v1/staff/clients/", body, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["warnings"] == [
        {
            "code": "possible_duplicate",
            "client": grace.reference,
            "detail": errors.POSSIBLE_DUPLICATE.format(
                other=f"Grace Hopper ({grace.reference})",
                matched="same e-mail, same phone, same name and date of birth",
            ),
        }
    ]
    assert len(_items(Client.objects.get(pk=created.json()["id"]))) == 1


def _form(**changes: Any) -> dict[str, Any]:
    from accounts.models import AccountType

    return {
        "kind": "individual", "first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1976-12-09",
        "country": "US", "email": "someone@example.test", "phone": "", "base_currency": "USD",
        "account_type": AccountType.objects.get(code="standard").pk,
    } | changes  # fmt: skip


def test_good_the_form_registers_warns_and_the_page_links_the_other(client: HttpClient) -> None:
    grace = make_client(**GRACE)
    sign_in(client, staff(Role.SUPPORT))
    response = client.post("/clients/new/", _form(), follow=True)
    assert response.status_code == 200
    new = Client.objects.exclude(pk=grace.pk).get()
    html = response.content.decode()
    assert (
        errors.POSSIBLE_DUPLICATE.format(
            other=f"Grace Hopper ({grace.reference})", matched="same name and date of birth"
        )
        in html
    )
    assert f'Possible duplicate of <a href="/clients/{grace.pk}/">Grace Hopper</a>' in html
    # the other client's page shows the pair too
    other_page = client.get(f"/clients/{grace.pk}/").content.decode()
    assert f'Possible duplicate of <a href="/clients/{new.pk}/">Grace Hopper</a>' in other_page
    assert len(_items(new)) == 1


def test_good_dismissing_the_item_clears_the_flag_on_the_page(client: HttpClient) -> None:
    make_client(**GRACE)
    new = make_client(**(NOTHING_SHARED | SHARING["email"]))
    person = staff(Role.COMPLIANCE)
    [item] = _items(new)
    work_item_claim(item_id=item.pk, user=person)
    work_item_resolve(item_id=item.pk, user=person, code=ResolutionCode.FALSE_POSITIVE, note="two people, one mailbox")
    sign_in(client, person)
    html = client.get(f"/clients/{new.pk}/").content.decode()
    assert "Possible duplicate of" not in html


def test_good_a_viewer_outside_the_others_scope_is_not_told_its_name(client: HttpClient) -> None:
    from tests.personas import desk_user

    grace = make_client(**GRACE)
    new = make_client(**(NOTHING_SHARED | SHARING["phone"]))
    sign_in(client, desk_user(new))
    html = client.get(f"/clients/{new.pk}/").content.decode()
    banner = html[html.index('data-testid="possible-duplicate"') :].split("</p>", 1)[0]
    assert "Possible duplicate of a client outside your scope" in banner
    assert grace.reference not in banner
    # nor in the linked clients (the page's audit events still record the link: see the report)
    links = html[html.index("<h2>Linked clients</h2>") :].split("<details", 1)[0]
    assert grace.reference not in links


@pytest.mark.django_db(transaction=True)
def test_good_two_registrations_at_once_with_one_e_mail_are_still_flagged() -> None:
    """Each on its own connection, at the same moment: the second waits for the first's commit
    (an advisory lock per identity) and is flagged as its possible duplicate."""
    import threading

    from django.db import connection

    from audit.context import Actor, acting_as

    support = staff(Role.SUPPORT)
    threads = 4
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def register(n: int) -> None:
        try:
            with acting_as(Actor.system("concurrency-test")):
                barrier.wait(30)
                make_client(
                    actor=support, email="same@example.test", first_name=f"Person{n}", phone=f"+33 6 12 34 56 7{n}"
                )
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=register, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert failures == []
    assert Client.objects.count() == threads
    # every client but the first is flagged: one item each, linked to every earlier one
    assert WorkItem.objects.filter(queue__code=QUEUE).count() == threads - 1
    assert ClientLink.objects.filter(reason=LinkReason.POSSIBLE_DUPLICATE).count() == threads * (threads - 1) // 2
