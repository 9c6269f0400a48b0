"""A real MCP server process (``manage.py mcp_server``) on the test database, and agents to use it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import ROOT, worker_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class McpProcess:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._log = log_path.open("a")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "mcp_server", "--port", str(self.port)],
            env=worker_env(),
            cwd=ROOT,
            text=True,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> McpProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the MCP server did not come up:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def mcp_server(transactional_db: None, tmp_path: Path) -> Iterator[McpProcess]:
    server = McpProcess(tmp_path / "mcp.log").wait_ready()
    try:
        yield server
    finally:
        server.stop()


async def _session(url: str, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    results: list[Any] = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            for name, arguments in calls:
                if name == "__list_tools__":
                    results.append(sorted(t.name for t in (await client.list_tools()).tools))
                else:
                    results.append(await client.call_tool(name, arguments))
    return results


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to its end on a thread of its own (the browser tests' Playwright already runs
    an event loop on the test's thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def agent_session(url: str, token: str, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Connect as an agent with the SDK's client over HTTP, make ``calls`` in order, return the results
    (``("__list_tools__", {})`` lists the tool names)."""
    return list(run_async(_session(url, token, list(calls))))


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    if result.structured_content:
        return dict(result.structured_content)
    return dict(json.loads("".join(part.text for part in result.content)))


def error_text(result: Any) -> str:
    """The server's refusal, without the SDK's "Error executing tool NAME: " in front."""
    assert result.is_error, result
    text = "".join(getattr(part, "text", "") for part in result.content)
    return re.sub(r"^Error executing tool \w+: ", "", text)


def photo(width: int = 900, height: int = 600, seed: int = 1) -> bytes:
    """A picture with detail in it (a scan, not a blank page): a gradient with a pattern."""
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    assert pixels is not None
    for x in range(0, width):
        for y in range(0, height, 3):
            value = (x * 7 + y * 3 + seed * 31) % 256
            pixels[x, y] = (value, (value * 3) % 256, (x + seed) % 256)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def blank(width: int = 900, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(out, format="PNG")
    return out.getvalue()
