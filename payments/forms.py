"""The payments pages' forms. They parse what a person typed; the services decide (amounts are
checked against the currency's minor units by the service, so they stay text here)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from payments import errors
from payments.currencies import money_str
from payments.models import Channel, LedgerAccount
from payments.services.deposits import REFUND_REASONS
from payments.services.withdrawals import REJECT_REASONS

STATEMENT, SETTLEMENT = "statement", "settlement"


class DepositReleaseForm(forms.Form):
    reason = forms.CharField(
        label="Why this is the client's own money", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
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
