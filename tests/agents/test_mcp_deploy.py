"""The MCP server in the production-like stack: a compose service like the others, published on the
host's loopback only, with the Host headers it accepts named."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import CommandError, call_command

from tests.conftest import ROOT


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_compose_serves_the_mcp_door_on_the_loopback_only() -> None:
    services = _services()
    mcp = services["mcp"]
    assert mcp["command"][:3] == ["python", "manage.py", "mcp_server"]
    assert mcp["ports"] == ["127.0.0.1:8765:8765"]
    assert all(str(p).startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))
    allowed = mcp["command"][mcp["command"].index("--allowed-hosts") + 1].split(",")
    assert "mcp:8765" in allowed
    assert mcp["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in ("worker", "beat"):  # the built-in agents reach it by its service name
        assert services[name]["environment"]["MCP_SERVER_URL"] == "http://mcp:8765/mcp"


def test_bad_mcp_server_bound_beyond_the_loopback_without_allowed_hosts_is_refused() -> None:
    with pytest.raises(CommandError, match="--allowed-hosts"):
        call_command("mcp_server", "--host", "0.0.0.0")  # noqa: S104 (the address the check is about)


@pytest.mark.django_db(transaction=True)
def test_mcp_app_outside_the_loopback_keeps_dns_rebinding_protection() -> None:
    from starlette.testclient import TestClient

    from agents.mcp_server import mcp_app
    from agents.models import Scope
    from tests.agents.helpers import register_agent

    _, token = register_agent("deployed", [Scope.READ_QUEUES])
    app = mcp_app(host="0.0.0.0", port=8765, allowed_hosts=["mcp:8765"])  # noqa: S104
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    with TestClient(app, base_url="http://mcp:8765") as http:
        refused = http.post("http://evil.example:8765/mcp", json=body, headers=headers)
        listed = http.post("/mcp", json=body, headers=headers)
    assert refused.status_code == 421
    assert listed.status_code == 200 and "queue_items" in listed.text
