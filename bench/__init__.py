"""Benchmarks for the back office. Run them with ``make bench`` (or ``python -m bench [NAMES] [--quick]``
inside ``python -m backoffice.devstack bench``), which provides the database and the settings.

Each benchmark is a module in this package with ``TITLE`` (one line) and ``run(*, quick: bool) -> bool``
(prints its figures and returns whether its goal was met, or None when it only reports figures);
``BENCHMARKS`` below lists them. ``tests/bench/test_bench_quick.py`` runs each in its quick mode.
"""

from __future__ import annotations

import os

# Every benchmark module in bench/, in the order they run. Adding one is adding its name here.
BENCHMARKS = [
    "audit_throughput",
    "audit_sql_floor",
    "queue_page",
    "screening",
    "ledger",
    "load",
    "commissions",
    "webhooks",
    "client_api",
    "reports",
    "risk_backtest",
]


def setup_django() -> None:
    """Configure Django from ``DJANGO_SETTINGS_MODULE`` in the environment (every process calls this)."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise SystemExit(
            "DJANGO_SETTINGS_MODULE is not set: run the benchmarks with `make bench` "
            "(python -m backoffice.devstack bench), which sets it and DATABASE_URL"
        )
    import django

    django.setup()
