"""Follow-ups through a real Celery worker: beat's task runs each step when it is due (the days are
moved on by putting the due time in the past, as the escalation tests do), the worker sends the
e-mail and the SMS after commit, the simulated provider's delivery result and the client's reply
come back by its signed callback over HTTP, and the last step opens a work item for a person; a
client who uploads is not reminded again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from kyc.services.documents import document_upload
from ops.models import (
    EnrollmentStatus,
    FollowUpEnrollment,
    Interaction,
    InteractionChannel,
    InteractionStatus,
    WorkItem,
)
from ops.roles import Role
from ops.tasks import followups_run_due_task
from sim import sms as simsms
from tests.conftest import wait_for
from tests.factories import client as make_client
from tests.factories import staff
from tests.kyc import files
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def sms_worker(transactional_db: None, live_server: Any, tmp_path: Path) -> Iterator[Worker]:
    """A real worker whose simulated SMS provider calls back this test's server."""
    from backoffice.celery import app

    app.control.purge()
    worker = Worker("sms", tmp_path / "worker.log", env={"SIMSMS_WEBHOOK_URL": f"{live_server.url}/webhooks/sms/"})
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


def _days_pass(enrollment: FollowUpEnrollment) -> None:
    """The step's day has come: its due time is in the past."""
    enrollment.refresh_from_db()
    enrollment.next_due_at = timezone.now() - timedelta(minutes=1)
    enrollment.save(update_fields=["next_due_at"])


def _message(c: Any, channel: str, status: str) -> Interaction | None:
    return Interaction.objects.filter(subject_id=str(c.pk), channel=channel, status=status).first()


def test_good_beat_runs_the_steps_sms_reports_back_and_a_reply_hands_the_client_to_a_person(
    sms_worker: Worker, tmp_path: Path
) -> None:
    c = make_client(first_name="Rosa", last_name="Reminded")
    quiet = make_client(first_name="Uma", last_name="Uploaded")
    enrollment = FollowUpEnrollment.objects.get(subject_id=str(c.pk))
    stopped = FollowUpEnrollment.objects.get(subject_id=str(quiet.pk))
    with override_settings(KYC_STORAGE_ROOT=tmp_path / "kyc"):  # the client acts before day 3
        document_upload(
            client_id=quiet.pk, kind="proof_of_identity", upload=SimpleUploadedFile("id.pdf", files.pdf()),
            actor=staff(Role.SUPPORT),
        )  # fmt: skip

    _days_pass(enrollment)  # day 3: the e-mail reminder
    followups_run_due_task.delay()
    email = wait_for(lambda: _message(c, InteractionChannel.EMAIL, InteractionStatus.SENT), timeout=60)
    assert email is not None and email.template == "kyc.documents_reminder" and email.sent_at is not None
    assert email.actor_label == "system:ops.tasks.followups_run_due_task"

    _days_pass(enrollment)  # day 7: the SMS; the provider reports it delivered by its callback
    followups_run_due_task.delay()
    sms = wait_for(lambda: _message(c, InteractionChannel.SMS, InteractionStatus.DELIVERED), timeout=60)
    assert sms is not None and sms.recipient == c.phone and sms.provider_message_id

    simsms.client_reply(message_id=sms.provider_message_id, body="Will upload tonight")
    reply = wait_for(lambda: Interaction.objects.filter(in_reply_to=sms).first(), timeout=60)
    assert reply is not None and (reply.status, reply.body) == (InteractionStatus.RECEIVED, "Will upload tonight")

    # the reply ends the reminders (no day-10 step) and a person is asked to read it
    item = wait_for(lambda: WorkItem.objects.filter(queue__code="client_follow_up").first(), timeout=60)
    assert item is not None and item.subject == c and item.details["reply"] == "Will upload tonight"
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.next_due_at) == (EnrollmentStatus.STOPPED, None)
    assert "the client replied" in enrollment.ended_reason

    # the client who uploaded was never reminded, and their follow-up stays stopped
    stopped.refresh_from_db()
    assert stopped.status == EnrollmentStatus.STOPPED
    assert not Interaction.objects.filter(subject_id=str(quiet.pk)).exists()
    assert WorkItem.objects.filter(queue__code="client_follow_up").count() == 1
