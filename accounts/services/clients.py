"""Clients: registration, details, and the status state machine.

Each transition names the permission it needs, whether it needs a reason, and what happens after
commit (platform pushes). It runs under a row lock, saves compare-and-set on the old status, and
writes its audit event in the same transaction. Lifting a restriction goes through maker-checker
(``accounts.approval_actions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from accounts import errors
from accounts.errors import ClientError
from accounts.locks import client_lock
from accounts.models import AccountType, Client, ClientKind, ClientStatus, TradingAccount, TradingAccountStatus
from accounts.selectors import client_is_visible_to
from accounts.services.crm import crm_push_fields, crm_push_record
from accounts.validation import currency_code, normalise_phone
from audit.actions import AuditAction
from audit.services import audit_record
from ops.events import EventType
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.events import event_publish

DETAIL_FIELDS = (
    "first_name", "last_name", "date_of_birth", "nationality", "legal_name", "registration_number",
    "country", "address_line", "city", "postcode", "email", "phone", "segment", "tags",
    "account_manager", "account_type", "base_currency", "source_of_funds",
)  # fmt: skip


@dataclass(frozen=True)
class TransitionRule:
    verb: str  # for messages: "restrict", "close", ...
    permission: str
    needs_reason: bool
    action: AuditAction
    label: str  # the button on the client 360


RULES: dict[str, TransitionRule] = {
    "submit_for_review": TransitionRule(
        "submit for review", "ops.manage_clients", False, AuditAction.CLIENT_SUBMITTED, "Submit for review"
    ),
    "request_documents": TransitionRule(
        "ask for documents from",
        "ops.review_documents",
        True,
        AuditAction.CLIENT_DOCUMENTS_REQUESTED,
        "Ask for more documents",
    ),
    "resubmit": TransitionRule(
        "send back to review", "ops.manage_clients", False, AuditAction.CLIENT_RESUBMITTED, "Back to review"
    ),
    "approve": TransitionRule("approve", "ops.review_documents", False, AuditAction.CLIENT_APPROVED, "Approve"),
    "restrict": TransitionRule("restrict", "ops.restrict_account", True, AuditAction.CLIENT_RESTRICTED, "Restrict"),
    "close": TransitionRule("close", "ops.restrict_account", True, AuditAction.CLIENT_CLOSED, "Close"),
}


# Transitions that settle the client's KYC review item: (resolution code, note). Asking for more
# documents closes it, so its SLA clock stops while the client has the next move; the replacement
# documents open a new review item (``kyc.services.documents``), as a rejected document does.
_SETTLES_KYC_REVIEW: dict[str, tuple[str, str]] = {
    "approve": ("approved", "Client approved"),
    "request_documents": ("rejected", "Asked the client for more documents"),
}


# --- who may do what to a client: one function per action, read by the services, the pages and the API


def _in_scope(actor: User, client: Client) -> Decision:
    return ALLOWED if client_is_visible_to(actor, client) else deny(errors.OUT_OF_SCOPE)


def client_can_register(actor: User) -> Decision:
    if not actor.has_perm("ops.manage_clients"):
        return deny(errors.NOT_ALLOWED.format(verb="register"))
    return ALLOWED


def client_can_edit(actor: User, client: Client) -> Decision:
    """Change a client's details, related parties and links."""
    if not actor.has_perm("ops.manage_clients"):
        return deny(errors.NOT_ALLOWED.format(verb="update"))
    return _in_scope(actor, client)


def client_can_transition(actor: User, client: Client, name: str) -> Decision:
    """Whether ``actor``'s role may move ``client`` by transition ``name`` (RULES). Whether the
    client's status allows it now is the state machine's answer (``client.get_available_status_transitions``)."""
    rule = RULES.get(name)
    if rule is None:
        return deny(errors.UNFREEZE_VIA_APPROVAL if name == "unfreeze" else errors.UNKNOWN_TRANSITION.format(name=name))
    if not actor.has_perm(rule.permission):
        return deny(errors.NOT_ALLOWED.format(verb=rule.verb))
    return _in_scope(actor, client)


def _next_reference() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('accounts_client_reference_seq')")
        return f"C{cursor.fetchone()[0]:07d}"


def _validated(data: dict[str, Any], *, kind: str) -> dict[str, Any]:
    data = dict(data)
    problems: dict[str, str] = {}
    if kind == ClientKind.INDIVIDUAL and not (
        data.get("first_name") and data.get("last_name") and data.get("date_of_birth")
    ):
        problems["__all__"] = errors.INDIVIDUAL_FIELDS
    if kind == ClientKind.CORPORATE and not (data.get("legal_name") and data.get("registration_number")):
        problems["__all__"] = errors.CORPORATE_FIELDS
    try:
        data["phone"] = normalise_phone(data.get("phone", ""))
    except ValidationError as exc:
        problems.update({k: v[0] for k, v in exc.message_dict.items()})
    account_type: AccountType | None = data.get("account_type")
    if account_type is not None:
        if not account_type.is_active:
            problems["account_type"] = errors.INACTIVE_ACCOUNT_TYPE.format(account_type=account_type.name)
        elif account_type.corporate_only and kind != ClientKind.CORPORATE:
            problems["account_type"] = errors.CORPORATE_ONLY.format(account_type=account_type.name)
        if "base_currency" in data:
            try:
                data["base_currency"] = currency_code(data["base_currency"], "base_currency")
            except ValidationError as exc:
                problems.update({k: v[0] for k, v in exc.message_dict.items()})
            else:
                if data["base_currency"] not in account_type.currencies:
                    problems["base_currency"] = errors.CURRENCY_NOT_ALLOWED.format(
                        account_type=account_type.name,
                        currency=data["base_currency"],
                        choices=", ".join(account_type.currencies),
                    )
    if problems:
        raise ValidationError(problems)
    return data


# What a registration may carry for the apps above (the ib app: who referred the client).
REFERRAL_FIELDS = ("referral_code", "campaign")
RegistrationHook = Callable[[Client, dict[str, str]], None]
_registration_hooks: list[RegistrationHook] = []


def register_registration_hook(hook: RegistrationHook) -> RegistrationHook:
    """``hook(client, referral)`` runs in the registration's transaction; a ValidationError it
    raises (naming a field) refuses the registration and nothing is stored."""
    if hook not in _registration_hooks:
        _registration_hooks.append(hook)
    return hook


@transaction.atomic(durable=True)
def client_register(*, kind: str, data: dict[str, Any], actor: User | None) -> Client:
    """A new client, in the registered status. ``data`` holds DETAIL_FIELDS, and may hold
    REFERRAL_FIELDS (given to the registration hooks). A likely duplicate of another client is
    registered all the same, flagged (``accounts.services.duplicates``). ``actor`` None: the
    person registers themselves through the client area (the acting actor names its API key)."""
    referral = {k: str(data.get(k) or "") for k in REFERRAL_FIELDS}
    if actor is not None:
        client_can_register(actor).require(ClientError)
    kind = ClientKind(kind)
    data = _validated({k: v for k, v in data.items() if k in DETAIL_FIELDS}, kind=kind)
    client = Client(kind=kind, reference=_next_reference(), **data)
    client.full_clean(exclude=["reference", "status"])  # the status is protected: only transitions set it
    client._change_reason = "registered"
    client.save()
    audit_record(
        action=AuditAction.CLIENT_REGISTERED,
        subject=client,
        # the terms in force at registration, in the event the chain seals (with its time and address)
        after={"reference": client.reference, "kind": kind, "name": client.display_name, "status": client.status,
               "terms_version": settings.CLIENT_TERMS_VERSION},
    )  # fmt: skip
    from accounts.services.duplicates import client_flag_duplicates
    from accounts.services.parties import client_link_same_address

    client_link_same_address(client)
    client_flag_duplicates(client)
    for hook in _registration_hooks:
        hook(client, referral)
    crm_push_record(client=client, reason="registered")
    _follow_up(client, "documents_requested")  # reminders until the documents come, then a person
    return client


def _follow_up(client: Client, sequence: str) -> None:
    """Enrol the client in a follow-up sequence (``ops.followups``); it stops when they act."""
    from ops.services.followups import followup_enroll

    followup_enroll(
        sequence=sequence,
        subject=client,
        label=f"{client.display_name} ({client.reference})",
        addresses={"email": client.email, "sms": client.phone},
        context={"name": client.display_name, "reference": client.reference},
    )


def _check(rule: TransitionRule, reason: str) -> str:
    reason = (reason or "").strip()
    if rule.needs_reason and not reason:
        raise ClientError(errors.REASON_REQUIRED.format(verb=rule.verb))
    return reason


def _move(client: Client, name: str, verb: str) -> str:
    before = client.status
    try:
        getattr(client, name)()
    except TransitionNotAllowed:
        raise ClientError(errors.BAD_TRANSITION.format(status=ClientStatus(before).label.lower(), verb=verb)) from None
    client.status_changed_at = timezone.now()
    return before


def _save(client: Client, reason: str) -> None:
    client._change_reason = reason  # type: ignore[attr-defined]
    try:
        client.save()
    except ConcurrentTransition:
        raise ClientError(errors.CHANGED_MEANWHILE) from None


def client_transition(
    *, client_id: int, name: str, actor: User | None, reason: str = "", force: bool = False
) -> Client:
    """submit_for_review, request_documents, resubmit, approve, restrict or close a client.
    ``actor`` None is the system's own automation (e.g. documents complete -> review); the audit
    event then names the acting system job."""
    if actor is not None:
        client_can_transition(actor, Client.objects.get(pk=client_id), name).require(ClientError)
    rule = RULES.get(name)
    if rule is None:
        raise ClientError(
            errors.UNFREEZE_VIA_APPROVAL if name == "unfreeze" else errors.UNKNOWN_TRANSITION.format(name=name)
        )
    reason = _check(rule, reason)
    if name == "close" and not force:
        _require_nothing_open(client_id)  # platform calls: before the transaction, holding no lock
    return _transition(client_id, name, rule, reason, force)


# Higher apps (KYC) may refuse a transition: each guard returns a reason to refuse, or None.
TransitionGuard = Callable[[Client, str, bool], "str | None"]
_guards: list[TransitionGuard] = []


def register_transition_guard(guard: TransitionGuard) -> TransitionGuard:
    if guard not in _guards:
        _guards.append(guard)
    return guard


@transaction.atomic
def _transition(
    client_id: int, name: str, rule: TransitionRule, reason: str, force: bool, via_approval: bool = False
) -> Client:
    client = client_lock(client_id)
    for guard in _guards:
        refusal = guard(client, name, via_approval)
        if refusal:
            raise ClientError(refusal)
    before = _move(client, name, rule.verb)
    _save(client, reason or rule.verb)
    after: dict[str, Any] = {"status": client.status}
    if name == "approve":
        account = _open_trading_account(client)
        after["trading_account"] = account.pk
    if name in _SETTLES_KYC_REVIEW:
        from ops.services.work_items import work_item_resolve_for_subject

        code, note = _SETTLES_KYC_REVIEW[name]
        work_item_resolve_for_subject(
            queue="kyc_review", subject=client, code=code, note=f"{note}: {reason}" if reason else note
        )
    if name == "close" and force:
        after["forced"] = True
    audit_record(action=rule.action, subject=client, before={"status": before}, after=after, reason=reason)
    event_publish(type=EventType.CLIENT_STATUS_CHANGED, subject=client, data=status_event_data(client, before, name))
    _after_commit_push(client)
    crm_push_record(client=client, reason=f"status {client.status}")
    from ops.services.followups import followups_subject_event

    followups_subject_event(subject=client, event=f"client.{name}")  # e.g. resubmitted: reminders stop
    if name == "request_documents":
        _follow_up(client, "additional_documents")
    return client


def client_transition_approved(*, client_id: int, name: str, reason: str) -> Client:
    """A transition that a maker-checker request has approved (e.g. approving a high-risk client
    after enhanced due diligence): the guards know a second person decided it."""
    return _transition(client_id, name, RULES[name], reason, False, via_approval=True)


@transaction.atomic
def client_unfreeze(*, client_id: int, reason: str) -> Client:
    """Restricted -> approved. Only called by the approved maker-checker request."""
    client = client_lock(client_id)
    before = _move(client, "unfreeze", "unfrozen")
    _save(client, reason)
    audit_record(
        action=AuditAction.CLIENT_UNFROZEN,
        subject=client,
        before={"status": before},
        after={"status": client.status},
        reason=reason,
    )
    event_publish(
        type=EventType.CLIENT_STATUS_CHANGED, subject=client, data=status_event_data(client, before, "unfreeze")
    )
    _after_commit_push(client)
    crm_push_record(client=client, reason=f"status {client.status}")
    return client


def status_event_data(client: Client, before: str, transition: str) -> dict[str, Any]:
    """The ``client.status_changed`` event's data: references and states, no personal data."""
    return {
        "client": client.reference,
        "client_id": client.pk,
        "transition": transition,
        "from": before,
        "to": client.status,
    }


def _require_nothing_open(client_id: int) -> None:
    """Closing needs zero balances and no open positions, as the platform reports them.
    (Asked before the transaction: no platform call holds a database lock.)"""
    from accounts.platform import PlatformError, get_platform

    platform = get_platform()
    for account in TradingAccount.objects.filter(client_id=client_id, login__isnull=False):
        assert account.login is not None
        try:
            state = platform.get_account(account.login)
            positions = platform.open_positions(account.login)
        except PlatformError as exc:
            raise ClientError(errors.PLATFORM_UNAVAILABLE.format(detail=exc)) from None
        if positions:
            raise ClientError(errors.CLOSE_BLOCKED.format(what=f"{len(positions)} open position(s) on {account.login}"))
        if state.balance != Decimal("0"):
            raise ClientError(
                errors.CLOSE_BLOCKED.format(what=f"a balance of {state.balance} {state.currency} on {account.login}")
            )


def _open_trading_account(client: Client) -> TradingAccount:
    account, created = TradingAccount.objects.get_or_create(
        client=client,
        account_type=client.account_type,
        currency=client.base_currency,
        defaults={
            "leverage": client.account_type.default_leverage,
            "platform_group": client.account_type.platform_group,
        },
    )
    if created:
        audit_record(
            action=AuditAction.TRADING_ACCOUNT_REQUESTED,
            subject=account,
            after={"client": client.reference, "type": client.account_type.code, "currency": account.currency,
                   "leverage": account.leverage, "group": account.platform_group},
        )  # fmt: skip
        from accounts.tasks import trading_account_provision_task

        transaction.on_commit(lambda: trading_account_provision_task.delay(account_id=account.pk))
    return account


def _after_commit_push(client: Client) -> None:
    """The platform follows the client's status (restricted -> close-only, closed -> disabled)."""

    for account_id in (
        TradingAccount.objects.filter(client=client)
        .exclude(status=TradingAccountStatus.PENDING)
        .values_list("pk", flat=True)
    ):
        transaction.on_commit(_push_later(account_id))


# Higher apps react to detail changes after commit (KYC re-screens a changed name).
DetailsHook = Callable[[int, set[str]], None]
_details_hooks: list[DetailsHook] = []


def register_details_hook(hook: DetailsHook) -> DetailsHook:
    if hook not in _details_hooks:
        _details_hooks.append(hook)
    return hook


def _push_later(account_id: int) -> Callable[[], object]:
    from accounts.tasks import trading_account_push_task

    return lambda: trading_account_push_task.delay(account_id=account_id)


@transaction.atomic(durable=True)
def client_update_details(*, client_id: int, changes: dict[str, Any], actor: User, reason: str) -> Client:
    client = client_lock(client_id)
    client_can_edit(actor, client).require(ClientError)
    if not reason.strip():
        raise ClientError(errors.REASON_REQUIRED.format(verb="update"))
    current = {f: getattr(client, f) for f in DETAIL_FIELDS}
    changes = _validated(current | {k: v for k, v in changes.items() if k in DETAIL_FIELDS}, kind=client.kind)
    changed = {k: v for k, v in changes.items() if current[k] != v}
    for field, value in changed.items():
        setattr(client, field, value)
    client.full_clean(exclude=["status"])
    _save(client, reason)
    for hook in _details_hooks:
        transaction.on_commit(lambda hook=hook: hook(client.pk, set(changed)))  # type: ignore[misc]
    audit_record(
        action=AuditAction.CLIENT_UPDATED,
        subject=client,
        before={k: str(current[k]) for k in changed},
        after={k: str(v) for k, v in changed.items()},
        reason=reason,
    )
    if set(changed) & set(crm_push_fields()):
        crm_push_record(client=client, reason="details updated")
    return client
