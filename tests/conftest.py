from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pgtrigger
import pytest
from django.conf import settings
from django.test import testcases

from audit.context import Actor, acting_as

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make there
# are ordinary synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _append_only_truncate_uris() -> list[str]:
    return [
        f"{model._meta.label}:{trigger.name}"
        for model, trigger in pgtrigger.registered()
        if trigger.name == "append_only_truncate"
    ]


# Transactional tests empty every table with TRUNCATE between tests. The audit and history tables
# refuse TRUNCATE; let only that teardown through.
_original_fixture_teardown = getattr(testcases.TransactionTestCase, "_fixture_teardown")  # noqa: B009


def _fixture_teardown(self: testcases.TransactionTestCase) -> None:
    with pgtrigger.ignore(*_append_only_truncate_uris()):
        _original_fixture_teardown(self)
    # The flush also empties what the data migrations created (the role groups and the queues);
    # put them back, as a freshly migrated database has them.
    from django.apps import apps

    from accounts.account_types import sync_account_types
    from kyc.risk_factors import sync_risk_factors
    from ops.queues import sync_queues
    from ops.roles import sync_roles
    from payments.policies import sync_policies

    with acting_as(Actor.system("pytest")):
        sync_roles()
        sync_queues(apps)
        sync_account_types(apps)
        sync_risk_factors(apps)
        sync_policies(apps)


setattr(testcases.TransactionTestCase, "_fixture_teardown", _fixture_teardown)  # noqa: B010


@pytest.fixture(autouse=True)
def _system_actor() -> Iterator[None]:
    """Code under test that is not a request or a task runs as a named test actor."""
    with acting_as(Actor.system("pytest")):
        yield


def worker_env() -> dict[str, str]:
    """The environment for a real Celery worker pointed at the test database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = _url_with_name(os.environ["DATABASE_URL"], settings.DATABASES["default"]["NAME"])
    env["DJANGO_SETTINGS_MODULE"] = "backoffice.settings.test"
    return env


def _url_with_name(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[str]]:
    """A real Celery worker process (solo pool) consuming from the embedded Redis."""
    from backoffice.celery import app

    app.control.purge()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "backoffice",
            "worker",
            "--pool",
            "solo",
            "-l",
            "warning",
            "-n",
            f"pytest-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=worker_env(),
        cwd=ROOT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        replies = app.control.ping(timeout=0.5) or []
        if any(f"pytest-{os.getpid()}@" in name for reply in replies for name in reply):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the Celery worker did not come up")
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll until predicate() is truthy (work done by another process); fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


from tests.personas import persona  # noqa: E402,F401  (the persona fixture of the access tests)
