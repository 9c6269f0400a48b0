"""Forms of the risk pages: they parse input; the services decide."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from accounts.models import Book
from risk.errors import SAR_NARRATIVE_REQUIRED, SAR_NO_TRANSACTIONS
from risk.models import AlertStatus, RuleKind

_DT = {"type": "datetime-local"}


class RuleVersionForm(forms.Form):
    params = forms.CharField(
        label="Parameters (JSON)", widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}),
        help_text="The kind's parameters as a JSON object; each one is checked and a problem names it.",
    )  # fmt: skip
    valid_from = forms.DateTimeField(
        label="In force from (UTC)", widget=forms.DateTimeInput(attrs=_DT, format="%Y-%m-%dT%H:%M")
    )
    valid_to = forms.DateTimeField(
        label="Until (UTC, optional)", required=False, widget=forms.DateTimeInput(attrs=_DT, format="%Y-%m-%dT%H:%M")
    )
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Why: the risk officer who approves reads it.")  # fmt: skip

    def __init__(self, *args: Any, initial_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["valid_from"].initial = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=5)
        if initial_params is not None:
            self.fields["params"].initial = json.dumps(initial_params, indent=1)


class RuleForm(RuleVersionForm):
    code = forms.CharField(max_length=40, help_text="2 to 40 letters, digits, dashes or underscores.")
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=RuleKind.choices)

    field_order = ["code", "name", "kind", "params", "valid_from", "valid_to", "note", "reason"]


class DispositionForm(forms.Form):
    disposition = forms.ChoiceField(
        choices=[(s.value, s.label) for s in AlertStatus if s != AlertStatus.OPEN], widget=forms.RadioSelect
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Kept with the alert to measure the rule's precision.")  # fmt: skip


class ExposureLimitForm(forms.Form):
    symbol = forms.CharField(max_length=32)
    max_net_lots = forms.CharField(
        max_length=20, required=False, label="Most net lots (long or short)", help_text="Leave empty for none."
    )
    max_net_notional = forms.CharField(
        max_length=24, required=False, label="Most net notional (long or short)",
        help_text="Lots x contract size x price, in the currency beside. Leave empty for none.",
    )  # fmt: skip
    notional_currency = forms.ChoiceField(label="Notional in", required=False)
    reason = forms.CharField(max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        from payments.currencies import MINOR_UNITS

        super().__init__(*args, **kwargs)
        self.fields["notional_currency"].choices = [(c, c) for c in MINOR_UNITS]  # type: ignore[attr-defined]
        self.fields["notional_currency"].initial = settings.RISK_REPORTING_CURRENCY


class RoutingForm(forms.Form):
    book = forms.ChoiceField(choices=Book.choices)
    leverage = forms.IntegerField(required=False, min_value=1, help_text="Leave empty to keep it.")
    group = forms.CharField(
        required=False,
        max_length=80,
        label="Platform group",
        help_text="Leave empty to keep it. The platform routes by group: name the group your dealing desk sends to "
        "liquidity providers for the A-book.",
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class FxRateForm(forms.Form):
    """The missing rate of a gap, as a finance or risk officer proposes it."""

    rate = forms.CharField(max_length=30, help_text="The price of one unit of the first currency in the second.")
    as_of = forms.DateTimeField(
        label="From (UTC)", widget=forms.DateTimeInput(attrs=_DT, format="%Y-%m-%dT%H:%M"),
        help_text="When the rate was the market's: at or before the moment it was first needed.",
    )  # fmt: skip
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text="Where the rate comes from (the source)."
    )


class DashboardFilterForm(forms.Form):
    group = forms.ChoiceField(required=False)
    partner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    country = forms.CharField(required=False, max_length=2)
    currency = forms.ChoiceField(required=False, label="Notional in")

    def __init__(self, *args: Any, groups: list[str], partners: list[tuple[int, str]], **kwargs: Any) -> None:
        from django.conf import settings

        from payments.currencies import MINOR_UNITS

        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [("", "All groups"), *[(g, g) for g in groups]]  # type: ignore[attr-defined]
        self.fields["partner"].choices = [("", "All partners"), *partners]  # type: ignore[attr-defined]
        reporting = settings.RISK_REPORTING_CURRENCY
        self.fields["currency"].choices = [  # type: ignore[attr-defined]
            ("", f"{reporting} (the reporting currency)"),
            *[(c, c) for c in MINOR_UNITS if c != reporting],
        ]

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and (len(value) != 2 or not value.isalpha()):
            raise forms.ValidationError("A two-letter country code, e.g. GB.")
        return value


class SarForm(forms.Form):
    """A suspicious activity report's draft: the narrative (required), which of the prefilled
    transactions to keep, and why there are none if none are kept."""

    narrative = forms.CharField(
        label="Analyst's narrative", widget=forms.Textarea(attrs={"rows": 10}), max_length=20000,
        error_messages={"required": SAR_NARRATIVE_REQUIRED},
        help_text="Who, what, when, where, why it is suspicious, and what was done.",
    )  # fmt: skip
    keep = forms.TypedMultipleChoiceField(
        label="Transactions to report", required=False, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    no_transactions_reason = forms.CharField(
        label="If no transaction is kept: why", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip

    def __init__(self, *args: Any, transactions: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["keep"].choices = [  # type: ignore[attr-defined]
            (n, f"{t.get('type')} {t.get('reference')} {t.get('amount') or ''} {t.get('currency') or ''} "
                f"{t.get('at') or ''}".strip())
            for n, t in enumerate(transactions)
        ]  # fmt: skip
        if not self.is_bound:
            self.fields["keep"].initial = [n for n, t in enumerate(transactions) if t.get("included", True)]

    def clean_narrative(self) -> str:
        value = (self.cleaned_data.get("narrative") or "").strip()
        if not value:
            raise forms.ValidationError(SAR_NARRATIVE_REQUIRED)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("keep") and not (data.get("no_transactions_reason") or "").strip():
            self.add_error("no_transactions_reason", SAR_NO_TRANSACTIONS)
        return data


class SarSubmitForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="For the second compliance officer who approves.")  # fmt: skip


class SarFilingForm(forms.Form):
    regulator_reference = forms.CharField(
        label="The regulator's reference", max_length=80, help_text="As the regulator's portal gave it once filed."
    )
