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

    def handle(self, *args: Any, **options: Any) -> None:
        from agents.mcp_server import mcp_app

        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError("--port: between 1 and 65535.")
        self.stdout.write(f"MCP server at http://{host}:{port}/mcp", ending="\n")
        self.stdout.flush()
        uvicorn.run(mcp_app(host=host, port=port), host=host, port=port, log_level="warning")
