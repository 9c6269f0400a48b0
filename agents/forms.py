from __future__ import annotations

from django import forms

from agents.models import Scope
from kyc.models import RejectionReason
from ops.models import User


class AgentRegisterForm(forms.Form):
    name = forms.SlugField(max_length=60, help_text="Lower case, digits and hyphens; it names the agent in the trail.")
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), help_text="The person answerable for it."
    )
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    model_name = forms.CharField(max_length=100, required=False, label="Model")
    prompt_version = forms.CharField(max_length=60, required=False)
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=False)
    rate_per_minute = forms.IntegerField(min_value=1, max_value=10_000, initial=60, label="Calls a minute")
    daily_budget = forms.IntegerField(min_value=1, max_value=1_000_000, initial=5000, label="Calls a day")
    shadow = forms.BooleanField(required=False, label="Shadow mode (proposals compared, never submitted)")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000)


class ScopesForm(forms.Form):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=False)
    shadow = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=2000)


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("accepted", "Accept"), ("edited", "Edit"), ("rejected", "Reject")])
    reason = forms.CharField(max_length=2000)
    decision = forms.ChoiceField(choices=[("", "—"), ("accept", "Accept"), ("reject", "Reject")], required=False)
    reason_code = forms.ChoiceField(choices=[("", "—"), *RejectionReason.choices], required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("outcome") == "edited":
            if not data.get("decision"):
                self.add_error("decision", "Your own decision: accept or reject.")
            elif data["decision"] == "reject" and not data.get("reason_code"):
                self.add_error("reason_code", "A rejection needs a reason code.")
        return data
