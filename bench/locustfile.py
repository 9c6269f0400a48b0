"""The locust scenario of ``bench/load.py`` (run as locust's own process; reads the plan it seeded).

Each user works at ``LOAD_RATE`` tasks per second (``constant_throughput``). A request whose status
is not 2xx/3xx, or whose page lacks what it should show, is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from typing import Any

from locust import HttpUser, constant_throughput, task

PLAN: dict[str, Any] = json.loads(open(os.environ["LOAD_PLAN"]).read())
RATE = float(os.environ.get("LOAD_RATE", "1"))
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

SIGNED_OUT = ("/login/", "/account/")  # a redirect there means the session is not signed in


def get(user: HttpUser, url: str, name: str) -> str:
    """GET ``url``; a failure unless it ends on the page itself (200), signed in."""
    with user.client.get(url, name=name, catch_response=True) as response:
        if response.status_code != 200 or any(part in response.url for part in SIGNED_OUT):
            response.failure(f"{name}: {response.status_code} at {response.url}")
        return response.text


_operators = itertools.cycle(PLAN["operators"])
_finance = itertools.cycle(PLAN["finance"])
_withdrawals = iter(PLAN["withdrawals"])
_callbacks = iter(PLAN["callbacks"])


class Operator(HttpUser):
    """Support and compliance: home, the queues, a queue, the client list, a client."""

    wait_time = constant_throughput(RATE)
    fixed_count = int(os.environ.get("LOAD_USERS_OPERATOR", "1"))

    def on_start(self) -> None:
        me = next(_operators)
        self.client.cookies.set("sessionid", me["session"])
        self.queues = me["queues"]

    @task
    def browse(self) -> None:
        page = random.choice(["home", "queues", "queue", "clients", "client"])
        if page == "home":
            get(self, "/", "home")
        elif page == "queue" and self.queues:
            get(self, f"/queues/{random.choice(self.queues)}/", "queue")
        elif page in ("queues", "queue"):  # an operator with no queue of their own sees the overview
            get(self, "/queues/", "queues")
        elif page == "clients":
            get(self, "/clients/?q=Load", "clients")
        else:
            get(self, random.choice(PLAN["clients"]), "client")


class Finance(HttpUser):
    """A finance officer: the approvals inbox, a withdrawal waiting for them, approve it."""

    wait_time = constant_throughput(RATE)
    fixed_count = int(os.environ.get("LOAD_USERS_FINANCE", "1"))

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", next(_finance))

    @task
    def approve(self) -> None:
        get(self, "/approvals/", "approvals")
        item = next(_withdrawals, None)
        if item is None:
            return
        token = CSRF.search(get(self, item["url"], "withdrawal"))
        with self.client.post(
            item["url"],
            {
                "action": "approve",
                "reason": "card matches the deposit",
                "payload_hash": item["payload_hash"],
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            headers={"Referer": self.host + item["url"]},
            name="approve",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302 or response.headers.get("Location", "").split("?")[0] != item["url"]:
                response.failure(f"approve answered {response.status_code} to {response.headers.get('Location')}")


class Psp(HttpUser):
    """The PSP: a signed payment.succeeded callback for a deposit the client paid."""

    wait_time = constant_throughput(RATE)
    fixed_count = int(os.environ.get("LOAD_USERS_PSP", "1"))

    @task
    def callback(self) -> None:
        item = next(_callbacks, None)
        if item is None:
            return
        headers = {"Content-Type": "application/json", **item["headers"]}
        self.client.post("/webhooks/simpay/", data=item["body"], headers=headers, name="callback")
