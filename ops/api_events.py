"""Staff REST API of the outbox: ``GET /api/v1/events``, the events sent to webhook endpoints, for a
receiver that missed some (an endpoint disabled for a while, deliveries given up) to fill the gap.
Oldest first, cursor-paginated; filtered by type and by ``since`` (created at or after).

Events are written in the transaction of their change, so one committed a moment later may carry
an earlier ``created_at`` than one already read: read again from a little before the last event
seen (a minute is plenty) and skip the ids already had."""

from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import pagination, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from backoffice.api import DecisionPermission
from ops.api import requires_scope
from ops.events import EventType
from ops.models import OutboxEvent
from ops.selectors import event_list
from ops.services.webhooks import events_can_list


class EventFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=EventType.choices, method="_selector")
    since = django_filters.IsoDateTimeFilter(method="_selector", help_text="events created at or after (ISO 8601)")

    class Meta:
        model = OutboxEvent
        fields: list[str] = []

    def _selector(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset  # never called: filter_queryset hands every value to the selector at once

    def filter_queryset(self, queryset: Any) -> Any:
        values = {name: value for name, value in self.form.cleaned_data.items() if value}
        return event_list(**values)


class EventCursorPagination(pagination.CursorPagination):
    ordering = ("created_at", "id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500


class SubjectSerializer(serializers.Serializer):
    type = serializers.CharField(help_text='the changed object\'s kind, e.g. "accounts.client"')
    id = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(help_text="the webhook-id its deliveries carried")
    type = serializers.ChoiceField(choices=EventType.choices)
    timestamp = serializers.DateTimeField(source="created_at")
    subject = serializers.SerializerMethodField()
    data = serializers.JSONField(help_text="the payload's data, as delivered")  # type: ignore[assignment]

    class Meta:
        model = OutboxEvent
        fields = ["id", "type", "timestamp", "subject", "data"]

    def get_subject(self, event: OutboxEvent) -> dict[str, str]:
        return {"type": event.subject_type, "id": event.subject_id}


class EventViewSet(viewsets.GenericViewSet):
    serializer_class = EventSerializer
    queryset = OutboxEvent.objects.none()
    permission_classes = [requires_scope("events:read"), DecisionPermission]
    decision_map = {"list": events_can_list}
    filterset_class = EventFilter
    pagination_class = EventCursorPagination

    def get_queryset(self) -> Any:
        return event_list()

    def list(self, request: Request) -> Response:
        events = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
