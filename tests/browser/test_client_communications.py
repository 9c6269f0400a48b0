"""Client communications in the browser: a follow-up's SMS is sent by the worker, the simulated
provider reports it delivered and the client answers; a support agent reads the message, its
delivery result and the reply in the client's interaction log, then stops another client's
follow-up from the follow-ups page with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ops.models import EnrollmentStatus, FollowUpEnrollment, FollowUpStep, Interaction, InteractionStatus
from ops.roles import Role
from ops.tasks import followups_run_due_task
from sim import sms as simsms
from tests.browser.conftest import shot, sign_in
from tests.conftest import wait_for
from tests.factories import client as make_client
from tests.factories import staff
from tests.workers import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def sms_worker(transactional_db: None, live_server: Any, tmp_path: Path) -> Iterator[Worker]:
    from backoffice.celery import app

    app.control.purge()
    worker = Worker("sms", tmp_path / "worker.log", env={"SIMSMS_WEBHOOK_URL": f"{live_server.url}/webhooks/sms/"})
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


def test_good_the_interaction_log_shows_the_sms_its_delivery_and_the_reply(page: Page, sms_worker: Worker) -> None:
    staff(Role.SUPPORT, username="sam")
    c = make_client(first_name="Rosa", last_name="Reminded")
    other = make_client(first_name="Carl", last_name="Caller")
    enrollment = FollowUpEnrollment.objects.get(subject_id=str(c.pk))
    # the second step (day 7, SMS) is the one due
    enrollment.next_position = FollowUpStep.objects.get(sequence=enrollment.sequence, label="Reminder by SMS").position
    enrollment.next_due_at = timezone.now() - timedelta(minutes=1)
    enrollment.save(update_fields=["next_position", "next_due_at"])
    followups_run_due_task.delay()
    sms = wait_for(
        lambda: Interaction.objects.filter(subject_id=str(c.pk), status=InteractionStatus.DELIVERED).first(), timeout=60
    )
    assert sms is not None
    simsms.client_reply(message_id=sms.provider_message_id, body="Will upload tonight")
    wait_for(lambda: Interaction.objects.filter(in_reply_to=sms).exists(), timeout=60)

    sign_in(page, "sam")
    page.goto(f"/clients/{c.pk}/interactions/")
    log = page.get_by_test_id("interactions")
    message = log.locator(f'tr[data-interaction="{sms.pk}"]')
    expect(message).to_contain_text("SMS")
    expect(message).to_contain_text("we still need your documents")
    expect(message.get_by_test_id("status")).to_contain_text("Delivered")
    reply = log.locator('tr[data-status="received"]')
    expect(reply).to_contain_text("Will upload tonight")
    expect(reply).to_contain_text("Received from the client")
    expect(reply).to_contain_text("In reply to the message of")
    # the reply ended the reminders: the follow-up says why, and a person has the reply in a queue
    expect(page.get_by_test_id("client-followups")).to_contain_text("the client replied")
    shot(page, "client-interactions-sms")

    page.get_by_role("link", name="Follow-ups").click()
    row = page.get_by_test_id("enrollments").locator("tr", has_text="Carl Caller")
    expect(row).to_contain_text("Reminder by e-mail")
    row.get_by_label("Why stop it").fill("Called the client: documents come by post")
    row.get_by_role("button", name="Stop").click()
    expect(page.locator(".msg.success")).to_contain_text("is stopped")
    expect(page.get_by_test_id("ended")).to_contain_text("Called the client: documents come by post")
    shot(page, "followups")
    stopped = FollowUpEnrollment.objects.get(subject_id=str(other.pk))
    assert (stopped.status, stopped.ended_by) == (EnrollmentStatus.STOPPED, "sam")
