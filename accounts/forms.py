from __future__ import annotations

from typing import Any

from django import forms
from django_countries import countries

from accounts.models import AccountType, Client, ClientKind, ClientStatus, LinkReason, PartyRole
from ops.models import RiskLevel, User


class ClientForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=ClientKind.choices)
    tags = forms.CharField(required=False, help_text="Comma-separated")
    referral_code = forms.CharField(
        required=False, max_length=32, help_text="The introducing partner's code, when the client was referred"
    )
    campaign = forms.CharField(required=False, max_length=64, help_text="The partner's campaign, if any")

    class Meta:
        model = Client
        fields = [
            "kind", "first_name", "last_name", "date_of_birth", "nationality", "legal_name", "registration_number",
            "country", "address_line", "city", "postcode", "email", "phone", "segment", "tags",
            "account_manager", "account_type", "base_currency", "source_of_funds",
        ]  # fmt: skip
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account_type"].queryset = AccountType.objects.filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["account_manager"].queryset = User.objects.filter(is_active=True)  # type: ignore[attr-defined]

    def clean_tags(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]

    def _post_clean(self) -> None:
        # The model's own validation runs in the service (with the kind-specific rules).
        pass


class ClientFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", help_text="Name, e-mail, reference or id")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ClientStatus.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *ClientKind.choices], label="Client type")
    account_type = forms.ChoiceField(required=False, label="Account type")
    country = forms.ChoiceField(required=False, choices=[("", "Any country"), *countries])
    risk_level = forms.ChoiceField(required=False, choices=[("", "Any risk"), *RiskLevel.choices], label="Risk")
    manager = forms.CharField(required=False, max_length=150, label="Account manager")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account_type"].choices = [  # type: ignore[attr-defined]
            ("", "Any account type"),
            *AccountType.objects.values_list("code", "name"),
        ]


class TransitionForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    force = forms.BooleanField(required=False, label="Force the closure (balances or positions remain)")


class LeverageForm(forms.Form):
    leverage = forms.IntegerField(min_value=1, label="Leverage (1:N)")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class PartyForm(forms.Form):
    role = forms.ChoiceField(choices=PartyRole.choices)
    name = forms.CharField(max_length=200)
    date_of_birth = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    country = forms.ChoiceField(required=False, choices=[("", "—"), *countries])
    ownership_pct = forms.DecimalField(
        required=False, min_value=0, max_value=100, decimal_places=2, label="Ownership %"
    )
    is_pep = forms.BooleanField(required=False, label="Politically exposed person")


class LinkForm(forms.Form):
    other_reference = forms.CharField(max_length=20, label="Other client's reference")
    reason = forms.ChoiceField(choices=LinkReason.choices)
    note = forms.CharField(required=False, max_length=300)
