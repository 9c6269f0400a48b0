from __future__ import annotations

from typing import Any

from django import forms

from kyc.models import DocumentKind, RejectionReason


class UploadForm(forms.Form):
    kind = forms.ChoiceField(choices=DocumentKind.choices, label="Document")
    file = forms.FileField(label="File (PDF, JPEG or PNG)")
    number = forms.CharField(required=False, max_length=60, label="Document number")
    issue_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    expiry_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, kinds: list[DocumentKind] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kinds is not None:
            self.fields["kind"].choices = [(k.value, k.label) for k in kinds]  # type: ignore[attr-defined]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")], widget=forms.HiddenInput)
    reason_code = forms.ChoiceField(
        required=False, choices=[("", "—"), *RejectionReason.choices], label="Rejection reason"
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Rationale", max_length=4000)


class IdentityRecheckForm(forms.Form):
    reason = forms.CharField(
        label="Why check it again", max_length=500, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
