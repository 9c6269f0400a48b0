"""The locust scenario of ``bench/client_api.py``: the broker's portal calling the client-area API
with its key (run as locust's own process; reads the plan it seeded).

Each user makes ``CLIENT_API_RATE`` requests per second (``constant_throughput``), one per task. A
status other than the one the operation answers with (200, or 201 for a POST) is a failure.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

from locust import HttpUser, constant_throughput, task

PLAN: dict[str, Any] = json.loads(open(os.environ["CLIENT_API_PLAN"]).read())
RATE = float(os.environ.get("CLIENT_API_RATE", "1"))
BASE = "/api/v1/client-area/clients/"


class Portal(HttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {PLAN['token']}"

    def _get(self, path: str, name: str) -> None:
        with self.client.get(BASE + path, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{name}: {response.status_code} {response.text[:200]}")

    def _post(self, path: str, body: dict[str, Any], name: str) -> None:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(BASE + path, json=body, headers=headers, name=name, catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"{name}: {response.status_code} {response.text[:200]}")

    @task(30)
    def read_client(self) -> None:
        self._get(f"{random.choice(PLAN['clients'])['id']}/", "client")

    @task(20)
    def transactions(self) -> None:
        self._get(f"{random.choice(PLAN['clients'])['id']}/transactions/", "transactions")

    @task(10)
    def deposits(self) -> None:
        self._get(f"{random.choice(PLAN['clients'])['id']}/deposits/", "deposits")

    @task(10)
    def checklist(self) -> None:
        self._get(f"{random.choice(PLAN['clients'])['id']}/checklist/", "checklist")

    @task(10)
    def notifications(self) -> None:
        self._get(f"{random.choice(PLAN['clients'])['id']}/notifications/", "notifications")

    @task(10)
    def transfer(self) -> None:
        c = random.choice(PLAN["clients"])
        body = {"direction": "wallet_to_trading", "trading_account": c["login"], "amount": "1.00"}
        self._post(f"{c['id']}/transfers/", body, "transfer")

    @task(10)
    def bank_deposit(self) -> None:
        body = {"channel": "bank", "amount": "10.00", "currency": "EUR"}
        self._post(f"{random.choice(PLAN['clients'])['id']}/deposits/", body, "deposit")
