from __future__ import annotations

from typing import Any, cast

from django import forms

from ops import errors
from ops.models import Decision, Queue, ResolutionCode, User, WorkItemStatus
from ops.priority import PRIORITY_BANDS
from ops.roles import Role

PAGE_SIZES = [25, 50, 100]


class QueueFilterForm(forms.Form):
    queue = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Open (any)"), *WorkItemStatus.choices])
    owner = forms.CharField(required=False, max_length=150, help_text="me, unassigned, or a username")
    priority = forms.ChoiceField(required=False, choices=[("", "Any"), *[(p, p) for p, _ in PRIORITY_BANDS]])
    overdue = forms.BooleanField(required=False, label="Overdue only")
    sort = forms.ChoiceField(
        required=False,
        choices=[("urgency", "Most urgent first"), ("due", "Due soonest"), ("newest", "Newest"), ("oldest", "Oldest")],
    )
    per_page = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[(n, str(n)) for n in PAGE_SIZES], label="Per page"
    )

    def __init__(self, *args: Any, queues: list[Queue], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["queue"]).choices = [
            ("", "All my queues"),
            *[(q.code, q.name) for q in queues],
        ]


class ResolveForm(forms.Form):
    code = forms.ChoiceField(
        choices=[("", "Choose…"), *ResolutionCode.choices],
        label="Resolution code",
        error_messages={"required": errors.RESOLUTION_CODE_REQUIRED},
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Resolution note",
        max_length=4000,
        error_messages={"required": errors.RESOLUTION_NOTE_REQUIRED},
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), label="Assign to")
    reason = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args: Any, queue: Queue, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from ops.selectors import users_working

        cast(forms.ModelChoiceField, self.fields["assignee"]).queryset = users_working(queue).order_by("username")


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Reason for your decision"
    )
    payload_hash = forms.CharField(widget=forms.HiddenInput, max_length=64)


class RoleGrantRequestForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True).order_by("username"), label="Staff user")
    role = forms.ChoiceField(choices=Role.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AccessReviewSignOffForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        label="Sign-off note",
        help_text="What you checked and what follows from the findings (revocations asked for, accepted exceptions).",
        error_messages={"required": errors.REASON_REQUIRED},
    )


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Code",
        help_text="The 6-digit code your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


class SecondFactorEnrolForm(SecondFactorForm):
    device = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class SecondFactorResetForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"), label="Staff member whose factor to reset"
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Reason for the reset")


class LockoutClearForm(forms.Form):
    kind = forms.ChoiceField(choices=[("username", "Username"), ("ip", "IP address")])
    value = forms.CharField(max_length=150)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


# --- API keys ---------------------------------------------------------------------------------


def _api_key_owner_choices() -> list[tuple[str, Any]]:
    from ops.api_keys import owner_kinds

    groups: list[tuple[str, Any]] = [("", "Choose the owner")]
    for kind in owner_kinds():
        if kind.model is None:
            groups.append((kind.kind, kind.label.capitalize()))
        else:
            groups.append((kind.label.capitalize(), [(f"{kind.kind}:{o.pk}", str(o)) for o in kind.choices()]))
    return groups


class ApiKeyRequestForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the key is for, e.g. 'CRM nightly sync'.")
    owner = forms.ChoiceField(help_text="Every call made with the key is recorded in the audit trail as theirs.")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple(attrs={"class": "check"}))
    allowed_ips = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Allowed addresses",
        help_text="Optional: IP addresses or networks, one a line (203.0.113.7, 198.51.100.0/24). Empty: any.",
    )  # fmt: skip
    expires_on = forms.DateField(required=False, label="Expires on", widget=forms.DateInput(attrs={"type": "date"}))
    rate_per_minute = forms.IntegerField(
        required=False, min_value=1, max_value=100_000, label="Calls a minute", help_text="Empty: the default."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from ops.api_keys import SCOPES

        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["owner"]).choices = _api_key_owner_choices()
        cast(forms.ChoiceField, self.fields["scopes"]).choices = [(s, f"{s} — {d}") for s, d in SCOPES.items()]

    def clean_owner(self) -> tuple[str, Any]:
        from ops.api_keys import owner_kind

        raw = self.cleaned_data["owner"]
        kind, _, pk = str(raw).partition(":")
        spec = owner_kind(kind)
        if spec.model is None:
            return kind, None
        owner = next((o for o in spec.choices() if str(o.pk) == pk), None)
        if owner is None:
            raise forms.ValidationError(errors.API_KEY_OWNER_REQUIRED.format(kind=spec.label))
        return kind, owner

    def clean_allowed_ips(self) -> list[str]:
        text = self.cleaned_data.get("allowed_ips") or ""
        return [part for part in text.replace(",", "\n").split() if part]


class ApiKeyRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        min_value=0, max_value=24 * 30, initial=24, label="Old key keeps working for (hours)",
        help_text="The overlap: time to deploy the new key before the old one stops.",
    )  # fmt: skip
    reason = forms.CharField(max_length=2000)


class ApiKeyScopesForm(forms.Form):
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple(attrs={"class": "check"}))
    reason = forms.CharField(max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from ops.api_keys import SCOPES

        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["scopes"]).choices = [(s, s) for s in SCOPES]


class WebhookEndpointForm(forms.Form):
    """An outbound webhook endpoint: where, what for, which events. The address is checked by the
    SSRF guard here (a form error naming the field) and again by the service."""

    url = forms.URLField(max_length=2000, label="URL", assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=[], widget=forms.CheckboxSelectMultiple, label="Event types", help_text="What it is sent."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from ops.events import EventType

        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["event_types"]).choices = [
            (t.value, f"{t.value} — {t.label}") for t in EventType
        ]

    def clean_url(self) -> str:
        from ops.webhooks_http import TargetRefused, target_resolve

        url = str(self.cleaned_data["url"])
        try:
            target_resolve(url)
        except TargetRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


class WebhookDisableForm(forms.Form):
    reason = forms.CharField(max_length=500, label="Why disable it")
