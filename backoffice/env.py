"""Typed access to the environment.

Every setting that differs per deployment is read here. A bad value fails loudly with one line
that names the variable, what it expected and what it got. Secrets may also be given as
``NAME_FILE`` (a path whose content is the value), as Docker and Kubernetes secrets are mounted.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_UNSET = object()


class EnvError(ImproperlyConfigured):
    """A bad or missing environment variable."""


def _raw(name: str) -> str | None:
    file_var = f"{name}_FILE"
    if file_var in os.environ:
        path = Path(os.environ[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise EnvError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
    return os.environ.get(name)


def env_str(name: str, default: str | object = _UNSET) -> str:
    value = _raw(name)
    if value is None:
        if default is _UNSET:
            raise EnvError(f"{name}: required but not set")
        return str(default)
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(f"{name}: expected a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise EnvError(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise EnvError(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]
