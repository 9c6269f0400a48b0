"""The quarterly access review (issue 14, finding 2): who holds what, incompatible pairs and
dormant accounts flagged, a compliance sign-off recorded in the audit trail, and the quarter's
review opened as a compliance work item by the scheduled job."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.errors import OpsError
from ops.models import AccessReview, User, WorkItem, WorkItemStatus
from ops.roles import Role
from ops.selectors import access_review_period, access_review_rows
from ops.services.access_review import (
    access_review_can_sign_off,
    access_review_can_view,
    access_review_open_due,
    access_review_sign_off,
)
from ops.tasks import access_review_open_due_task
from tests.factories import client as make_client
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _world() -> dict[str, User]:
    """A risk officer who was also made an auditor (as the demo once did), a dormant finance
    account, a desk user with direct and per-object permissions, and a fresh support agent."""
    now = timezone.now()
    both = staff(Role.RISK, username="rita", last_login=now)
    both.groups.add(Group.objects.get(name="auditor"))  # made around the services
    dormant = staff(Role.FINANCE, username="fred", last_login=now - timedelta(days=91))
    desk = staff(username="desk", last_login=now)
    desk.user_permissions.add(Permission.objects.get(codename="manage_clients"))
    for c in (make_client(), make_client()):
        assign_perm("accounts.view_client_record", desk, c)
    fresh = staff(Role.SUPPORT, username="sue")  # never signed in, but joined today: not dormant
    return {"both": both, "dormant": dormant, "desk": desk, "fresh": fresh}


def test_good_rows_list_who_holds_what_and_flag_pairs_and_dormant_accounts() -> None:
    _world()
    rows = {r.user.username: r for r in access_review_rows()}
    assert rows["rita"].roles == ["risk", "auditor"]
    assert rows["rita"].findings == ["incompatible roles: risk + auditor"]
    assert rows["fred"].findings == ["dormant: no sign-in for 90 days"]
    assert rows["desk"].direct_permissions == ["ops.manage_clients"] and rows["desk"].object_grants == 2
    assert rows["desk"].findings == [] and rows["sue"].findings == []


def test_good_page_and_csv_show_every_staff_member(client: Client) -> None:
    _world()
    sign_in(client, staff(Role.COMPLIANCE, username="carla", last_login=timezone.now()))
    page = client.get("/staff/access-review/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-user="rita"' in html and "incompatible roles: risk + auditor" in html
    assert "dormant: no sign-in for 90 days" in html
    assert f"Sign off the {access_review_period()} review" in html
    export = client.get("/staff/access-review.csv")
    assert export.status_code == 200 and export["Content-Type"] == "text/csv"
    table = {row["username"]: row for row in csv.DictReader(io.StringIO(export.content.decode()))}
    assert set(table) == set(User.objects.values_list("username", flat=True))
    assert (
        table["rita"]["roles"] == "risk auditor" and table["rita"]["findings"] == "incompatible roles: risk + auditor"
    )
    assert table["desk"]["direct_permissions"] == "ops.manage_clients" and table["desk"]["object_grants"] == "2"
    assert table["sue"]["last_login"] == "never"


def test_good_csv_cells_never_start_a_formula(client: Client) -> None:
    staff(Role.SUPPORT, username="eve", first_name='=HYPERLINK("http://x")')
    sign_in(client, staff(Role.COMPLIANCE))
    export = client.get("/staff/access-review.csv")
    table = {row["username"]: row for row in csv.DictReader(io.StringIO(export.content.decode()))}
    assert table["eve"]["name"].startswith("'=HYPERLINK")


@pytest.mark.parametrize(
    ("role", "view", "sign_off"),
    [
        (Role.SUPPORT, False, False),
        (Role.FINANCE, False, False),
        (Role.RISK, False, False),
        (Role.COMPLIANCE, True, True),
        (Role.ADMIN, True, False),
        (Role.AUDITOR, True, False),
    ],
)
def test_permission_functions_per_role(role: Role, view: bool, sign_off: bool) -> None:
    user = staff(role)
    assert bool(access_review_can_view(user)) is view
    assert bool(access_review_can_sign_off(user)) is sign_off


def test_good_sign_off_is_audited_with_who_and_when_and_closes_the_work_item(client: Client) -> None:
    _world()
    review = access_review_open_due()
    assert review is not None
    officer = staff(Role.COMPLIANCE, username="carla")
    sign_in(client, officer)
    response = client.post("/staff/access-review/sign-off/", {"note": "rita: auditor role to be revoked (OPS-7)"})
    assert (response.status_code, response["Location"]) == (302, "/staff/access-review/")
    review.refresh_from_db()
    assert review.signed_off_by == officer and review.signed_off_at is not None
    assert review.findings["findings"]["rita"] == ["incompatible roles: risk + auditor"]
    event = AuditEvent.objects.get(action=AuditAction.ACCESS_REVIEW_SIGNED_OFF)
    assert (event.actor_id, event.actor_label) == (str(officer.pk), "carla")
    assert event.subject_type == "ops.accessreview" and event.subject_id == str(review.pk)
    assert event.after["signed_off_by"] == "carla" and event.after["period"] == review.period
    assert event.after["signed_off_at"].startswith(f"{review.signed_off_at:%Y-%m-%d}")
    assert event.reason == "rita: auditor role to be revoked (OPS-7)"
    item = WorkItem.objects.get(queue__code="access_review", subject_id=str(review.pk))
    assert item.status == WorkItemStatus.RESOLVED
    html = client.get("/staff/access-review/").content.decode()
    assert "signed off</span> by carla on" in html
    again = client.post("/staff/access-review/sign-off/", {"note": "twice"})
    assert again.status_code == 409  # signed off already: the quarter's review is settled
    assert "was signed off by carla on" in again.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_REVIEW_SIGNED_OFF).count() == 1
    assert access_review_open_due() is None  # signed off: nothing due until next quarter


def test_bad_sign_off_needs_a_note_and_a_compliance_reviewer(client: Client) -> None:
    sign_in(client, staff(Role.COMPLIANCE))
    response = client.post("/staff/access-review/sign-off/", {"note": "  "})
    assert response.status_code == 400 and response.context["form"].errors["note"] == [errors.REASON_REQUIRED]
    with pytest.raises(OpsError, match=errors.ACCESS_REVIEW_SIGN_OFF_NOT_ALLOWED):
        access_review_sign_off(actor=staff(Role.ADMIN), note="looks fine")
    assert not AccessReview.objects.filter(signed_off_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.ACCESS_REVIEW_SIGNED_OFF).exists()


def test_good_the_job_opens_one_review_and_one_work_item_per_quarter() -> None:
    q1 = datetime(2027, 2, 10, tzinfo=UTC)
    first = access_review_open_due(now=q1)
    again = access_review_open_due(now=q1 + timedelta(days=1))
    assert first is not None and again is not None and first.pk == again.pk and first.period == "2027-Q1"
    items = WorkItem.objects.filter(queue__code="access_review", subject_type__model="accessreview")
    assert items.count() == 1 and items.get().title == "Quarterly access review 2027-Q1 is due"
    q2 = access_review_open_due(now=datetime(2027, 4, 1, tzinfo=UTC))
    assert q2 is not None and q2.period == "2027-Q2" and items.count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_REVIEW_OPENED).count() == 2


def test_good_beat_runs_the_job_daily() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["access-review-open-due"]
    assert entry == {"task": "ops.tasks.access_review_open_due_task", "schedule": 24 * 3600.0}
    assert access_review_open_due_task.name == entry["task"]
