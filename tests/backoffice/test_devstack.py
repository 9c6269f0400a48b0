"""`make demo` runs on the port it is given, and the simulated PSP calls back that port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backoffice.devstack import demo_environment

ROOT = Path(__file__).resolve().parents[2]
PRINT_URL = "from django.conf import settings; print(settings.SIMPAY_WEBHOOK_URL)"


def _demo_settings_url(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_URL],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_good_simpay_calls_back_the_demo_on_its_own_port() -> None:
    outside = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "SIMPAY_WEBHOOK_URL"}
    assert _demo_settings_url(demo_environment(outside, port="8123")) == "http://127.0.0.1:8123/webhooks/simpay/"
    assert _demo_settings_url(demo_environment(outside, port="8765")) == "http://127.0.0.1:8765/webhooks/simpay/"


def test_good_an_explicit_callback_url_wins_over_the_port() -> None:
    outside = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    outside["SIMPAY_WEBHOOK_URL"] = "http://psp-callbacks.internal:9000/webhooks/simpay/"
    assert _demo_settings_url(demo_environment(outside, port="8123")) == outside["SIMPAY_WEBHOOK_URL"]
