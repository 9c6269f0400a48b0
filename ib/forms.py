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
