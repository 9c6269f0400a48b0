"""Serve the agents' MCP door over streamable HTTP: ``manage.py mcp_server [--port 8765]``."""

from __future__ import annotations

from typing import Any

import uvicorn
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve the MCP server (the agents' only door) on 127.0.0.1 over streamable HTTP."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--allowed-hosts",
            default="",
            help="Host headers accepted, comma-separated (mcp:8765,127.0.0.1:8765), when bound to another address "
            "than 127.0.0.1 (in a container); bound to 127.0.0.1 only local ones are accepted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from agents.mcp_server import mcp_app

        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError("--port: between 1 and 65535.")
        self.stdout.write(f"MCP server at http://{host}:{port}/mcp", ending="\n")
        self.stdout.flush()
        allowed = [h.strip() for h in options["allowed_hosts"].split(",") if h.strip()]
        if host not in ("127.0.0.1", "localhost", "::1") and not allowed:
            raise CommandError("--allowed-hosts: name the Host headers to accept when not bound to 127.0.0.1.")
        app = mcp_app(host=host, port=port, allowed_hosts=allowed)
        uvicorn.run(app, host=host, port=port, log_level="warning")
