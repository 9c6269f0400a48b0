"""The deal list's filters (a django-filter FilterSet: a bad value is a form error naming the filter)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from ib.models import Deal


class DealFilter(django_filters.FilterSet):
    login = django_filters.CharFilter(field_name="login", lookup_expr="exact", label="Login")
    client = django_filters.CharFilter(method="by_client", label="Client (name or reference)")
    symbol = django_filters.CharFilter(field_name="symbol", lookup_expr="iexact", label="Symbol")
    closed_from = django_filters.DateFilter(
        field_name="closed_at", lookup_expr="date__gte", label="Closed from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    closed_to = django_filters.DateFilter(
        field_name="closed_at", lookup_expr="date__lte", label="Closed to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    batch = django_filters.NumberFilter(field_name="batch_id", label="Batch #")

    class Meta:
        model = Deal
        fields = ["login", "client", "symbol", "closed_from", "closed_to", "batch"]

    def by_client(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        term = value.strip()[:100]
        if not term:
            return queryset
        return queryset.filter(
            Q(client__reference__iexact=term)
            | Q(client__last_name__icontains=term)
            | Q(client__first_name__icontains=term)
            | Q(client__legal_name__icontains=term)
        )
