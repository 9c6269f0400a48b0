"""Forms of the commission money and dispute pages."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from ib.models import DisputeResolution

RESOLUTIONS = [(c.value, c.label) for c in DisputeResolution if c != DisputeResolution.ADJUSTED]


class DisputeForm(forms.Form):
    claim = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000,
                            help_text="What is wrong with this line, as the partner says it.")  # fmt: skip
    claimed_amount = forms.DecimalField(
        required=False, max_digits=18, decimal_places=2, min_value=Decimal("0.01"), label="Amount claimed (optional)"
    )


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(choices=RESOLUTIONS)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AdjustmentForm(forms.Form):
    amount = forms.CharField(max_length=24, help_text="In the partner's favour, e.g. 12.50.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class PayoutForm(forms.Form):
    currency = forms.CharField(max_length=3)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
