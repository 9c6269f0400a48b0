"""`make audit-deps`: pip-audit over requirements.lock against the OSV vulnerability database.

When the database cannot be reached (these build machines reach only a PyPI mirror), it says so in
one line and exits 2: it never prints a "no known vulnerabilities" it could not check. (pip-audit's
default PyPI source answers "Dependency not found on PyPI and could not be audited" for every
package on a mirror without the JSON API, and still exits 0; that is why OSV is named explicitly.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

OSV_HOST = os.environ.get("AUDIT_DEPS_HOST", "api.osv.dev")
LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def reachable(host: str, port: int = 443, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to host:port opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return str(error) or type(error).__name__


def main() -> int:
    why = reachable(OSV_HOST)
    if why is not None:
        print(f"audit-deps: NOT audited: the vulnerability database {OSV_HOST} cannot be reached ({why})")
        return 2
    command = [sys.executable, "-m", "pip_audit", "--vulnerability-service", "osv", "--requirement", str(LOCK)]
    command += ["--no-deps", "--disable-pip", "--strict", "--progress-spinner", "off"]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
