"""20 people pressing "next item" at the same moment on 20 items get 20 different items."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit.context import Actor, acting_as
from ops.models import User, WorkItem
from ops.roles import Role
from ops.services.work_items import work_item_claim_next
from tests.factories import staff, work_item

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_concurrent_next_item_claims_get_twenty_different_items() -> None:
    items = [work_item("kyc_review") for _ in range(20)]
    reviewers = [staff(Role.COMPLIANCE) for _ in range(20)]
    barrier = threading.Barrier(20)
    claimed: dict[int, int | None] = {}
    failures: list[BaseException] = []

    def press(user: User) -> None:
        try:
            with acting_as(Actor.staff(user)):
                barrier.wait(20)
                item = work_item_claim_next(user=user)
            claimed[user.pk] = item.pk if item else None
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(u,)) for u in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    got = [pk for pk in claimed.values() if pk is not None]
    assert sorted(got) == sorted(i.pk for i in items)  # every item once, nobody empty-handed
    owners = dict(WorkItem.objects.values_list("pk", "owner_id"))
    assert {owners[pk] for pk in got} == {u.pk for u in reviewers}
