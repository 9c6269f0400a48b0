"""Agents in the Django admin: read-only. Registering, stopping and changing an agent go through
the agents pages (``agents.services``), which keep the reason and the audit event."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from agents.models import Agent, AgentCall, Proposal


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(ReadOnly):
    list_display = ("name", "owner", "enabled", "shadow", "builtin", "rate_per_minute", "daily_budget")
    exclude = ("token_hash",)


@admin.register(Proposal)
class ProposalAdmin(ReadOnly):
    list_display = ("pk", "agent", "action", "subject_id", "shadow", "review", "created_at")


@admin.register(AgentCall)
class AgentCallAdmin(ReadOnly):
    list_display = ("at", "agent", "tool", "outcome")
