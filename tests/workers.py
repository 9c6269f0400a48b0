"""Real Celery workers the tests start, watch, and kill (``kill -9``) themselves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from tests.conftest import ROOT, worker_env


class Worker:
    """One worker (its own process group: the main process and, with the prefork pool, its child),
    its log lines written to ``log_path``."""

    def __init__(
        self,
        name: str,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        loglevel: str = "info",
        pool: str = "solo",
    ) -> None:
        self.name = f"{name}-{os.getpid()}@%h"
        self.log_path = log_path
        self._log: IO[str] = log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", pool, "--concurrency", "1",
             "-l", loglevel, "-n", self.name, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env={**worker_env(), **(env or {})},
            cwd=ROOT,
            text=True,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> Worker:
        from backoffice.celery import app

        prefix = self.name.split("@")[0] + "@"
        deadline = time.monotonic() + timeout
        while True:
            replies = app.control.ping(timeout=0.5) or []
            if any(name.startswith(prefix) for reply in replies for name in reply):
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Celery worker did not come up:\n{self.log_path.read_text()[-3000:]}")

    def kill9(self) -> None:
        """``kill -9`` of the whole worker, main process and pool children (a container killed, a
        machine lost): no cleanup, nothing acknowledged."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()
