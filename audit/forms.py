from django import forms

from audit.actions import AuditAction
from audit.models import SecurityEventKind


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, help_text="Exact actor, e.g. alice or system:audit")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditAction.choices])
    subject_type = forms.CharField(required=False, max_length=100, help_text="e.g. ops.user")
    subject_id = forms.CharField(required=False, max_length=64)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class SecurityLogFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *SecurityEventKind.choices])
    user = forms.CharField(required=False, max_length=150, help_text="A staff member's or a tried username")
    ip = forms.GenericIPAddressField(required=False, label="IP address")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data
