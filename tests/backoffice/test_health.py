"""Health checks: liveness (/healthz), readiness (/healthz/ready: database, Redis) and the full
status (/healthz/status: database, Redis, a worker answering, beat's heartbeat), each failing check
named in a 503."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from backoffice.celery import app
from ops.models import JobHeartbeat
from ops.services.heartbeat import heartbeat_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_ping(settings: Any) -> None:
    settings.HEALTH_WORKER_PING_SECONDS = 1


@pytest.fixture
def broker_on_a_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens on port 1


@pytest.fixture
def database_gone() -> Iterator[None]:
    """The web process's connection points at a database that does not exist (as after a failover
    to a wrong host): every new query fails to connect."""
    name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = "no_such_database"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name


def lines(body: bytes) -> list[str]:
    return body.decode().splitlines()


def test_good_liveness_asks_nothing(client: Client, broker_on_a_closed_port: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_good_ready_when_database_and_redis_answer(client: Client) -> None:
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    assert lines(response.content) == [
        "ok",
        "database: ok (SELECT 1 answered)",
        "redis: ok (PING answered)",
    ]


def test_bad_broker_on_a_closed_port_is_503_naming_redis(client: Client, broker_on_a_closed_port: None) -> None:
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    head, database, redis = lines(response.content)
    assert head == "failing: redis" and database.startswith("database: ok")
    assert redis.startswith("redis: failing (") and "refused" in redis.lower()


@pytest.mark.django_db(transaction=True)
def test_bad_database_unreachable_is_503_naming_the_database(client: Client, database_gone: None) -> None:
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    head, database, redis = lines(response.content)
    assert head == "failing: database"
    assert database.startswith("database: failing (OperationalError: ") and "no_such_database" in database
    assert redis == "redis: ok (PING answered)"


def test_bad_no_worker_answering_is_503_naming_the_workers(client: Client) -> None:
    heartbeat_record(worker="w1@host")
    response = client.get("/healthz/status")
    assert response.status_code == 503
    assert lines(response.content)[0] == "failing: workers"
    assert "workers: failing (no Celery worker answered a ping within 1 s)" in lines(response.content)


def test_bad_stale_beat_heartbeat_is_503_naming_beat(client: Client) -> None:
    heartbeat_record(worker="w1@host")
    JobHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(seconds=400))
    response = client.get("/healthz/status")
    assert response.status_code == 503
    assert lines(response.content)[0] == "failing: workers, beat"
    assert lines(response.content)[-1].startswith("beat: failing (stalled: scheduled jobs last ran 40")


def test_bad_broker_down_fails_the_workers_check_without_waiting(client: Client, broker_on_a_closed_port: None) -> None:
    heartbeat_record(worker="w1@host")
    response = client.get("/healthz/status")
    assert response.status_code == 503
    assert lines(response.content)[:2] == ["failing: redis, workers", "database: ok (SELECT 1 answered)"]
    assert "workers: failing (not asked: the broker does not answer)" in lines(response.content)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_good_status_with_a_worker_and_a_fresh_heartbeat(
    client: Client, celery_worker_process: subprocess.Popen[str]
) -> None:
    heartbeat_record(worker="w1@host")
    response = client.get("/healthz/status")
    assert response.status_code == 200
    assert lines(response.content)[0] == "ok"
    assert "workers: ok (1 answered)" in lines(response.content)
