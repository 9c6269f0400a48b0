"""Every benchmark runs in its quick mode, so that a crash in one is caught by ``make test``.

Each runs the way ``make bench`` runs it: ``python -m bench NAME --quick`` in a process of its own
(some start worker processes or pgbench), against a database of its own, created and migrated here
and dropped at the end. Never the test database: the benchmarks fill and empty tables, and the audit
tables are append-only. They run in the order of ``bench.BENCHMARKS`` in that one database, so each
also runs after the ones before it, as in ``make bench`` on a fresh clone; run one alone with
``-k NAME``. Whether a goal is met is the benchmark's own figure, not this test's claim.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings

from bench import BENCHMARKS
from tests.conftest import ROOT, _url_with_name, owner_url

# Generous: the quick runs take seconds to a few minutes; this only stops a hung benchmark.
TIMEOUT = 900
OUTCOMES = ("goal MET", "goal NOT MET", "reference figures (no goal)")


@pytest.fixture(scope="module")
def bench_env() -> Iterator[dict[str, str]]:
    """The environment of a benchmark run: a freshly migrated database named like ``make bench``'s."""
    name = f"{settings.DATABASES['default']['NAME']}_bench"  # "bench" in the name: the benchmarks check it
    # copied from the test databases' migrated template when there is one (the migrate below then
    # finds nothing to do), as the test database itself is
    template = settings.DATABASES["default"].get("TEST", {}).get("TEMPLATE")
    with psycopg.connect(owner_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    # The benchmarks are a tool, not the application: they make tables, VACUUM and bulk-load with the
    # triggers skipped, as `make bench` does: as the superuser (BENCH_DATABASE_URL), else the owner.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_OWNER_URL"}
    env["DATABASE_URL"] = (
        _url_with_name(os.environ["BENCH_DATABASE_URL"], name)
        if "BENCH_DATABASE_URL" in os.environ
        else owner_url(name)
    )
    env["DJANGO_SETTINGS_MODULE"] = "backoffice.settings.test"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=600
    )
    try:
        yield env
    finally:
        with psycopg.connect(owner_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # Tasks the benchmarks queued (notifications) have no worker and no database to run against.
        from backoffice.celery import app

        app.control.purge()


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_quick_mode_completes(bench_env: dict[str, str], name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", name, "--quick"],
        env=bench_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"python -m bench {name} --quick exited {result.returncode}:\n{output[-6000:]}"
    summary = result.stdout.rpartition("=== summary ===")[2].strip().splitlines()
    # The runner's verdict on run()'s answer: a bool (goal met or not) or None (figures only).
    assert [line.removeprefix(f"{name}: ") in OUTCOMES for line in summary] == [True], output[-6000:]
