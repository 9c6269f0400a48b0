"""The withdrawal list's filters as the API takes them (the payments page's status filter): a
django-filter FilterSet, so a bad value is a 400 naming the filter and the filter is documented in
the OpenAPI schema."""

from __future__ import annotations

import django_filters

from payments.models import Withdrawal, WithdrawalStatus


class WithdrawalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WithdrawalStatus.choices)

    class Meta:
        model = Withdrawal
        fields = ["status"]
