"""`make audit-deps` never claims an audit it could not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_deps.py"


def test_an_unreachable_vulnerability_database_is_one_line_and_exit_2() -> None:
    # 127.0.0.1:443 has nothing listening here: the same refusal as a machine without internet.
    env = {**os.environ, "AUDIT_DEPS_HOST": "127.0.0.1"}
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("audit-deps: NOT audited: the vulnerability database 127.0.0.1 cannot be reached")
    assert "no known vulnerabilities" not in result.stdout.lower()
