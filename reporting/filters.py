"""The one filter bar of every report: a django-filter FilterSet over clients, so a bad value is a
form error naming the filter, and the whole state lives in the URL's query string. The client
dimensions (account type, country, region, staff member) narrow the client set; the date range,
channel, currency and partner are read by each report from ``cleaned_data``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_countries import countries

from accounts.models import AccountType, Client
from ops.models import User
from payments.models import Channel
from reporting import errors
from reporting.regions import OTHER, countries_in, region_choices

DEFAULT_DAYS = 90


def _account_types() -> list[tuple[str, str]]:
    return list(AccountType.objects.values_list("code", "name"))


def _staff() -> list[tuple[str, str]]:
    return [
        (u.username, u.get_full_name() or u.username) for u in User.objects.filter(is_active=True).order_by("username")
    ]


def _currencies() -> list[tuple[str, str]]:
    from accounts.models import TradingAccount

    codes = set(Client.objects.values_list("base_currency", flat=True).distinct())
    codes |= set(TradingAccount.objects.values_list("currency", flat=True).distinct())
    return [(c, c) for c in sorted(codes)]


def _partners() -> list[tuple[str, str]]:
    from ib.models import Partner

    return list(Partner.objects.order_by("name").values_list("code", "name"))


class ReportFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", errors.DATES_REVERSED)
        return data


class ReportFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(
        label="From", method="_passthrough", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        label="To", method="_passthrough", widget=forms.DateInput(attrs={"type": "date"})
    )
    account_type = django_filters.ChoiceFilter(label="Account type", choices=_account_types, method="_account_type")
    country = django_filters.ChoiceFilter(label="Country", choices=list(countries), method="_country")
    region = django_filters.ChoiceFilter(label="Region", choices=region_choices, method="_region")
    staff = django_filters.ChoiceFilter(label="Staff member", choices=_staff, method="_passthrough")
    channel = django_filters.ChoiceFilter(label="Channel", choices=Channel.choices, method="_passthrough")
    currency = django_filters.ChoiceFilter(label="Currency", choices=_currencies, method="_passthrough")
    partner = django_filters.ChoiceFilter(label="Partner", choices=_partners, method="_partner")

    class Meta:
        model = Client
        fields: list[str] = []
        form = ReportFilterForm

    def _passthrough(self, queryset: QuerySet[Client], name: str, value: Any) -> QuerySet[Client]:
        return queryset  # read by the report (dates, channel, currency) or by ``staff_field``

    def _account_type(self, queryset: QuerySet[Client], name: str, value: str) -> QuerySet[Client]:
        return queryset.filter(account_type__code=value)

    def _country(self, queryset: QuerySet[Client], name: str, value: str) -> QuerySet[Client]:
        return queryset.filter(country=value)

    def _region(self, queryset: QuerySet[Client], name: str, value: str) -> QuerySet[Client]:
        if value == OTHER:
            return queryset.exclude(country__in=sorted(countries_in(OTHER)))
        return queryset.filter(country__in=sorted(countries_in(value)))

    def _partner(self, queryset: QuerySet[Client], name: str, value: str) -> QuerySet[Client]:
        return queryset.filter(attributions__partner__code=value).distinct()


@dataclass(frozen=True)
class Filters:
    """The cleaned filter values a report reads, with the period as moments [start, end)."""

    date_from: date
    date_to: date
    clients: QuerySet[Client]
    client_filtered: bool
    staff: str
    channel: str
    currency: str
    partner: str
    values: dict[str, str]

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.date_from, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.date_to + timedelta(days=1), time.min))

    def client_q(self, prefix: str = "client") -> Q:
        """Narrow a queryset whose ``prefix`` is a client to the filtered clients."""
        if not self.client_filtered:
            return Q()
        return Q(**{f"{prefix}__in": self.clients.values("pk")})


CLIENT_FILTERS = ("account_type", "country", "region", "partner")


def filters_from(report_filter: ReportFilter, *, today: date | None = None) -> Filters:
    """The report's filters; call only once ``report_filter.is_valid()``."""
    data = report_filter.form.cleaned_data
    today = today or timezone.localdate()
    date_to = data.get("date_to") or today
    date_from = data.get("date_from") or (date_to - timedelta(days=DEFAULT_DAYS))
    values = {k: str(v) for k, v in report_filter.form.cleaned_data.items() if v}
    return Filters(
        date_from=date_from,
        date_to=date_to,
        clients=report_filter.qs,
        client_filtered=any(data.get(name) for name in CLIENT_FILTERS),
        staff=data.get("staff") or "",
        channel=data.get("channel") or "",
        currency=data.get("currency") or "",
        partner=data.get("partner") or "",
        values=values,
    )
