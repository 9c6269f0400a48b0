"""Settings come from the environment; a bad value fails with one clear line; prod refuses
unsafe configuration and passes Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backoffice.env import EnvError, env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "backoffice.settings.prod",
    "DJANGO_SECRET_KEY": "k8#Vq2!pX9zL4mR7tW1yB6nC3sD0fG5hJ8kM2qP4rT6vX9zA1bC3dE5fG7hJ9kL0",
    "DJANGO_ALLOWED_HOSTS": "backoffice.example.com",
    "DJANGO_DEBUG": "false",
    # real adapters would be named here; settings only check that they are named and not simulators
    "TRADING_PLATFORM": "deploy_check.TradingPlatform",
    "PAYMENT_PROVIDER_CARD": "deploy_check.CardProvider",
}
PRINT_APPS = "from django.conf import settings; print(' '.join(settings.INSTALLED_APPS))"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True)


def test_typed_helpers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", " 42 ")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_str("X_SECRET") == "s3cret"
    assert env_str("X_MISSING", "d") == "d"


@pytest.mark.parametrize(
    ("name", "value", "call", "message"),
    [
        ("X_BOOL", "maybe", lambda: env_bool("X_BOOL", False), "X_BOOL: expected a boolean"),
        ("X_INT", "ten", lambda: env_int("X_INT", 1), "X_INT: expected an integer, got 'ten'"),
        ("X_INT", "-5", lambda: env_int("X_INT", 1, minimum=0), "X_INT: must be at least 0, got -5"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, call, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(EnvError, match=message):
        call()


def test_bad_value_stops_manage_py_with_one_line() -> None:
    result = _manage("check", DJANGO_SETTINGS_MODULE="backoffice.settings.dev", DJANGO_DEBUG="perhaps")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: DJANGO_DEBUG: expected a boolean (true/false, 1/0, yes/no, on/off), got 'perhaps'"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG: must be off in production"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY: set a random secret"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS: list the production host names"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS"),
        ({"BACKOFFICE_DEMO": "1"}, "BACKOFFICE_DEMO: demo mode is not allowed in production"),
        ({"TRADING_PLATFORM": ""}, "TRADING_PLATFORM: set the adapter's class path"),
        ({"PAYMENT_PROVIDER_CARD": ""}, "PAYMENT_PROVIDER_CARD: set the adapter's class path"),
        (
            {"TRADING_PLATFORM": "sim.platform.SimulatedPlatform"},
            "TRADING_PLATFORM: sim.platform.SimulatedPlatform is a simulator, for the demo and the tests only",
        ),
        (
            {"PAYMENT_PROVIDER_CARD": "sim.simpay.SimPay"},
            "PAYMENT_PROVIDER_CARD: sim.simpay.SimPay is a simulator, for the demo and the tests only",
        ),
        (
            {"PAYMENT_PROVIDERS_ROUTED": "sim.simpay.SimPay2"},
            "PAYMENT_PROVIDERS_ROUTED: sim.simpay.SimPay2 is a simulator, for the demo and the tests only",
        ),
        (
            {"IDENTITY_VERIFIER": "sim.idv.SimulatedIdentityVerifier"},
            "IDENTITY_VERIFIER: sim.idv.SimulatedIdentityVerifier is a simulator, for the demo and the tests only",
        ),
        (
            {"IDENTITY_VERIFIER": "deploy_check.IdentityVerifier", "IDENTITY_WEBHOOK_SECRET": "short"},
            "IDENTITY_WEBHOOK_SECRET: set the provider's result signing secret",
        ),
    ],
)
def test_prod_refuses_unsafe_configuration(override: dict[str, str], message: str) -> None:
    env = {**PROD_ENV, **override}
    if override.get("DJANGO_SECRET_KEY") == "":
        env.pop("DJANGO_SECRET_KEY")
    result = _manage("check", **env)
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_prod_passes_the_deployment_checks() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PROD_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "installed"),
    [
        (PROD_ENV, False),
        ({"DJANGO_SETTINGS_MODULE": "backoffice.settings.dev"}, True),
        ({"DJANGO_SETTINGS_MODULE": "backoffice.settings.test"}, True),
    ],
)
def test_simulators_are_installed_for_the_demo_and_tests_only(env: dict[str, str], installed: bool) -> None:
    result = _manage("shell", "--no-imports", "-c", PRINT_APPS, **env)
    assert result.returncode == 0, result.stderr
    apps = result.stdout.split()
    assert "payments" in apps and ("sim" in apps) is installed
