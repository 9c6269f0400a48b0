"""The payments pages' forms. They parse what a person typed; the services decide (amounts are
checked against the currency's minor units by the service, so they stay text here)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from payments import errors
from payments.currencies import money_str
from payments.models import Channel, LedgerAccount, RoutingRule
from payments.services.deposits import REFUND_REASONS
from payments.services.withdrawals import REJECT_REASONS

STATEMENT, SETTLEMENT = "statement", "settlement"


class DepositReleaseForm(forms.Form):
    reason = forms.CharField(
        label="Why this is the client's own money", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


class ChargebackRespondForm(forms.Form):
    note = forms.CharField(
        label="Why the payment was the cardholder's (sent with the evidence)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )


class DepositReturnForm(forms.Form):
    reason_code = forms.ChoiceField(label="Return because", choices=list(REFUND_REASONS.items()))
    note = forms.CharField(label="Note", required=False, max_length=2000)


class WithdrawalApproveForm(forms.Form):
    """A checker's approval of the review's next level, on the payload (hash) the page showed."""

    reason = forms.CharField(label="Reason for approving", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    payload_hash = forms.CharField(required=False, widget=forms.HiddenInput)


class WithdrawalRejectForm(forms.Form):
    reason_code = forms.ChoiceField(label="Reject because", choices=list(REJECT_REASONS.items()))
    note = forms.CharField(label="Note", required=False, max_length=2000)


class SourceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, LedgerAccount)
        return f"{obj.code} — available {money_str(obj.balance.available, obj.currency)}"


class WithdrawalForm(forms.Form):
    """A withdrawal finance enters for a client (asked for by phone or e-mail)."""

    source = SourceChoiceField(label="From", queryset=LedgerAccount.objects.none(), empty_label=None)
    amount = forms.CharField(label="Amount", max_length=30, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    method = forms.ChoiceField(label="Method", choices=Channel.choices)
    destination = forms.CharField(label="Destination (IBAN or card fingerprint)", max_length=120)
    destination_name = forms.CharField(label="Beneficiary name", max_length=200)

    def __init__(self, *args: Any, sources: QuerySet[LedgerAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = sources  # type: ignore[attr-defined]


class StatementUploadForm(forms.Form):
    kind = forms.TypedChoiceField(
        label="Kind",
        required=False,
        empty_value=STATEMENT,
        choices=[(STATEMENT, "Bank statement (MT940 or CAMT.053)"), (SETTLEMENT, "Card PSP settlement report (CSV)")],
    )
    file = forms.FileField(label="File")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.STATEMENT_MAX_UPLOAD_BYTES
        if (upload.size or 0) > limit:
            raise forms.ValidationError(errors.FILE_TOO_LARGE.format(size=upload.size, limit=limit))
        return upload


class BreakResolveForm(forms.Form):
    note = forms.CharField(
        label="What explains the difference", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


class PaymentLinkForm(forms.Form):
    """Staff make a payment link for a client: a card checkout, or the bank details to pay to."""

    channel = forms.ChoiceField(label="Pay by", choices=Channel.choices, initial=Channel.CARD)
    amount = forms.CharField(label="Amount", max_length=30, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    currency = forms.CharField(label="Currency", max_length=3)
    # one key per form shown: submitting the same form twice starts one deposit
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=120)


ROUTING_OPS = [
    ("add", "Add a rule"),
    ("edit", "Edit a rule"),
    ("disable", "Disable a rule"),
    ("enable", "Enable a rule"),
]


class RuleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, RoutingRule)
        return f"#{obj.priority} → {obj.provider}{'' if obj.enabled else ' (disabled)'}"


class RoutingChangeForm(forms.Form):
    """Ask for a PSP routing change; a second finance officer approves it."""

    op = forms.ChoiceField(label="Change", choices=ROUTING_OPS)
    rule = RuleChoiceField(label="Rule", queryset=RoutingRule.objects.all(), required=False)
    priority = forms.IntegerField(label="Priority (lower first)", required=False, min_value=0, max_value=1_000_000)
    currency = forms.CharField(label="Currency (empty: any)", max_length=3, required=False)
    countries = forms.CharField(label="Countries (e.g. DE, AT; empty: any)", max_length=500, required=False)
    min_amount = forms.CharField(label="Minimum amount", max_length=30, required=False)
    max_amount = forms.CharField(label="Maximum amount", max_length=30, required=False)
    provider = forms.ChoiceField(label="Provider", choices=[], required=False)
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, providers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "—"), *[(p, p) for p in providers]]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("op") in ("edit", "disable", "enable") and not data.get("rule"):
            self.add_error("rule", "Choose the rule to change.")
        return data
