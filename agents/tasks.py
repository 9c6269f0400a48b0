"""The built-in agents run as Celery beat tasks, through the MCP door like any outside agent."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from celery import shared_task
from django.conf import settings

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def precheck_agent_task() -> dict[str, Any]:
    from agents.builtin import PRECHECK, precheck_run
    from agents.services import builtin_token

    return asyncio.run(precheck_run(url=settings.MCP_SERVER_URL, token=builtin_token(PRECHECK)))


@shared_task(ignore_result=True)
def triage_agent_task() -> dict[str, Any]:
    from agents.builtin import TRIAGE, triage_run
    from agents.services import builtin_token

    return asyncio.run(triage_run(url=settings.MCP_SERVER_URL, token=builtin_token(TRIAGE)))


@shared_task(ignore_result=True)
def rubber_stamp_watch_task() -> list[int]:
    from agents.services import rubber_stamp_watch

    return rubber_stamp_watch()
