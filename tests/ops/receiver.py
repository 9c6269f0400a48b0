"""A webhook receiver on 127.0.0.1 for the tests and the benchmark: a threading HTTP server that
records every request it gets (headers, body, arrival time) and answers with the status its
``answer`` says (200 unless changed; a list is answered in turn, then its last entry)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, answer: int | list[int] = 200, *, hold_at: int | None = None) -> None:
        """``hold_at``: the request that makes that many received is recorded, then not answered
        until ``release`` is set (``holding`` is set meanwhile): a delivery caught in flight."""
        self.received: list[Received] = []
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.release = threading.Event()
        self.answers = list(answer) if isinstance(answer, list) else [answer]
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body, time.time())
                    )
                    status = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                    hold = len(receiver.received) == receiver.hold_at
                if hold:
                    receiver.holding.set()
                    receiver.release.wait(60)
                reply = b'{"ok": true}' if status < 300 else b'{"error": "simulated"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)
