from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from agents.models import Scope
from kyc.models import RejectionReason
from ops.models import ResolutionCode, RiskLevel, User


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


# --- what a reviewer may change, per kind of proposal (``agents.edits``): one form each, prefixed by
# the proposal so that every card of the review page has its own fields


def _queue_choices() -> list[tuple[str, str]]:
    from ops.queues import QUEUES

    return [("", "— keep the queue —"), *((q.code, q.name) for q in QUEUES)]


class DocumentEditForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept the document"), ("reject", "Reject the document")])
    reason_code = forms.ChoiceField(choices=[("", "—"), *RejectionReason.choices], required=False,
                                    label="Rejection reason")  # fmt: skip

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not data.get("reason_code"):
            self.add_error("reason_code", "A rejection needs a reason code.")
        if data.get("decision") == "accept":
            data["reason_code"] = ""
        return data


class ResolutionEditForm(forms.Form):
    code = forms.ChoiceField(choices=ResolutionCode.choices, label="Resolution")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=1000, label="Resolution note")


class RiskLevelEditForm(forms.Form):
    level = forms.ChoiceField(choices=RiskLevel.choices, label="Risk level")


class ReplyEditForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=4000, label="Reply")


def _withdrawal_reasons() -> list[tuple[str, str]]:
    from payments.services.withdrawals import REJECT_REASONS

    return [
        ("", "—"),
        *((code, f"{code.replace('_', ' ').capitalize()}: {text}") for code, text in REJECT_REASONS.items()),
    ]


class WithdrawalEditForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve the withdrawal"), ("reject", "Reject the withdrawal")])
    reason_code = forms.ChoiceField(choices=_withdrawal_reasons, required=False, label="Rejection reason")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not data.get("reason_code"):
            self.add_error("reason_code", "A rejection needs a reason code.")
        if data.get("decision") == "approve":
            data["reason_code"] = ""
        return data


class RoutingEditForm(forms.Form):
    queue = forms.ChoiceField(choices=_queue_choices, required=False, label="Move to queue")
    risk_level = forms.ChoiceField(choices=[("", "— keep the risk level —"), *RiskLevel.choices], required=False,
                                   label="Risk level")  # fmt: skip
    due_at = forms.DateTimeField(required=False, label="Due (UTC)", help_text="YYYY-MM-DD HH:MM",
                                 widget=forms.DateTimeInput(format="%Y-%m-%d %H:%M"))  # fmt: skip

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        due = data.get("due_at")
        data["due_at"] = due.isoformat() if due else ""
        return data


EDIT_FORMS: dict[str, type[forms.Form]] = {
    "agents.kyc_document_decision": DocumentEditForm,
    "agents.work_item_resolution": ResolutionEditForm,
    "agents.risk_level": RiskLevelEditForm,
    "agents.client_reply": ReplyEditForm,
    "agents.withdrawal_decision": WithdrawalEditForm,
    "agents.work_item_routing": RoutingEditForm,
}


def edit_form(
    action: str, proposal_pk: int, *, data: Mapping[str, Any] | None = None, initial: dict[str, str] | None = None
) -> forms.Form | None:
    form_class = EDIT_FORMS.get(action)
    if form_class is None:
        return None
    return form_class(data=data, initial=initial, prefix=f"edit-{proposal_pk}")
