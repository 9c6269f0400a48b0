"""Structured logs: every line is one JSON object carrying the request id and the actor; a Celery
task's lines (its own and Celery's about it) carry the task's id and name."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from ops.roles import Role
from ops.tasks import scheduler_heartbeat_task
from tests.conftest import wait_for
from tests.factories import PASSWORD, staff
from tests.personas import sign_in
from tests.workers import Worker

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def console_output() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING: JSON in every setting but dev) writes."""
    [handler] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def test_good_a_request_logs_one_json_line_with_its_id_and_the_signed_in_user(client: Client) -> None:
    user = staff(Role.SUPPORT, username="sam.support")
    sign_in(client, user)
    with console_output() as buffer:
        ok = client.get("/", HTTP_X_REQUEST_ID="req-observe-0001")
        refused = client.get("/audit/", HTTP_X_REQUEST_ID="not valid!")  # support may not read the trail
    assert ok.status_code == 200 and refused.status_code == 403
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]  # every line is one JSON object
    access = [line for line in lines if line["logger"] == "backoffice.request"]
    assert [(a["path"], a["status"], a["actor"]) for a in access] == [
        ("/", 200, "sam.support"),
        ("/audit/", 403, "sam.support"),
    ]
    assert access[0]["request_id"] == "req-observe-0001" and access[0]["view"] == "home"
    assert access[0]["level"] == "info" and access[0]["event"] == "request" and "timestamp" in access[0]
    generated = refused["X-Request-ID"]  # an invalid incoming id is replaced, and the new one echoed
    assert generated != "not valid!" and access[1]["request_id"] == generated
    [warning] = [line for line in lines if line["logger"] == "django.request"]  # Django's own line, same fields
    assert (warning["level"], warning["request_id"], warning["actor"], warning["status_code"]) == (
        "warning",
        generated,
        "sam.support",
        403,
    )


def test_good_a_login_request_names_the_user_it_signed_in(client: Client) -> None:
    staff(Role.SUPPORT, username="lee.login")
    with console_output() as buffer:
        response = client.post("/login/", {"username": "lee.login", "password": PASSWORD})
    assert response.status_code == 302
    [access] = [json.loads(line) for line in buffer.getvalue().splitlines() if '"backoffice.request"' in line]
    assert access["actor"] == "lee.login" and access["request_id"] == response["X-Request-ID"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_good_a_celery_tasks_log_lines_carry_its_id_in_a_real_worker(tmp_path: Path) -> None:
    from backoffice.celery import app

    app.control.purge()
    worker = Worker("logs", tmp_path / "worker.log", loglevel="info").wait_ready()
    try:
        result = scheduler_heartbeat_task.delay()
        wait_for(lambda: any(result.id in line and "succeeded" in line for line in worker.log_lines()))
    finally:
        worker.stop()
    lines = [json.loads(line) for line in worker.log_lines() if line.startswith("{")]
    [done] = [line for line in lines if "succeeded" in line["event"] and line.get("task_id") == result.id]
    assert done["task_name"] == "ops.tasks.scheduler_heartbeat_task" and done["logger"] == "celery.app.trace"
