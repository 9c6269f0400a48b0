from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pgtrigger
import psycopg
import pytest
from django.conf import settings
from django.db import connections
from django.test import testcases
from pytest_django import DjangoDbBlocker

from audit.context import Actor, acting_as
from backoffice.db_roles import connected_as_owner

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
    # Only the owner role may TRUNCATE (the application role the tests run as may not).
    with connected_as_owner(), pgtrigger.ignore(*_append_only_truncate_uris()):
        _original_fixture_teardown(self)
    # The flush also empties what the data migrations created (the role groups and the queues);
    # put them back, as a freshly migrated database has them.
    from django.apps import apps

    from accounts.account_types import sync_account_types
    from ib.symbols import sync_symbol_groups
    from kyc.risk_factors import sync_risk_factors
    from ops.followups import sync_sequences
    from ops.queues import sync_queues
    from ops.roles import sync_roles
    from payments.policies import sync_policies
    from sim.platform import sync_symbols

    with acting_as(Actor.system("pytest")):
        sync_roles()
        sync_queues(apps)
        sync_sequences(apps)
        sync_account_types(apps)
        sync_risk_factors(apps)
        sync_policies(apps)
        sync_symbol_groups(apps)
        sync_symbols(apps)  # the simulated platform's instruments and prices


setattr(testcases.TransactionTestCase, "_fixture_teardown", _fixture_teardown)  # noqa: B010


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """The test database is created and migrated by the owner role, as ``manage.py migrate`` does
    in a deployment (pytest-django's documented hook for changing the settings before setup)."""
    owner = settings.DATABASE_OWNER
    if owner is not None:
        connections["default"].close()
        connections["default"].settings_dict.update(owner)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """After pytest-django created and migrated the test database as the owner (which granted the
    application role its privileges), the tests connect as the application role, as the web and the
    workers do; the owner drops the database at the end."""
    connection = connections["default"]
    owner = settings.DATABASE_OWNER
    if owner is None:
        yield
        return
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(USER=_APP_CREDENTIALS[0], PASSWORD=_APP_CREDENTIALS[1])
    yield
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(owner)


_APP_CREDENTIALS = (
    settings.DATABASE_APP_USER,
    str(settings.DATABASES["default"].get("PASSWORD") or ""),
)


def owner_url(name: str | None = None) -> str:
    """The owner role's URL for the test database (or ``name``); the application's when there is
    no owner role."""
    url = os.environ.get("DATABASE_OWNER_URL") or os.environ["DATABASE_URL"]
    return _url_with_name(url, name or settings.DATABASES["default"]["NAME"])


@contextlib.contextmanager
def owner_cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A cursor of a separate connection as the owner role, autocommit: what a person holding the
    owner's (or a superuser's) credentials could do behind the application's back."""
    with psycopg.connect(owner_url(), autocommit=True) as conn, conn.cursor() as cursor:
        yield cursor


@pytest.fixture(autouse=True)
def _system_actor() -> Iterator[None]:
    """Code under test that is not a request or a task runs as a named test actor."""
    with acting_as(Actor.system("pytest")):
        yield


def worker_env() -> dict[str, str]:
    """The environment for a real Celery worker pointed at the test database."""
    return database_env(settings.DATABASES["default"]["NAME"])


def database_env(name: str) -> dict[str, str]:
    """This environment with ``DATABASE_URL`` (and ``DATABASE_OWNER_URL``) naming database ``name``."""
    env = dict(os.environ)
    env["DATABASE_URL"] = _url_with_name(os.environ["DATABASE_URL"], name)
    if "DATABASE_OWNER_URL" in env:
        env["DATABASE_OWNER_URL"] = _url_with_name(env["DATABASE_OWNER_URL"], name)
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
