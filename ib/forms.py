from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from ib.models import CommissionPlan, Partner, PartnerStatus, SymbolGroup


class PartnerForm(forms.Form):
    name = forms.CharField(max_length=200)
    parent = forms.ModelChoiceField(
        queryset=Partner.objects.none(), required=False, empty_label="— none: a master partner —",
        help_text="The partner above this one (its commissions share in this one's).",
    )  # fmt: skip
    code = forms.CharField(
        max_length=32, required=False, help_text="The referral code in the partner's links; left empty, one is made."
    )
    email = forms.EmailField(required=False)
    client_reference = forms.CharField(
        max_length=20, required=False, label="Own client reference",
        help_text="When the partner also trades with the broker: its client reference (e.g. C-000123).",
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parents = Partner.objects.filter(status=PartnerStatus.ACTIVE).order_by("path")
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.fields["parent"].label_from_instance = lambda p: f"{'— ' * (p.depth - 1)}{p.name} ({p.code})"  # type: ignore[attr-defined]


class AttributionChangeForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.none(), label="New partner")
    effective_from = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), label="Takes effect from"
    )
    campaign = forms.CharField(max_length=64, required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = Partner.objects.filter(status=PartnerStatus.ACTIVE).order_by("path")  # type: ignore[attr-defined]
        self.fields["partner"].label_from_instance = lambda p: f"{p.name} ({p.code})"  # type: ignore[attr-defined]
        self.fields["effective_from"].initial = timezone.localdate()


class DealImportForm(forms.Form):
    file = forms.FileField(
        label="Deal report file (CSV)",
        help_text="Columns: deal_id, login, symbol, side, lots, open_time, close_time, spread, commission, swap, "
        "profit, currency (a header line first; times in ISO 8601, UTC unless an offset is given).",
    )

    def clean_file(self) -> Any:
        from django.conf import settings

        from ib import errors

        upload = self.cleaned_data["file"]
        limit = settings.DEAL_IMPORT_MAX_UPLOAD_BYTES
        if (upload.size or 0) > limit:
            raise forms.ValidationError(errors.FEED_TOO_LARGE.format(size=upload.size, limit=limit))
        return upload


# --- commission plans and partner changes --------------------------------------------------------
# Numbers are read as text here and checked by the service (ib/services/plans.py), so a form and a
# payload meet the same rules and the same messages.


def _number_input(placeholder: str = "") -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "placeholder": placeholder, "size": 8})


class RuleForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "—")], required=False, label="Kind")
    symbol_group = forms.ModelChoiceField(
        queryset=SymbolGroup.objects.none(), to_field_name="code", required=False, label="Symbol group",
        empty_label="— (CPA, revenue share)",
    )  # fmt: skip
    rate = forms.CharField(
        required=False, widget=_number_input("8.00"), help_text="Per lot in the plan currency, or %."
    )
    tier_shares = forms.CharField(
        required=False, label="Tier shares", widget=forms.TextInput(attrs={"placeholder": "50/30/20", "size": 10}),
        help_text="% per level, the introducing partner first; they add up to 100.",
    )  # fmt: skip
    client_rebate_pct = forms.CharField(required=False, label="Client rebate %", widget=_number_input("0"))
    cap_per_trade = forms.CharField(required=False, label="Cap per trade", widget=_number_input())
    cap_per_day = forms.CharField(required=False, label="Cap per client and day", widget=_number_input())
    cap_per_client = forms.CharField(required=False, label="Cap per client and month", widget=_number_input())
    min_hold_seconds = forms.CharField(required=False, label="Minimum hold (seconds)", widget=_number_input("0"))
    cpa_min_deposit = forms.CharField(required=False, label="CPA: first deposit at least", widget=_number_input())
    cpa_min_lots = forms.CharField(required=False, label="CPA: lots traded", widget=_number_input())
    cpa_days = forms.CharField(required=False, label="CPA: within days", widget=_number_input())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from ib.models import RuleKind

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "—"), *RuleKind.choices]  # type: ignore[attr-defined]
        self.fields["symbol_group"].queryset = SymbolGroup.objects.order_by("name")  # type: ignore[attr-defined]

    def rule(self) -> dict[str, Any]:
        """The rule as the service reads it (the group by its code)."""
        data = dict(self.cleaned_data)
        group = data.pop("symbol_group", None)
        return {**data, "symbol_group": group.code if group is not None else ""}


RuleFormSet = forms.formset_factory(RuleForm, extra=2, max_num=20, absolute_max=20, validate_max=True)


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PlanVersionForm(forms.Form):
    valid_from = forms.DateField(widget=_date_widget(), label="In force from",
                                 help_text="Today or later: what was already earned does not change.")  # fmt: skip
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Why: the finance officer who approves reads it.")  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["valid_from"].initial = timezone.localdate()


class PlanForm(PlanVersionForm):
    code = forms.CharField(max_length=32, help_text="2 to 32 letters, digits, dashes or underscores.")
    name = forms.CharField(max_length=200)
    currency = forms.ChoiceField(choices=[])
    hold_days = forms.IntegerField(min_value=0, max_value=365, initial=7, label="Hold days",
                                   help_text="Days a commission stays pending (clawback window) before it can be paid.")  # fmt: skip

    field_order = ["code", "name", "currency", "hold_days", "valid_from", "note", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from payments.currencies import MINOR_UNITS

        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in sorted(MINOR_UNITS)]  # type: ignore[attr-defined]
        self.fields["currency"].initial = "EUR"


class PartnerPlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=CommissionPlan.objects.none(), label="Plan")
    valid_from = forms.DateField(widget=_date_widget(), label="Follows it from")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = CommissionPlan.objects.filter(versions__isnull=False).distinct().order_by("name")  # type: ignore[attr-defined]
        self.fields["plan"].label_from_instance = lambda p: f"{p.name} ({p.code}, {p.currency})"  # type: ignore[attr-defined]
        self.fields["valid_from"].initial = timezone.localdate()


class PartnerMoveForm(forms.Form):
    parent = forms.ModelChoiceField(
        queryset=Partner.objects.none(), required=False, label="New parent",
        empty_label="— none: a master partner —",
    )  # fmt: skip
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = Partner.objects.order_by("path")  # type: ignore[attr-defined]
        self.fields["parent"].label_from_instance = lambda p: f"{'— ' * (p.depth - 1)}{p.name} ({p.code})"  # type: ignore[attr-defined]


class CommissionRunForm(forms.Form):
    period_start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
