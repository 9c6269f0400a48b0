"""Scheduled jobs watching themselves: Celery beat's heartbeat, run by a worker, records when the
scheduled-job pipeline last worked; a stale one turns /healthz/jobs to 503 and puts a banner on every
staff page (the system alerts, being scheduled jobs too, cannot report it)."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ops.models import JobHeartbeat
from ops.roles import Role
from ops.services.heartbeat import heartbeat_record, scheduler_status
from ops.tasks import scheduler_heartbeat_task
from tests.conftest import wait_for
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db


def _seen(seconds_ago: int) -> None:
    heartbeat_record(worker="w1@host")
    JobHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(seconds=seconds_ago))


def test_good_recent_heartbeat_is_healthy_and_shows_no_banner(client: Client) -> None:
    _seen(30)
    response = client.get("/healthz/jobs")
    assert response.status_code == 200
    assert re.fullmatch(r"ok: scheduled jobs last ran 3\d s ago \(limit 300 s\)\n", response.content.decode())
    sign_in(client, staff(Role.SUPPORT))
    assert 'data-testid="scheduler-stalled"' not in client.get("/").content.decode()


def test_bad_stale_heartbeat_is_503_and_a_banner_on_staff_pages(client: Client) -> None:
    _seen(301)  # SCHEDULER_STALL_SECONDS defaults to 300
    response = client.get("/healthz/jobs")
    assert response.status_code == 503
    assert re.fullmatch(r"stalled: scheduled jobs last ran 30\d s ago \(limit 300 s\)\n", response.content.decode())
    sign_in(client, staff(Role.SUPPORT))
    page = client.get("/").content.decode()
    assert 'data-testid="scheduler-stalled"' in page and "Scheduled jobs are not running" in page


def test_bad_no_heartbeat_yet_is_503_but_no_banner(client: Client) -> None:
    status = scheduler_status()
    assert status.seen_at is None and not status.stalled
    response = client.get("/healthz/jobs")
    assert response.status_code == 503 and "no heartbeat recorded yet" in response.content.decode()
    sign_in(client, staff(Role.SUPPORT))
    assert 'data-testid="scheduler-stalled"' not in client.get("/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_heartbeat_runs_in_a_real_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    scheduler_heartbeat_task.delay()
    wait_for(lambda: JobHeartbeat.objects.filter(name="scheduler").exists())
    beat = JobHeartbeat.objects.get(name="scheduler")
    assert beat.worker.startswith("pytest-")  # the worker's own name
    assert (timezone.now() - beat.last_seen_at).total_seconds() < 60
    assert not scheduler_status().stalled
