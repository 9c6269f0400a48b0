"""Follow-up sequences: enrolled where documents are requested, each step when it falls due (time
moved by the ``now`` the beat job is given), stopped when the client acts, handed to a person at
the end, stopped by hand with a reason from the page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.test import override_settings
from django.utils import timezone

from accounts.models import Client
from accounts.services.clients import client_transition
from audit.actions import AuditAction
from audit.models import AuditEvent
from kyc.services.documents import document_upload
from ops import errors
from ops.errors import OpsError
from ops.models import (
    EnrollmentStatus,
    FollowUpEnrollment,
    Interaction,
    InteractionChannel,
    InteractionStatus,
    WorkItem,
)
from ops.roles import Role
from ops.services.followups import followup_enroll, followup_stop, followups_run_due
from tests.factories import client as make_client
from tests.factories import staff
from tests.kyc import files
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _storage(tmp_path: Path) -> Iterator[None]:
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):
        yield


def _enrollment(c: Client, sequence: str = "documents_requested") -> FollowUpEnrollment:
    return FollowUpEnrollment.objects.get(subject_id=str(c.pk), sequence__code=sequence)


def _messages(c: Client) -> list[Interaction]:
    return list(Interaction.objects.filter(subject_id=str(c.pk), subject_type__model="client").order_by("id"))


def _upload(c: Client, kind: str = "proof_of_identity") -> None:
    upload = SimpleUploadedFile("scan.pdf", files.pdf())
    document_upload(client_id=c.pk, kind=kind, upload=upload, actor=staff(Role.SUPPORT))


def test_good_registration_enrols_with_the_first_reminder_due_in_three_days() -> None:
    before = timezone.now()
    c = make_client()
    enrollment = _enrollment(c)
    assert enrollment.status == EnrollmentStatus.ACTIVE
    assert enrollment.subject_label == f"{c.display_name} ({c.reference})"
    assert enrollment.addresses == {"email": c.email, "sms": c.phone}
    due = enrollment.next_due_at
    assert due is not None and before + 3 * DAY <= due <= timezone.now() + 3 * DAY
    assert AuditEvent.objects.filter(action=AuditAction.FOLLOWUP_ENROLLED, subject_id=str(c.pk)).count() == 1
    assert _messages(c) == []  # nothing is sent at registration itself


def test_good_steps_run_when_due_and_the_last_opens_a_work_item_for_the_client() -> None:
    c = make_client()
    start = _enrollment(c).started_at
    assert followups_run_due(now=start + 2 * DAY) == 0  # nothing due yet

    assert followups_run_due(now=start + 3 * DAY + timedelta(minutes=1)) == 1
    (email,) = _messages(c)
    assert (email.channel, email.template, email.recipient, email.status) == (
        InteractionChannel.EMAIL, "kyc.documents_reminder", c.email, InteractionStatus.QUEUED,
    )  # fmt: skip
    assert c.reference in email.body and email.title == "Reminder: we still need your documents"
    enrollment = _enrollment(c)
    assert (enrollment.next_position, enrollment.next_due_at) == (1, start + 7 * DAY)
    assert followups_run_due(now=start + 3 * DAY + timedelta(minutes=2)) == 0  # run once, not again

    assert followups_run_due(now=start + 7 * DAY) == 1
    sms = _messages(c)[-1]
    assert (sms.channel, sms.recipient) == (InteractionChannel.SMS, c.phone)
    assert len(sms.body) < 160 and c.reference in sms.body  # the SMS wording of the template

    assert followups_run_due(now=start + 10 * DAY) == 1
    item = WorkItem.objects.get(queue__code="client_follow_up")
    assert (item.subject, item.title) == (
        c, f"Documents requested at registration: follow up with {c.display_name} ({c.reference})"
    )  # fmt: skip
    enrollment = _enrollment(c)
    assert (enrollment.status, enrollment.work_item, enrollment.next_due_at) == (
        EnrollmentStatus.COMPLETED, item, None
    )  # fmt: skip
    assert AuditEvent.objects.filter(action=AuditAction.FOLLOWUP_STEP_RUN, subject_id=str(c.pk)).count() == 3
    assert AuditEvent.objects.filter(action=AuditAction.FOLLOWUP_COMPLETED, subject_id=str(c.pk)).count() == 1
    assert followups_run_due(now=start + 30 * DAY) == 0


def test_good_a_late_beat_keeps_the_declared_spacing() -> None:
    c = make_client()
    start = _enrollment(c).started_at
    late = start + 8 * DAY  # beat was down past the second step's day
    assert followups_run_due(now=late) == 1
    assert _enrollment(c).next_due_at == late + 4 * DAY  # 7 - 3 days after the first, not at once
    assert followups_run_due(now=late + DAY) == 0


def test_good_an_upload_stops_the_follow_up_and_nothing_more_is_sent() -> None:
    c = make_client()
    start = _enrollment(c).started_at
    followups_run_due(now=start + 3 * DAY)
    _upload(c)
    enrollment = _enrollment(c)
    assert (enrollment.status, enrollment.next_due_at) == (EnrollmentStatus.STOPPED, None)
    assert enrollment.ended_reason == "The client acted: the client uploaded a document."
    assert AuditEvent.objects.filter(action=AuditAction.FOLLOWUP_STOPPED, subject_id=str(c.pk)).count() == 1
    assert followups_run_due(now=start + 30 * DAY) == 0
    assert len(_messages(c)) == 1  # only the reminder sent before the upload
    assert not WorkItem.objects.filter(queue__code="client_follow_up").exists()


def test_good_documents_requested_at_review_enrols_in_the_additional_documents_sequence() -> None:
    c = make_client()
    for kind in ("proof_of_identity", "proof_of_address", "suitability_questionnaire"):
        _upload(c, kind)  # complete: to review
    officer = staff(Role.COMPLIANCE)
    client_transition(client_id=c.pk, name="request_documents", actor=officer, reason="a clearer bill, please")
    enrollment = _enrollment(c, "additional_documents")
    assert enrollment.status == EnrollmentStatus.ACTIVE
    followups_run_due(now=enrollment.started_at + 3 * DAY)
    (notice,) = [m for m in _messages(c) if m.template == "kyc.additional_documents_reminder"]
    # in-app: stored for the client area, delivered as it is stored
    assert (notice.channel, notice.status, notice.recipient) == (InteractionChannel.IN_APP, InteractionStatus.SENT, "")
    assert notice.sent_at is not None and "Documents page" in notice.body
    client_transition(client_id=c.pk, name="resubmit", actor=officer, reason="the client sent it by post")
    assert _enrollment(c, "additional_documents").status == EnrollmentStatus.STOPPED


def test_good_enrolling_twice_keeps_one_active_enrollment() -> None:
    c = make_client()
    again = followup_enroll(sequence="documents_requested", subject=c, label="x", addresses={}, context={})
    assert again == _enrollment(c)
    assert FollowUpEnrollment.objects.filter(subject_id=str(c.pk)).count() == 1


def test_good_no_phone_sends_the_sms_step_by_email() -> None:
    c = make_client(phone="")
    start = _enrollment(c).started_at
    followups_run_due(now=start + 3 * DAY)
    followups_run_due(now=start + 7 * DAY)
    assert [m.channel for m in _messages(c)] == [InteractionChannel.EMAIL, InteractionChannel.EMAIL]


def test_bad_stop_needs_a_reason_and_the_permission() -> None:
    c = make_client()
    enrollment = _enrollment(c)
    with pytest.raises(OpsError, match=errors.FOLLOWUP_REASON_REQUIRED):
        followup_stop(enrollment_id=enrollment.pk, actor=staff(Role.SUPPORT), reason="  ")
    with pytest.raises(OpsError, match=errors.FOLLOWUPS_NOT_ALLOWED):
        followup_stop(enrollment_id=enrollment.pk, actor=staff(Role.FINANCE), reason="no")
    assert _enrollment(c).status == EnrollmentStatus.ACTIVE


def test_good_staff_stop_a_follow_up_from_the_page_with_a_reason(client: HttpClient) -> None:
    c = make_client()
    enrollment = _enrollment(c)
    agent = staff(Role.SUPPORT, username="sam")
    http = sign_in(client, agent)
    page = http.get("/followups/")
    assert page.status_code == 200
    text = page.content.decode()
    assert c.display_name in text and "Reminder by e-mail" in text and "Documents requested at registration" in text
    assert "the client uploaded a document" in text  # the stop events by name

    empty = http.post(f"/followups/{enrollment.pk}/stop/", {"reason": ""})
    assert empty.status_code == 400
    assert _enrollment(c).status == EnrollmentStatus.ACTIVE

    done = http.post(f"/followups/{enrollment.pk}/stop/", {"reason": "The client phoned: documents by post"})
    assert (done.status_code, done["Location"]) == (302, "/followups/")
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.ended_reason, enrollment.ended_by) == (
        EnrollmentStatus.STOPPED, "The client phoned: documents by post", "sam"
    )  # fmt: skip
    event = AuditEvent.objects.get(action=AuditAction.FOLLOWUP_STOPPED, subject_id=str(c.pk))
    assert event.reason == "The client phoned: documents by post"
    again = http.post(f"/followups/{enrollment.pk}/stop/", {"reason": "twice"})
    assert again.status_code == 409
    assert followups_run_due(now=enrollment.started_at + 30 * DAY) == 0
