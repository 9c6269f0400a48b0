"""The ops pages as each role sees them: buttons a role may not use are not shown, and the server
refuses them anyway; bad input gets a message and changes nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ops.models import ApprovalRequest, ApprovalStatus, WorkItem, WorkItemStatus
from ops.roles import Role
from ops.services.work_items import work_item_claim
from tests.factories import staff, work_item
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _login(client: Client, role: Role, **kwargs: object) -> object:
    user = staff(role, **kwargs)
    sign_in(client, user)
    return user


def test_home_shows_my_queues_with_counts_and_breaches(client: Client) -> None:
    _login(client, Role.COMPLIANCE)
    work_item("kyc_review")
    work_item("kyc_review")
    work_item("withdrawal_approval")  # not a compliance queue
    html = client.get("/").content.decode()
    assert "KYC review" in html and "Withdrawal approval" not in html
    summary = {s.queue.code: s for s in client.get("/").context["summaries"]}
    assert summary["kyc_review"].open == 2 and summary["kyc_review"].unassigned == 2


def test_queue_page_filters_and_hides_other_queues(client: Client) -> None:
    user = _login(client, Role.COMPLIANCE)
    mine = work_item("kyc_review", risk_level="critical")
    work_item("kyc_review")
    work_item("risk_alert")
    work_item_claim(item_id=mine.pk, user=user)  # type: ignore[arg-type]
    assert client.get("/queues/").context["page"].paginator.count == 2
    assert [i.pk for i in client.get("/queues/?owner=me").context["page"]] == [mine.pk]
    assert client.get("/queues/?owner=unassigned").context["page"].paginator.count == 1
    assert client.get("/queues/risk_alert/").status_code == 404  # not a queue compliance may see
    response = client.get("/queues/?per_page=13")
    assert response.status_code == 400 and "per_page" in response.context["form"].errors


def test_queue_page_query_count_does_not_grow_with_page_size(client: Client) -> None:
    _login(client, Role.COMPLIANCE)
    for _ in range(120):
        work_item("kyc_review")
    counts = []
    for size in (25, 50, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/queues/?per_page={size}").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts


def test_next_item_button_claims_and_redirects(client: Client) -> None:
    user = _login(client, Role.COMPLIANCE)
    item = work_item("kyc_review")
    response = client.post("/queues/next/", {"queue": "kyc_review"})
    assert response.status_code == 302 and response["Location"] == f"/items/{item.pk}/"
    assert WorkItem.objects.get(pk=item.pk).owner == user
    response = client.post("/queues/next/", {"queue": "kyc_review"}, follow=True)
    assert "No unassigned items" in response.content.decode()


def test_item_page_shows_only_allowed_actions(client: Client) -> None:
    item = work_item("kyc_review")
    _login(client, Role.AUDITOR)  # sees every queue, works none
    html = client.get(f"/items/{item.pk}/").content.decode()
    assert "Claim</button>" not in html and "Resolve</button>" not in html
    assert client.post(f"/items/{item.pk}/claim/").status_code == 403  # refused anyway
    assert WorkItem.objects.get(pk=item.pk).owner is None


def test_support_cannot_see_compliance_items(client: Client) -> None:
    item = work_item("kyc_review")
    _login(client, Role.SUPPORT)
    assert client.get(f"/items/{item.pk}/").status_code == 404
    assert client.post(f"/items/{item.pk}/claim/").status_code == 404


def test_bad_resolve_without_code_is_a_form_error(client: Client) -> None:
    user = _login(client, Role.COMPLIANCE)
    item = work_item_claim(item_id=work_item("kyc_review").pk, user=user)  # type: ignore[arg-type]
    response = client.post(f"/items/{item.pk}/resolve/", {"code": "", "note": "checked"})
    assert response.status_code == 400 and "code" in response.context["resolve_form"].errors
    assert WorkItem.objects.get(pk=item.pk).status == WorkItemStatus.IN_PROGRESS
    response = client.post(f"/items/{item.pk}/resolve/", {"code": "fixed", "note": "re-uploaded"}, follow=True)
    assert (
        WorkItem.objects.get(pk=item.pk).status == WorkItemStatus.RESOLVED and "Resolved." in response.content.decode()
    )


def test_bad_claiming_a_claimed_item_says_who_owns_it(client: Client) -> None:
    item = work_item("kyc_review")
    work_item_claim(item_id=item.pk, user=staff(Role.COMPLIANCE, username="first"))
    _login(client, Role.COMPLIANCE)
    response = client.post(f"/items/{item.pk}/claim/")
    assert response.status_code == 403 and "already owned by first" in response.content.decode()


def test_role_grant_through_the_pages(client: Client) -> None:
    target = staff(Role.SUPPORT, username="target")
    maker = _login(client, Role.ADMIN, username="maker")
    response = client.post("/staff/role-request/", {"user": target.pk, "role": "admin", "reason": "new lead"})
    request = ApprovalRequest.objects.get()
    assert response["Location"] == f"/approvals/{request.pk}/"
    page = client.get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-testid="maker-note"' in page and ">Approve</button>" not in page
    refused = client.post(
        f"/approvals/{request.pk}/decide/",
        {"decision": "approve", "reason": "me", "payload_hash": request.payload_hash},
    )
    assert refused.status_code == 403 and ApprovalRequest.objects.get().status == ApprovalStatus.PENDING
    sign_in(client, staff(Role.ADMIN, username="other-admin"))  # an admin grant: not for admins to check
    assert [r.pk for r in client.get("/approvals/").context["waiting"]] == []
    checker = staff(Role.COMPLIANCE, username="checker")
    sign_in(client, checker)
    assert [r.pk for r in client.get("/approvals/").context["waiting"]] == [request.pk]
    client.post(
        f"/approvals/{request.pk}/decide/",
        {"decision": "approve", "reason": "ok", "payload_hash": request.payload_hash},
    )
    assert ApprovalRequest.objects.get().status == ApprovalStatus.EXECUTED
    assert "admin" in [g.name for g in target.groups.all()]
    assert maker.pk != checker.pk  # type: ignore[attr-defined]


def test_bad_role_request_form_names_the_field(client: Client) -> None:
    _login(client, Role.ADMIN)
    response = client.post("/staff/role-request/", {"user": "", "role": "wizard", "reason": ""})
    assert response.status_code == 400
    assert {"user", "role", "reason"} <= set(response.context["form"].errors)
    assert not ApprovalRequest.objects.exists()


def test_non_admin_cannot_request_role_grants(client: Client) -> None:
    _login(client, Role.COMPLIANCE)
    assert client.get("/staff/").status_code == 403
    assert client.post("/staff/role-request/", {}).status_code == 403


def test_admin_tunes_a_queue_sla_with_an_audited_reason(client: Client) -> None:
    from audit.models import AuditEvent
    from ops.models import Queue

    _login(client, Role.ADMIN)
    queue = Queue.objects.get(code="kyc_review")
    form = {
        "name": queue.name,
        "sla_minutes": 600,
        "roles": "compliance",
        "escalation_target": queue.escalation_target_id,
        "lead": "",
    }
    missing_reason = client.post(f"/admin/ops/queue/{queue.pk}/change/", form)
    assert missing_reason.status_code == 200 and Queue.objects.get(pk=queue.pk).sla_minutes == queue.sla_minutes
    client.post(f"/admin/ops/queue/{queue.pk}/change/", form | {"change_reason": "more reviewers hired"})
    assert Queue.objects.get(pk=queue.pk).sla_minutes == 600
    event = AuditEvent.objects.get(action="queue.configured")
    assert event.before == {"sla_minutes": queue.sla_minutes} and event.after == {"sla_minutes": 600}
    assert event.reason == "more reviewers hired"


def test_priority_filter_bands_cover_every_item_once(client: Client) -> None:
    from ops.services.work_items import work_item_hold

    user = _login(client, Role.COMPLIANCE)
    items = [work_item("kyc_review", risk_level=r) for r in ("low", "medium", "high", "critical")]
    paused = work_item_claim(item_id=items[0].pk, user=user)  # type: ignore[arg-type]
    work_item_hold(item_id=paused.pk, user=user, reason="asked for a bank statement")  # type: ignore[arg-type]
    seen = []
    for band in ("P1", "P2", "P3", "P4"):
        seen += [i.pk for i in client.get(f"/queues/?priority={band}").context["page"]]
    assert sorted(seen) == sorted(i.pk for i in items)
    assert paused.pk in [i.pk for i in client.get("/queues/?priority=P4").context["page"]]


def test_approval_page_names_the_action_subject_and_details(client: Client) -> None:
    from ops.services.approvals import approval_submit

    target = staff(Role.SUPPORT, username="newcomer")
    request = approval_submit(
        action="staff.grant_role", subject=target, payload={"role": "compliance"}, maker=staff(Role.ADMIN),
        reason="moves to the KYC team",
    )  # fmt: skip
    _login(client, Role.ADMIN)
    html = client.get(f"/approvals/{request.pk}/").content.decode()
    assert '<dd data-testid="approval-action">Grant a staff role</dd>' in html
    assert '<span class="kind">User</span> newcomer' in html
    assert '<span class="field">role</span> compliance' in html
    assert "Administrator:" in html  # the level, by the role's name
    for internal in ("staff.grant_role", "ops.user", "{&#x27;role&#x27;"):
        assert internal not in html


def test_work_item_page_links_its_subject_by_name(client: Client) -> None:
    from tests.factories import client as make_client

    customer = make_client(first_name="Noah", last_name="Smith")
    item = work_item("kyc_review", subject=customer, details={"documents_missing": ["proof_of_address"]})
    _login(client, Role.COMPLIANCE)
    html = client.get(f"/items/{item.pk}/").content.decode()
    assert (
        f'<span class="kind">Client</span> <a href="/clients/{customer.pk}/">Noah Smith ({customer.reference})</a>'
        in html
    )
    assert '<span class="field">documents missing</span> [&quot;proof_of_address&quot;]' in html
    assert "accounts.client" not in html


def test_work_item_history_names_the_owner_queue_and_status(client: Client) -> None:
    owner = staff(Role.COMPLIANCE, username="carla")
    sign_in(client, owner)
    item = work_item("kyc_review")
    work_item_claim(item_id=item.pk, user=owner)
    html = client.get(f"/items/{item.pk}/").content.decode()
    assert "<td>In progress</td><td>carla</td><td>KYC review</td>" in html
    assert f"<td>{owner.pk}</td>" not in html and "<td>in_progress</td>" not in html
