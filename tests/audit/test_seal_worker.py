"""Sealing runs in a real Celery worker, scheduled by a real Celery beat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction

from audit.actions import AuditAction
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from audit.tasks import audit_seal_task
from tests.conftest import ROOT, wait_for, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.serial]


def _record(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(action=AuditAction.STAFF_LOGIN, subject=("ops.user", i))


def test_seal_task_runs_in_a_real_worker(celery_worker_process: subprocess.Popen[str]) -> None:
    _record(4)
    audit_seal_task.delay()
    wait_for(lambda: audit_chain_verify().unsealed == 0, timeout=30)
    assert audit_chain_verify().verified == 4


def test_beat_seals_new_events_shortly_after_commit(
    celery_worker_process: subprocess.Popen[str], tmp_path: Path
) -> None:
    env = worker_env() | {"AUDIT_SEAL_INTERVAL_SECONDS": "1"}
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "backoffice", "beat", "-l", "warning", "-s", str(tmp_path / "schedule")],
        env=env,
        cwd=ROOT,
    )
    try:
        _record(3)
        wait_for(lambda: audit_chain_verify().unsealed == 0, timeout=30)
        _record(2)  # and again, without anyone asking
        wait_for(lambda: audit_chain_verify().unsealed == 0, timeout=30)
    finally:
        beat.terminate()
        beat.wait(20)
    report = audit_chain_verify()
    assert report.ok and report.verified == 5
