"""Who acts in a role's name is read from permissions, never from group names; and the approval
page offers approve/reject exactly when approval_can_decide allows it (a maker or an earlier
checker never sees the buttons)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client as HttpClient

from ops import errors
from ops.approvals import ApprovalAction, register, unregister
from ops.errors import OpsError
from ops.models import ApprovalRequest, User
from ops.roles import ROLE_DUTY, Role
from ops.selectors import approvals_waiting_for, roles_held, users_holding, users_working
from ops.services.approvals import approval_can_decide, approval_decide, approval_submit
from ops.services.work_items import work_item_can_claim, work_item_claim
from tests.factories import staff, work_item
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _duty(role: Role) -> Permission:
    return Permission.objects.get(content_type__app_label="ops", codename=ROLE_DUTY[role].split(".")[1])


def test_good_duty_granted_directly_works_the_queue_without_the_group() -> None:
    item = work_item("kyc_review")
    direct = staff(username="direct")
    assert not work_item_can_claim(direct, item)
    direct.user_permissions.add(_duty(Role.COMPLIANCE))
    direct = User.objects.get(pk=direct.pk)  # a fresh permission cache
    assert direct.groups.count() == 0 and roles_held(direct) == {"compliance"}
    assert work_item_can_claim(direct, item)
    assert work_item_claim(item_id=item.pk, user=direct).owner == direct
    assert direct in users_working(item.queue) and direct in users_holding("compliance")


def test_bad_a_group_named_like_a_role_without_its_duty_does_not_act_in_it() -> None:
    """The group's name is a label: take the duty permission off the compliance group and its
    members no longer work compliance queues or decide compliance levels."""
    officer = staff(Role.COMPLIANCE, username="officer")
    Group.objects.get(name="compliance").permissions.remove(_duty(Role.COMPLIANCE))
    officer = User.objects.get(pk=officer.pk)
    item = work_item("kyc_review")
    assert officer.groups.filter(name="compliance").exists()
    assert work_item_can_claim(officer, item).reason == errors.NOT_YOUR_QUEUE.format(queue="KYC review")
    assert officer not in users_working(item.queue)
    with pytest.raises(OpsError, match=errors.NOT_YOUR_QUEUE.format(queue="KYC review")):
        work_item_claim(item_id=item.pk, user=officer)


@pytest.fixture
def two_levels() -> Iterator[None]:
    register(
        ApprovalAction(
            key="test.two_levels",
            label="Test two levels",
            subject_model=User,
            maker_permission="ops.handle_withdrawals",
            policy=lambda subject, payload: [Role.FINANCE, Role.COMPLIANCE],
            validate=lambda s, p: None,
            execute=lambda s, p, r: {"done": True},
            describe=lambda s, p: "two levels",
        )
    )
    yield
    unregister("test.two_levels")


def _buttons(http: HttpClient, user: User, pk: int) -> tuple[bool, str]:
    sign_in(http, user)
    page = http.get(f"/approvals/{pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    return ">Approve</button>" in html, html


def test_approve_buttons_only_for_whom_approval_can_decide_allows(client: HttpClient, two_levels: Any) -> None:
    maker, finance, finance2, compliance = (
        staff(Role.FINANCE, username="maker"),
        staff(Role.FINANCE, username="first"),
        staff(Role.FINANCE, username="second"),
        staff(Role.COMPLIANCE, username="officer"),
    )
    request = approval_submit(action="test.two_levels", subject=staff(), payload={}, maker=maker, reason="r")
    shown, html = _buttons(client, maker, request.pk)
    assert not shown and errors.CHECKER_IS_MAKER in html and 'data-testid="maker-note"' in html
    assert _buttons(client, compliance, request.pk)[0] is False  # the first level is finance's
    assert _buttons(client, finance, request.pk)[0] is True
    approval_decide(request_id=request.pk, checker=finance, decision="approve", reason="ok")
    shown, html = _buttons(client, finance, request.pk)
    assert not shown and errors.CHECKER_ALREADY_DECIDED in html
    shown, html = _buttons(client, finance2, request.pk)
    assert not shown and errors.CHECKER_WRONG_ROLE.format(role="compliance") in html
    assert _buttons(client, compliance, request.pk)[0] is True
    for user in (maker, finance, finance2):
        assert not approval_can_decide(user, request)
        sign_in(client, user)
        refused = client.post(
            f"/approvals/{request.pk}/decide/",
            {"decision": "approve", "reason": "x", "payload_hash": request.payload_hash},
        )
        assert refused.status_code == 403
    assert request.decisions.count() == 1


def test_waiting_for_me_is_exactly_what_approval_can_decide_allows(two_levels: Any) -> None:
    """The inbox (one SQL query) and the can-function (per request) give the same answer."""
    maker, finance, finance2, compliance, admin = (
        staff(Role.FINANCE, username="maker"),
        staff(Role.FINANCE, username="first"),
        staff(Role.FINANCE, username="second"),
        staff(Role.COMPLIANCE, username="officer"),
        staff(Role.ADMIN, username="admin"),
    )
    fresh = approval_submit(action="test.two_levels", subject=staff(), payload={}, maker=maker, reason="r")
    halfway = approval_submit(action="test.two_levels", subject=staff(), payload={}, maker=maker, reason="r")
    approval_decide(request_id=halfway.pk, checker=finance, decision="approve", reason="ok")
    grant = approval_submit(
        action="staff.grant_role", subject=staff(), payload={"role": "risk"}, maker=admin, reason="r"
    )
    requests = [fresh, halfway, grant]
    for user in (maker, finance, finance2, compliance, admin, staff(Role.ADMIN), staff(Role.AUDITOR), staff()):
        inbox = {r.pk for r in approvals_waiting_for(user)}
        allowed = {r.pk for r in requests if approval_can_decide(user, ApprovalRequest.objects.get(pk=r.pk))}
        assert inbox == allowed, user.username


# Role administration itself (granting and revoking the groups) and showing which roles a person
# holds are the only code that reads group names.
ROLE_ADMINISTRATION = {"ops/services/staff.py", "ops/models.py"}
GROUP_NAME_CHECK = re.compile(r"groups__name|groups\.filter\(\s*name|\{%\s*if[^%]*\bperms\.")


def test_no_permission_is_checked_by_group_name_or_restated_in_a_template() -> None:
    """Code reads permissions through the can-functions; templates read their Decisions."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("accounts", "kyc", "ops", "payments", "audit", "backoffice", "ib", "reporting", "sim", "templates"):
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.suffix not in (".py", ".html") or "migrations" in path.parts or relative in ROLE_ADMINISTRATION:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if GROUP_NAME_CHECK.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
