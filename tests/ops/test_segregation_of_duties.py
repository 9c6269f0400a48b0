"""Segregation of duties (issue 14, finding 2): nobody asks for a role for themselves; incompatible
role pairs are refused when a grant is asked for and again when it is approved; grants of the
administrator role, or to an administrator, are checked by compliance, never by an administrator."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import Client

from audit.actions import AuditAction
from audit.models import AuditEvent
from ops import errors
from ops.errors import OpsError
from ops.models import ApprovalRequest, ApprovalStatus, User
from ops.roles import INCOMPATIBLE_ROLES, Role, incompatible_with, role_conflicts
from ops.selectors import approvals_waiting_for, roles_refused_for
from ops.services.approvals import approval_can_decide, approval_decide, approval_submit
from ops.services.staff import staff_create
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

PAIRS = sorted((sorted(r.value for r in pair) for pair in INCOMPATIBLE_ROLES), key=tuple)


def _grant(maker: User, target: User, role: str) -> ApprovalRequest:
    return approval_submit(
        action="staff.grant_role", subject=target, payload={"role": role}, maker=maker, reason="rota change"
    )


def _join(user: User, role: str) -> None:
    """A role given outside the services (a legacy grant, or one made in the Django admin)."""
    user.groups.add(Group.objects.get(name=role))


def _checker_for(request: ApprovalRequest) -> User:
    return staff(Role(request.required_roles[0]))


# --- the table -----------------------------------------------------------------------------------


def test_table_holds_the_pairs_the_issue_names_and_the_ones_decided_here() -> None:
    assert {frozenset({Role.ADMIN, Role.FINANCE}), frozenset({Role.ADMIN, Role.COMPLIANCE})} <= set(INCOMPATIBLE_ROLES)
    writers = {Role.SUPPORT, Role.COMPLIANCE, Role.FINANCE, Role.RISK, Role.ADMIN}
    assert set(incompatible_with(Role.AUDITOR)) == writers  # the auditor with any role that writes
    # decided here (README "Segregation of duties"): admin + risk, finance + compliance, finance + risk
    assert {frozenset({Role.ADMIN, Role.RISK}), frozenset({Role.FINANCE, Role.COMPLIANCE})} <= set(INCOMPATIBLE_ROLES)
    assert frozenset({Role.FINANCE, Role.RISK}) in INCOMPATIBLE_ROLES
    assert frozenset({Role.SUPPORT, Role.COMPLIANCE}) not in INCOMPATIBLE_ROLES
    assert all(len(pair) == 2 and reason for pair, reason in INCOMPATIBLE_ROLES.items())
    assert role_conflicts({"risk", "auditor"}) == [
        (Role.RISK, Role.AUDITOR, INCOMPATIBLE_ROLES[frozenset({Role.RISK, Role.AUDITOR})])
    ]


# --- a maker is not the subject of their own request ---------------------------------------------


def test_bad_admin_cannot_request_a_role_for_themselves() -> None:
    admin = staff(Role.ADMIN)
    with pytest.raises(OpsError, match=errors.MAKER_IS_SUBJECT):
        _grant(admin, admin, "finance")
    with pytest.raises(OpsError, match=errors.MAKER_IS_SUBJECT):
        _grant(admin, admin, "support")  # whatever the role
    assert not ApprovalRequest.objects.exists()


def test_bad_database_refuses_a_request_whose_subject_is_its_maker() -> None:
    admin = staff(Role.ADMIN)
    request = _grant(staff(Role.ADMIN), staff(), "support")
    forged = ApprovalRequest(
        action=request.action, subject_type=request.subject_type, subject_id=str(admin.pk), summary="forged",
        payload={"role": "finance"}, payload_hash=request.payload_hash, maker=admin, maker_label=admin.username,
        reason="x", required_roles=["admin"], expires_at=request.expires_at,
    )  # fmt: skip
    with pytest.raises(IntegrityError, match="cannot be the subject of their own request"), transaction.atomic():
        forged.save()


def test_bad_self_request_through_the_page_is_a_form_error(client: Client) -> None:
    admin = staff(Role.ADMIN, username="ada")
    sign_in(client, admin)
    response = client.post("/staff/role-request/", {"user": admin.pk, "role": "finance", "reason": "I need it"})
    assert response.status_code == 409
    assert response.context["form"].non_field_errors() == [errors.MAKER_IS_SUBJECT]
    assert errors.MAKER_IS_SUBJECT.replace("'", "&#x27;") in response.content.decode()
    assert not ApprovalRequest.objects.exists()


# --- incompatible pairs: at request ---------------------------------------------------------------


@pytest.mark.parametrize(("held", "asked"), [(a, b) for a, b in PAIRS] + [(b, a) for a, b in PAIRS], ids=str)
def test_bad_incompatible_pair_is_refused_at_request(held: str, asked: str) -> None:
    target = staff(Role(held))
    with pytest.raises(OpsError) as refused:
        _grant(staff(Role.ADMIN), target, asked)
    assert str(refused.value) == errors.ROLE_CONFLICT.format(
        username=target.username, held=held, role=asked, reason=INCOMPATIBLE_ROLES[frozenset({Role(held), Role(asked)})]
    )
    assert not ApprovalRequest.objects.exists()


def test_bad_incompatible_pair_through_the_page_is_a_form_error(client: Client) -> None:
    target = staff(Role.RISK, username="rita")
    sign_in(client, staff(Role.ADMIN, username="ada"))
    shown = {member.username: member for member in client.get("/staff/").context["staff"]}
    assert Role.AUDITOR in shown["rita"].refused_roles  # shown at grant time, before asking
    response = client.post("/staff/role-request/", {"user": target.pk, "role": "auditor", "reason": "reads the trail"})
    assert response.status_code == 409
    assert "rita holds the risk role, which may not be held together with auditor" in response.content.decode()
    assert not ApprovalRequest.objects.exists()


def test_good_staff_page_shows_the_pairs_and_what_each_person_may_not_be_given(client: Client) -> None:
    staff(Role.FINANCE, username="fin")
    staff(Role.SUPPORT, username="sam")
    sign_in(client, staff(Role.ADMIN, username="ada"))
    html = client.get("/staff/").content.decode()
    assert 'data-testid="incompatible-roles"' in html
    assert html.count("<tr><td>") >= len(INCOMPATIBLE_ROLES)
    refused = roles_refused_for(User.objects.get(username="fin"))
    assert list(refused) == [Role.COMPLIANCE, Role.RISK, Role.ADMIN, Role.AUDITOR]
    assert list(roles_refused_for(User.objects.get(username="sam"))) == [Role.AUDITOR]


def test_bad_staff_create_with_an_incompatible_pair_is_refused() -> None:
    with pytest.raises(OpsError, match="may not be held together"):
        staff_create(username="both", email="b@example.test", password=None, roles=["admin", "finance"], reason="x")
    assert not User.objects.filter(username="both").exists()


# --- incompatible pairs: again at approval --------------------------------------------------------


@pytest.mark.parametrize(("held", "asked"), [(a, b) for a, b in PAIRS] + [(b, a) for a, b in PAIRS], ids=str)
def test_bad_incompatible_pair_made_meanwhile_is_refused_at_approval(held: str, asked: str) -> None:
    target = staff()
    request = _grant(staff(Role.ADMIN), target, asked)
    checker = _checker_for(request)
    _join(target, held)  # between the request and its approval
    done = approval_decide(request_id=request.pk, checker=checker, decision="approve", reason="ok")
    assert done.status == ApprovalStatus.FAILED
    assert "may not be held together" in done.failure_reason
    assert asked not in {g.name for g in User.objects.get(pk=target.pk).groups.all()}
    assert not AuditEvent.objects.filter(action=AuditAction.STAFF_ROLE_GRANTED, subject_id=str(target.pk)).exists()


# --- admin grants are checked by compliance -------------------------------------------------------


def test_good_admin_grant_is_checked_by_compliance_not_by_an_admin() -> None:
    target = staff(Role.SUPPORT)
    request = _grant(staff(Role.ADMIN), target, "admin")
    assert request.required_roles == ["compliance"]
    other_admin = staff(Role.ADMIN)
    assert approval_can_decide(other_admin, request).reason == errors.CHECKER_WRONG_ROLE.format(role="compliance")
    assert request not in approvals_waiting_for(other_admin)
    with pytest.raises(OpsError, match=errors.CHECKER_WRONG_ROLE.format(role="compliance")):
        approval_decide(request_id=request.pk, checker=other_admin, decision="approve", reason="fine by me")
    officer = staff(Role.COMPLIANCE)
    assert list(approvals_waiting_for(officer)) == [request]
    done = approval_decide(request_id=request.pk, checker=officer, decision="approve", reason="checked with HR")
    assert done.status == ApprovalStatus.EXECUTED
    assert {"admin", "support"} == {g.name for g in User.objects.get(pk=target.pk).groups.all()}


def test_good_any_grant_to_an_admin_is_checked_by_compliance() -> None:
    request = _grant(staff(Role.ADMIN), staff(Role.ADMIN), "support")
    assert request.required_roles == ["compliance"]
    assert _grant(staff(Role.ADMIN), staff(), "support").required_roles == ["admin"]  # others: an admin


def test_bad_compliance_officer_who_is_also_an_admin_cannot_check_an_admin_grant() -> None:
    request = _grant(staff(Role.ADMIN), staff(), "admin")
    both = staff(Role.COMPLIANCE)
    _join(both, "admin")  # a pair made around the services: the engine's level rule still holds
    assert approval_can_decide(both, request).reason == errors.CHECKER_HOLDS_EXCLUDED_ROLE.format(roles="admin")
    assert request not in approvals_waiting_for(both)
    with pytest.raises(OpsError, match=errors.CHECKER_HOLDS_EXCLUDED_ROLE.format(roles="admin")):
        approval_decide(request_id=request.pk, checker=both, decision="approve", reason="ok")


def test_bad_subject_who_became_an_admin_meanwhile_is_not_granted_on_an_admins_approval() -> None:
    target = staff()
    request = _grant(staff(Role.ADMIN), target, "support")
    assert request.required_roles == ["admin"]
    _join(target, "admin")
    done = approval_decide(request_id=request.pk, checker=staff(Role.ADMIN), decision="approve", reason="ok")
    assert done.status == ApprovalStatus.FAILED
    assert done.failure_reason == errors.GRANT_LEVELS_CHANGED.format(username=target.username, role="compliance")
    assert "support" not in {g.name for g in User.objects.get(pk=target.pk).groups.all()}
