"""The scheduled job that opens the quarter's access review runs in a real Celery worker."""

from __future__ import annotations

import subprocess

import pytest

from ops.models import AccessReview, JobHeartbeat, WorkItem
from ops.selectors import access_review_period
from ops.tasks import access_review_open_due_task, scheduler_heartbeat_task
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_good_worker_opens_the_quarters_review_in_the_compliance_queue(
    celery_worker_process: subprocess.Popen[str],
) -> None:
    access_review_open_due_task.delay()
    wait_for(lambda: WorkItem.objects.filter(queue__code="access_review").exists())
    review = AccessReview.objects.get()
    assert review.period == access_review_period()
    item = WorkItem.objects.get(queue__code="access_review")
    assert (item.subject_type.model, item.subject_id) == ("accessreview", str(review.pk))
    assert item.queue.roles == ["compliance"]
    access_review_open_due_task.delay()  # the next day's run: still one review, one item
    scheduler_heartbeat_task.delay()  # the solo worker runs tasks in order: this one shows it ran
    wait_for(lambda: JobHeartbeat.objects.exists())
    assert AccessReview.objects.count() == 1
    assert WorkItem.objects.filter(queue__code="access_review").count() == 1
