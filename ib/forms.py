from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from ib.models import Partner, PartnerStatus


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


class CommissionRunForm(forms.Form):
    period_start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
