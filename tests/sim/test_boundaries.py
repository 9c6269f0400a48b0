"""The simulators stay outside the domain: no domain module imports them (ARCHITECTURE invariant 9),
production settings install none, and the migrations apply without them."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from tests.backoffice.test_settings import PROD_ENV
from tests.conftest import owner_url

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_APPS = ["accounts", "kyc", "payments", "ops", "audit", "ib", "reporting"]


def _sim_references(path: Path, root: Path = ROOT) -> Iterator[str]:
    """Imports of the sim package, and class paths into it (import_string)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.startswith("sim.") else []
        else:
            continue
        for name in names:
            if name == "sim" or name.startswith("sim."):
                yield f"{path.relative_to(root)}:{node.lineno}: {name}"


def test_the_check_finds_an_import_of_a_simulator(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        'from sim import simpay\nimport sim.platform\nimport simple_history\nPATH = "sim.simpay.SimPay"\n'
    )
    assert list(_sim_references(module, tmp_path)) == [
        "probe.py:1: sim",
        "probe.py:2: sim.platform",
        "probe.py:4: sim.simpay.SimPay",
    ]


def test_no_domain_module_imports_a_simulator() -> None:
    found = [ref for app in DOMAIN_APPS for path in sorted((ROOT / app).rglob("*.py")) for ref in _sim_references(path)]
    assert found == []


def test_the_sample_client_area_uses_nothing_of_the_back_office_but_its_api() -> None:
    """sim/client_area.py talks to the back office only over HTTP (the client-area API): it imports
    no app of the project, but the middleware's exemption that lets a page skip the staff second
    factor (as the PSP's checkout page does)."""
    apps = {*DOMAIN_APPS, "backoffice", "sim"}
    found = []
    for node in ast.walk(ast.parse((ROOT / "sim" / "client_area.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    assert [m for m in found if m.split(".")[0] in apps] == ["ops.middleware"]


@pytest.fixture
def scratch_database_url() -> Iterator[str]:
    """An empty database of its own on the test server, dropped afterwards."""
    from django.db import connection

    # made, migrated and read by the owner role (one role there: no DATABASE_OWNER_URL)
    name = f"{connection.settings_dict['NAME']}_prodcheck"
    with psycopg.connect(owner_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield owner_url(name)
    finally:
        with psycopg.connect(owner_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_apply_in_production_settings_without_the_simulators(scratch_database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_OWNER_URL"}
    env |= PROD_ENV | {"DATABASE_URL": scratch_database_url}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(scratch_database_url) as conn:
        apps = {row[0] for row in conn.execute("SELECT DISTINCT app FROM django_migrations")}
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"payments", "accounts"} <= apps and "sim" not in apps
    assert "payments_deposit" in tables
    assert [t for t in tables if "simpsp" in t or "simplatform" in t] == []


def _migrate(url: str, *targets: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_OWNER_URL"}
    env |= {"DJANGO_SETTINGS_MODULE": "backoffice.settings.test", "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", *targets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_good_a_demo_database_keeps_its_simulators_state_when_they_move(scratch_database_url: str) -> None:
    """Before the sim app, the simulators' rows lived in accounts and payments tables: the move
    copies them (ids and links kept) before those tables are dropped, and new rows follow on."""
    _migrate(scratch_database_url, "accounts", "0004_simplatformbalanceop")
    _migrate(scratch_database_url, "payments", "0004_deposit_refunds")
    with psycopg.connect(scratch_database_url) as conn:
        conn.execute(
            'INSERT INTO accounts_simplatformaccount (id, login, idempotency_key, name, "group", leverage, currency,'
            " trading_enabled, close_only, balance, equity, created_at)"
            " VALUES (7, '5000007', 'k7', 'Noah Smith', 'retail', 30, 'USD', true, false, 12.5, 12.5, now())"
        )
        conn.execute(
            "INSERT INTO accounts_simplatformposition (id, account_id, symbol, volume, margin)"
            " VALUES (3, 7, 'EURUSD', 1.5, 100)"
        )
        conn.execute(
            "INSERT INTO payments_simpsppayment (id, payment_id, order_reference, amount, currency, cardholder,"
            " card_last4, status, created_at) VALUES (4, 'pay_1', 'D-1', 50, 'EUR', 'NOAH', '4242', 'succeeded', now())"
        )
        conn.execute(
            "INSERT INTO payments_simpsprefund (id, refund_id, idempotency_key, payment_id, amount, currency,"
            " created_at) VALUES (2, 're_1', 'r1', 4, 20, 'EUR', now())"
        )
    # on through the move (sim 0001 runs before these) and the drops of the old tables; the rest of
    # the migrations, which touch none of these rows, apply to every test database
    _migrate(scratch_database_url, "accounts", "0005_sim_platform_moved")
    _migrate(scratch_database_url, "payments", "0007_sim_models_moved")
    with psycopg.connect(scratch_database_url) as conn:
        account = conn.execute("SELECT id, login, balance FROM sim_simplatformaccount").fetchall()
        position = conn.execute("SELECT account_id, symbol FROM sim_simplatformposition").fetchall()
        refund = conn.execute(
            "SELECT r.refund_id, p.payment_id FROM sim_simpsprefund r JOIN sim_simpsppayment p ON p.id = r.payment_id"
        ).fetchall()
        next_id = conn.execute(
            'INSERT INTO sim_simplatformaccount (login, idempotency_key, name, "group", leverage, currency,'
            " trading_enabled, close_only, balance, equity, created_at)"
            " VALUES ('x', 'k8', 'Ava', 'retail', 30, 'USD', true, false, 0, 0, now()) RETURNING id"
        ).fetchone()
        old = conn.execute(
            "SELECT to_regclass('accounts_simplatformaccount'), to_regclass('payments_simpsppayment')"
        ).fetchone()
    assert account == [(7, "5000007", Decimal("12.50"))]
    assert position == [(7, "EURUSD")]
    assert refund == [("re_1", "pay_1")]
    assert next_id is not None and next_id[0] > 7
    assert old == (None, None)
