"""The client list's filters as the API takes them: a django-filter FilterSet whose form checks each
value (a NUL byte, an over-long text, an unknown choice is a 400 naming the filter) and whose
filters are documented in the OpenAPI schema. The filtering itself is the selector's, as the page's."""

from __future__ import annotations

from typing import Any

import django_filters
from django_countries import countries

from accounts.models import AccountType, Client, ClientKind, ClientStatus
from accounts.selectors import client_list
from ops.models import RiskLevel


def _account_types() -> list[tuple[str, str]]:
    return list(AccountType.objects.values_list("code", "name"))


class ClientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(max_length=200, help_text="name, e-mail, reference or id", method="_selector")
    status = django_filters.ChoiceFilter(choices=ClientStatus.choices, method="_selector")
    kind = django_filters.ChoiceFilter(choices=ClientKind.choices, method="_selector")
    account_type = django_filters.ChoiceFilter(choices=_account_types, method="_selector")
    country = django_filters.ChoiceFilter(choices=list(countries), method="_selector")
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices, method="_selector")
    manager = django_filters.CharFilter(max_length=150, help_text="the account manager's username", method="_selector")

    class Meta:
        model = Client
        fields: list[str] = []

    def _selector(self, queryset: Any, name: str, value: Any) -> Any:
        return queryset  # never called: filter_queryset hands every value to the selector at once

    def filter_queryset(self, queryset: Any) -> Any:
        values = {name: value for name, value in self.form.cleaned_data.items() if value}
        return client_list(user=self.request.user, **values)
