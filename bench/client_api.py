"""Client-area API under load: the broker's portal calling /api/v1/client-area/ with its key, through
gunicorn on loopback, driven by locust headless (``bench/client_api_locustfile.py``, its own process).

The bench process seeds approved clients with money and a trading account, makes the client area's
key as the demo does (one administrator asks, another approves), starts gunicorn as ``bench/load.py``
does, and runs locust at a stated rate: each portal user reads a client (status, capabilities,
balances), its transactions, deposits, checklist or messages, moves 1.00 to the trading account, or
starts a bank deposit; every POST carries its own Idempotency-Key.

It prints the rate reached, p50/p95/p99 per operation and overall, and the errors (any status other
than the one expected). Goal: 50 requests/s reached (within 10%), no error, overall p95 within 200 ms.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import ROOT, _free_port, _read_stats, _start_web

TITLE = "client API: the portal's calls to /api/v1/client-area/ at 50 requests/s, through gunicorn (locust)"

P95_GOAL_MS = 200.0
FULL = {"users": 10, "rate": 5.0, "seconds": 60, "clients": 40}  # 10 users x 5 requests/s = 50 requests/s
QUICK = {"users": 2, "rate": 2.0, "seconds": 4, "clients": 3}


def _seed(*, clients: int) -> dict[str, Any]:
    from ops.models import User
    from ops.roles import Role
    from ops.services.api_keys import api_key_request
    from ops.services.approvals import approval_decide
    from tests.factories import StaffFactory, approved_client, card_deposit, staff

    def person(username: str) -> User:
        return User.objects.filter(username=username).first() or staff(Role.ADMIN, username=username)

    # the factories' staff (staff0, staff1, ...) may exist from an earlier benchmark in this database
    StaffFactory.reset_sequence(int(time.time()))

    people = []
    for n in range(clients):
        c = approved_client(provision=True, first_name="Portal", last_name=f"Client{n:03d}")
        card_deposit(c, "100000.00")
        people.append({"id": c.pk, "login": c.trading_accounts.get().login})
    made = api_key_request(
        maker=person("bench-key-maker"), name="bench portal", owner_kind="client_area",
        owner=None, scopes=["client_area"], allowed_ips=["127.0.0.1"], expires_at=None, rate_per_minute=1_000_000,
        reason="bench",
    )  # fmt: skip
    approval_decide(
        request_id=made.approval.pk, checker=person("bench-key-checker"), decision="approve",
        reason="bench",
    )  # fmt: skip
    return {"token": made.token, "clients": people}


def run(*, quick: bool) -> bool:
    shape = QUICK if quick else FULL
    users, rate, seconds = int(shape["users"]), float(shape["rate"]), int(shape["seconds"])
    from audit.context import Actor, acting_as

    started = time.monotonic()
    with acting_as(Actor.system("bench")):
        plan = _seed(clients=int(shape["clients"]))
    print(f"seeded in {time.monotonic() - started:.1f} s: {len(plan['clients'])} approved clients with money")

    work = Path(tempfile.mkdtemp(prefix="bench-client-api-"))
    (work / "plan.json").write_text(json.dumps(plan))
    port = _free_port()
    web = _start_web(port, work / "gunicorn.log")
    try:
        command = [
            sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "client_api_locustfile.py"), "--headless",
            "--host", f"http://127.0.0.1:{port}", "--users", str(users), "--spawn-rate", str(users),
            "--run-time", f"{seconds}s", "--csv", str(work / "api"), "--only-summary", "--loglevel", "WARNING",
        ]  # fmt: skip
        env = {**os.environ, "CLIENT_API_PLAN": str(work / "plan.json"), "CLIENT_API_RATE": str(rate)}
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 120)
        if result.returncode not in (0, 1):  # 1: some requests failed (counted below)
            print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
            raise RuntimeError(f"locust exited with {result.returncode}")
    finally:
        web.terminate()
        web.wait(timeout=30)

    rows = _read_stats(work / "api")
    failures_text = (work / "api_failures.csv").read_text() if (work / "api_failures.csv").exists() else ""
    shutil.rmtree(work)  # the plan holds the key's secret
    aggregated = next(r for r in rows if r["Name"] == "Aggregated")
    requests = int(aggregated["Request Count"])
    failures = int(aggregated["Failure Count"])
    stated = users * rate
    achieved = requests / seconds
    print(f"stated load: {users} portal users x {rate:g} requests/s = {stated:g} requests/s for {seconds} s; "
          f"gunicorn 2 workers x 4 threads")  # fmt: skip
    print(f"{'request':<34} {'count':>7} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in rows:
        print(f"{r['Type'] + ' ' + r['Name'] if r['Name'] != 'Aggregated' else 'all':<34} "
              f"{r['Request Count']:>7} {r['Failure Count']:>7} {r['50%']:>8} {r['95%']:>8} {r['99%']:>8}")  # fmt: skip
    p95 = float(aggregated["95%"]) if aggregated["95%"] not in ("", "N/A") else float("inf")
    reached = achieved >= 0.9 * stated
    print(f"requests/s reached: {achieved:.1f} (stated {stated:g}: {'reached' if reached else 'NOT reached'}); "
          f"errors: {failures} of {requests}; p95 {p95:.0f} ms (goal within {P95_GOAL_MS:.0f} ms); "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    if failures:
        print("errors:", failures_text[:2000])
    return failures == 0 and reached and p95 <= P95_GOAL_MS
