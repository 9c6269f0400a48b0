"""Chargebacks: a card scheme dispute of a credited card deposit, told by the PSP's signed
``dispute.opened`` callback (stored first and deduplicated like every callback, applied by
``payments.services.webhooks``).

Opening a case, in the callback's transaction: the disputed amount leaves PSP clearing (the PSP took
it back) and is taken from the client: from the wallet as far as its available balance goes (the
wallet's database check is never crossed), the rest into the client's chargeback receivable (what
the client owes); the partner commissions the deposit earned are clawed back (the deposit reversal
hooks, as a returned deposit's); the client's withdrawals stop (``chargebacks_open_for``, read by the
withdrawal pre-checks and approvals); a work item in the ``chargeback`` queue is due at the scheme's
deadline; ``chargeback.opened`` goes to the outbox.

A finance or compliance officer sends the response: the evidence pack (KYC documents with their
hashes, the registration the terms were accepted at, sign-in and IP history, the deposit's payer,
the trading that followed) is assembled, pinned by its SHA-256, and sent through the PSP's adapter
after commit. The PSP's ``dispute.closed`` says won (the opening entry is reversed: the money is the
client's again) or lost (what the receivable holds is written off to chargeback losses).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.actions import AuditAction
from audit.models import AuditEvent
from audit.services import audit_record
from kyc.models import Document
from ops.events import EventType
from ops.models import InteractionChannel, RiskLevel, User
from ops.permissions import ALLOWED, Decision, deny
from ops.services.events import event_publish
from ops.services.interactions import Notice, client_notify_many
from ops.services.work_items import work_item_open, work_item_resolve_for_subject
from ops.sms import sms_configured
from payments import errors
from payments.currencies import amount_str, money_parse, money_str
from payments.errors import PaymentError
from payments.hooks import deposit_reinstated_dispatch, deposit_reversal_dispatch, evidence_sections
from payments.locks import balances_lock
from payments.models import (
    AccountKind,
    Channel,
    ChargebackCase,
    ChargebackStatus,
    Deposit,
    DepositStatus,
    EntryKind,
    InboundEvent,
)
from payments.outcomes import Outcome
from payments.providers import provider_named
from payments.selectors import chargebacks_open_for, client_visible, payments_can_view
from payments.services.deposits import next_reference
from payments.services.ledger import (
    chargeback_receivable_account,
    credit,
    debit,
    house_account,
    ledger_post,
    ledger_reverse,
    psp_clearing_account,
    wallet_for,
)

QUEUE = "chargeback"


def _snapshot(case: ChargebackCase) -> dict[str, Any]:
    return {
        "status": case.status,
        "amount": str(case.amount),
        "currency": case.currency,
        "from_wallet": str(case.from_wallet),
        "to_receivable": str(case.to_receivable),
    }


def _event_data(case: ChargebackCase) -> dict[str, Any]:
    return {
        "chargeback": case.reference,
        "client": case.client.reference,
        "client_id": case.client_id,
        "deposit": case.deposit.reference,
        "amount": amount_str(case.amount, case.currency),
        "currency": case.currency,
        "status": case.status,
        "reason_code": case.reason_code,
        "due_at": case.due_at,
    }


def _notify_client(case: ChargebackCase, template: str, **extra: Any) -> None:
    """Tell the client, in the case's transaction (sent after commit): by e-mail (in the client
    area when there is no address) and, when they gave a number and an SMS provider is set up, by
    SMS; each channel has its own wording (``ops.notification_templates``)."""
    client, deposit = case.client, case.deposit
    paid = deposit.completed_at or deposit.created_at
    context = {
        "name": client.display_name,
        "reference": client.reference,
        "deposit": deposit.reference,
        "deposit_amount": money_str(deposit.amount, deposit.currency),
        "paid_on": timezone.localtime(paid).strftime("%d %B %Y"),
        "amount": money_str(case.amount, case.currency),
        "taken": money_str(case.from_wallet, case.currency) if case.from_wallet else "",
        "owed": money_str(case.to_receivable, case.currency) if case.to_receivable else "",
        "why": case.reason,
        "due": timezone.localtime(case.due_at).strftime("%d %B %Y"),
        "still_open": chargebacks_open_for(client).exclude(pk=case.pk).exists(),
    } | extra
    notices = [
        Notice(client, client.email, template, context, InteractionChannel.EMAIL)
        if client.email
        else Notice(client, "", template, context, InteractionChannel.IN_APP)
    ]
    if client.phone and sms_configured():
        notices.append(Notice(client, client.phone, template, context, InteractionChannel.SMS))
    client_notify_many(notices)


# --- the PSP's callbacks (composed inside the callback's savepoint) ------------------------------


def _text(obj: dict[str, Any], field: str, *, required: bool = True, limit: int = 200) -> str:
    value = obj.get(field)
    if value is None or isinstance(value, (dict, list)) or (required and not str(value).strip()):
        if required:
            raise PaymentError(errors.CHARGEBACK_FIELD.format(field=field), field=field)
        return ""
    return str(value).strip()[:limit]


def _deadline(obj: dict[str, Any]) -> datetime:
    value = obj.get("evidence_due_by")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PaymentError(errors.CHARGEBACK_FIELD.format(field="evidence_due_by"), field="evidence_due_by")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise PaymentError(errors.CHARGEBACK_FIELD.format(field="evidence_due_by"), field="evidence_due_by") from None


def chargeback_open(*, provider: str, obj: dict[str, Any]) -> Outcome:
    """A ``dispute.opened`` callback: open the case (see the module's docstring). A dispute already
    opened has no second effect; one for a payment that is no credited card deposit of this PSP is
    refused (PaymentError: the caller stores nothing of it and puts it in a queue)."""
    dispute_id = _text(obj, "id", limit=120)
    existing = ChargebackCase.objects.filter(provider=provider, dispute_id=dispute_id).first()
    if existing is not None:
        return Outcome.no_effect(f"dispute {dispute_id} already opened chargeback {existing.reference}")
    payment_id = _text(obj, "payment", limit=120)
    deposit = (
        Deposit.objects.select_for_update(of=("self",))
        .select_related("client")
        .filter(channel=Channel.CARD, external_id=payment_id, status=DepositStatus.CREDITED)
        .first()
    )
    if deposit is None or (deposit.provider and deposit.provider != provider):
        raise PaymentError(
            errors.CHARGEBACK_UNKNOWN_PAYMENT.format(dispute=dispute_id, payment=payment_id, provider=provider)
        )
    currency = _text(obj, "currency").upper()
    if currency != deposit.currency:
        raise PaymentError(
            errors.CHARGEBACK_CURRENCY.format(
                dispute=dispute_id, currency=currency, reference=deposit.reference, deposit_currency=deposit.currency
            ),
            field="currency",
        )
    try:
        amount = money_parse(_text(obj, "amount"), currency)
    except (PaymentError, InvalidOperation):
        raise PaymentError(errors.CHARGEBACK_FIELD.format(field="amount"), field="amount") from None
    disputed = sum((c.amount for c in deposit.chargebacks.all()), Decimal("0"))
    if amount + disputed > deposit.amount:
        raise PaymentError(
            errors.CHARGEBACK_TOO_MUCH.format(
                dispute=dispute_id,
                amount=money_str(amount, currency),
                reference=deposit.reference,
                deposit_amount=money_str(deposit.amount - disputed, currency),
            ),
            field="amount",
        )
    due_at = _deadline(obj)
    client = deposit.client
    wallet = wallet_for(client=client, currency=currency)
    balance = balances_lock([wallet.pk])[wallet.pk]  # held to the posting: what it covers cannot change
    from_wallet = min(amount, max(balance.ledger - balance.held, Decimal("0")))
    to_receivable = amount - from_wallet
    reference = next_reference("CB")
    lines = [credit(psp_clearing_account(currency, provider), amount)]
    if from_wallet:
        lines.append(debit(wallet, from_wallet))
    if to_receivable:
        lines.append(debit(chargeback_receivable_account(client=client, currency=currency), to_receivable))
    reason = _text(obj, "reason", required=False)
    entry = ledger_post(
        key=f"chargeback:{provider}:{dispute_id}:opened",
        kind=EntryKind.CHARGEBACK,
        memo=f"{reference}: card payment of {deposit.reference} disputed ({reason or 'no reason given'})",
        lines=lines,
        source=f"payments.deposit:{deposit.pk}",
    )
    case = ChargebackCase.objects.create(
        reference=reference,
        provider=provider,
        dispute_id=dispute_id,
        deposit=deposit,
        client=client,
        amount=amount,
        currency=currency,
        reason_code=_text(obj, "reason_code", required=False, limit=20),
        reason=reason,
        network=_text(obj, "network", required=False, limit=20),
        due_at=due_at,
        from_wallet=from_wallet,
        to_receivable=to_receivable,
        opened_entry=entry,
    )
    audit_record(
        action=AuditAction.CHARGEBACK_OPENED,
        subject=case,
        after=_snapshot(case) | {"deposit": deposit.reference, "entry": entry.pk, "dispute": dispute_id},
        reason=f"{case.network} {case.reason_code} {case.reason}".strip(),
    )
    work_item_open(
        queue=QUEUE,
        subject=case,
        title=f"Chargeback {reference}: {money_str(amount, currency)} of {deposit.reference} ({client.display_name})",
        risk_level=RiskLevel.HIGH,
        amount_at_stake=amount,
        due_at=due_at,
        details={"dispute": dispute_id, "reason_code": case.reason_code, "to_receivable": str(to_receivable)},
    )
    deposit_reversal_dispatch(deposit=deposit, reason=f"charged back: dispute {dispute_id} ({reason or 'no reason'})")
    event_publish(type=EventType.CHARGEBACK_OPENED, subject=case, data=_event_data(case))
    _notify_client(case, "payments.chargeback_opened")
    return Outcome.applied(f"chargeback {reference} opened")


def chargeback_close(*, provider: str, obj: dict[str, Any]) -> Outcome:
    """A ``dispute.closed`` callback: won (the opening entry is reversed, the money is the
    client's again) or lost (the receivable written off). A closed case is left as it is."""
    dispute_id = _text(obj, "id", limit=120)
    status = _text(obj, "status")
    if status not in (ChargebackStatus.WON, ChargebackStatus.LOST):
        raise PaymentError(errors.CHARGEBACK_OUTCOME.format(dispute=dispute_id, status=status), field="status")
    case = (
        ChargebackCase.objects.select_for_update(of=("self",))
        .select_related("client", "deposit", "opened_entry")
        .filter(provider=provider, dispute_id=dispute_id)
        .first()
    )
    if case is None:
        raise PaymentError(errors.CHARGEBACK_UNKNOWN.format(dispute=dispute_id, provider=provider))
    if not case.is_open:
        return Outcome.no_effect(f"chargeback {case.reference} is already {case.status}")
    before = _snapshot(case)
    if status == ChargebackStatus.WON:
        case.closing_entry = ledger_reverse(
            entry=case.opened_entry,
            key=f"chargeback:{case.pk}:won",
            memo=f"{case.reference} won: the disputed {money_str(case.amount, case.currency)} is the client's again",
        )
        case.win()
        action = AuditAction.CHARGEBACK_WON
    else:
        if case.to_receivable:
            case.closing_entry = ledger_post(
                key=f"chargeback:{case.pk}:lost",
                kind=EntryKind.CHARGEBACK_WRITE_OFF,
                memo=f"{case.reference} lost: the client's unpaid part written off",
                lines=[
                    debit(house_account(AccountKind.CHARGEBACK_LOSSES, case.currency), case.to_receivable),
                    credit(
                        chargeback_receivable_account(client=case.client, currency=case.currency), case.to_receivable
                    ),
                ],
                source=f"payments.chargebackcase:{case.pk}",
            )
        case.lose()
        action = AuditAction.CHARGEBACK_LOST
    case.closed_at = timezone.now()
    case.save()
    audit_record(
        action=action,
        subject=case,
        before=before,
        after=_snapshot(case) | {"entry": case.closing_entry_id},
        reason=f"the scheme's decision on dispute {dispute_id}",
    )
    work_item_resolve_for_subject(
        queue=QUEUE, subject=case, code="approved" if status == ChargebackStatus.WON else "rejected",
        note=f"dispute {status}",
    )  # fmt: skip
    if status == ChargebackStatus.WON and not case.deposit.chargebacks.exclude(status=ChargebackStatus.WON).exists():
        # every dispute of the deposit won: what its reversal did is undone (the partner's CPA restored)
        deposit_reinstated_dispatch(deposit=case.deposit, reason=f"chargeback {case.reference} won")
    event_publish(type=EventType.CHARGEBACK_CLOSED, subject=case, data=_event_data(case))
    _notify_client(case, f"payments.chargeback_{status}")
    return Outcome.applied(f"chargeback {case.reference} {status}")


# --- the response -------------------------------------------------------------------------------


def chargeback_can_view(actor: User, case: ChargebackCase) -> Decision:
    decision = payments_can_view(actor)
    if not decision:
        return decision
    if not client_visible(actor, case.client_id):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def chargeback_can_respond(actor: User, case: ChargebackCase) -> Decision:
    """May send the response (the evidence pack) to the PSP: finance or compliance, while the case
    waits for one, for a client they work on."""
    if not actor.has_perm("ops.handle_chargebacks"):
        return deny(errors.CHARGEBACK_NOT_ALLOWED.format(verb="respond to"))
    if case.status != ChargebackStatus.OPENED:
        return deny(_bad_state(case, "answered"))
    if not client_visible(actor, case.client_id):
        return deny(errors.NOT_IN_SCOPE)
    return ALLOWED


def _bad_state(case: ChargebackCase, verb: str) -> str:
    return errors.CHARGEBACK_BAD_STATE.format(
        reference=case.reference, status=case.get_status_display().lower(), verb=verb
    )


@transaction.atomic(durable=True)
def chargeback_respond(*, case_id: int, actor: User, note: str) -> ChargebackCase:
    """Assemble the evidence pack, pin it (SHA-256) on the case and send it after commit."""
    from payments.tasks import chargeback_response_send_task

    case = ChargebackCase.objects.select_for_update(of=("self",)).select_related("client", "deposit").get(pk=case_id)
    if case.status != ChargebackStatus.OPENED:
        raise PaymentError(_bad_state(case, "answered"), status=409)
    decision = chargeback_can_respond(actor, case)
    if not decision:
        raise PaymentError(decision.reason, status=403)
    before = _snapshot(case)
    case.evidence = chargeback_evidence(case) | {"merchant_note": note.strip()}
    case.evidence_sha256 = evidence_digest(case.evidence)
    case.response_note = note.strip()
    case.responded_by = actor
    case.responded_at = timezone.now()
    case.submit_evidence()
    case.save()
    audit_record(
        action=AuditAction.CHARGEBACK_RESPONDED,
        subject=case,
        before=before,
        after=_snapshot(case) | {"evidence_sha256": case.evidence_sha256},
        reason=note.strip(),
    )
    transaction.on_commit(lambda: chargeback_response_send_task.delay(case_id=case.pk))
    return case


def evidence_digest(evidence: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(evidence, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


SIGN_INS_NOTE = (
    "The client's own sign-ins to the client area, as the client area reported them (address, browser and device "
    "in words); beside them, the client's actions recorded with the network address they came from (the client "
    "area's or a staff member's, as the audit trail saw the request)."
)
TERMS_HOW = (
    "The version of the terms and conditions in force when the client registered, as the registration's audit "
    "event recorded it (its time and address). The back office has no separate record of a terms acceptance."
)


def _terms(client: Any, registered: AuditEvent | None) -> dict[str, Any]:
    """The terms the client registered under: the registration event's version, time and address."""
    version = (registered.after or {}).get("terms_version") if registered else None
    return {
        "version": version,
        "at": registered.occurred_at.isoformat() if registered else client.created_at.isoformat(),
        "ip": registered.ip if registered else None,
        "registered_by": registered.actor_label if registered else None,
        "account_type": client.account_type.name,
        "how": TERMS_HOW if version else "Not recorded: the client registered before the terms version was recorded.",
    }


def _psp_callbacks(deposit: Deposit, provider: str) -> list[dict[str, Any]]:
    """The PSP's own words about the payment: its signed ``payment.*`` callbacks, as stored."""
    if not deposit.external_id:
        return []
    stored = InboundEvent.objects.filter(
        provider=deposit.provider or provider, object_id=deposit.external_id, event_type__startswith="payment."
    ).order_by("id")
    rows = []
    for event in stored:
        payload = event.payload if isinstance(event.payload, dict) else {}
        rows.append(
            {
                "event": event.event_id,
                "type": event.event_type,
                "received_at": event.received_at.isoformat(),
                "payment": (payload.get("data") or {}).get("object", payload),
            }
        )
    return rows


def _client_sign_ins(client: Any) -> list[dict[str, Any]]:
    """The client's own sign-ins to the client area (browser and device in words), newest first."""
    from accounts.selectors import client_sign_ins, user_agent_label

    return [
        {"at": s.at.isoformat(), "what": f"Client-area sign-in: {s.get_outcome_display().lower()}"
         + (f" ({s.failure_reason})" if s.failure_reason else ""), "ip": s.ip_address,
         "country": s.country.name if s.country else "",
         "browser": user_agent_label(s.user_agent), "device": s.get_device_source_display() if s.device_id else ""}
        for s in client_sign_ins(client).order_by("-at", "-id")[:200]
    ]  # fmt: skip


def chargeback_evidence(case: ChargebackCase) -> dict[str, Any]:
    """What the broker answers a dispute with: JSON the PSP forwards to the card scheme."""
    client, deposit = case.client, case.deposit
    registered = (
        AuditEvent.objects.filter(action=AuditAction.CLIENT_REGISTERED, subject_type="accounts.client",
                                  subject_id=str(client.pk)).order_by("id").first()
    )  # fmt: skip
    subjects = Q(subject_type="accounts.client", subject_id=str(client.pk)) | Q(
        subject_type="payments.deposit", subject_id__in=[str(pk) for pk in client.deposits.values_list("pk", flat=True)]
    )
    seen_from = AuditEvent.objects.filter(subjects, ip__isnull=False).order_by("-id")[:200]
    return {
        "dispute": {
            "id": case.dispute_id,
            "reference": case.reference,
            "amount": amount_str(case.amount, case.currency),
            "currency": case.currency,
            "reason_code": case.reason_code,
            "reason": case.reason,
            "due_at": case.due_at.isoformat(),
        },
        "customer": {
            "reference": client.reference,
            "name": client.display_name,
            "email": client.email,
            "country": str(client.country),
            "registered_at": client.created_at.isoformat(),
            "status": client.get_status_display(),
        },
        "kyc_documents": [
            {
                "kind": doc.get_kind_display(),
                "file": doc.original_name,
                "sha256": doc.sha256,
                "size": doc.size,
                "status": doc.get_status_display(),
                "uploaded_at": doc.uploaded_at.isoformat(),
                "reviewed_at": doc.reviewed_at.isoformat() if doc.reviewed_at else None,
            }
            for doc in Document.objects.filter(client=client).order_by("uploaded_at", "id")
        ],
        "terms_accepted": _terms(client, registered),
        "sign_ins_and_ips": {
            "client_sign_ins": _client_sign_ins(client),
            "note": SIGN_INS_NOTE,
            "actions_with_addresses": [
                {"at": e.occurred_at.isoformat(), "what": e.action_label, "by": e.actor_label, "ip": e.ip}
                for e in seen_from
            ],
        },
        "payment": {
            "deposit": deposit.reference,
            "provider": deposit.provider,
            "psp_payment": deposit.external_id,
            "psp_intent": deposit.psp_intent_id,
            "amount": amount_str(deposit.amount, deposit.currency),
            "currency": deposit.currency,
            "payer_name": deposit.payer_name,
            "payer_card": deposit.payer_account,
            "name_match": deposit.name_score,
            "initiated_at": deposit.created_at.isoformat(),
            "paid_at": deposit.completed_at.isoformat() if deposit.completed_at else None,
            # the PSP's own words about the payment, as its signed callbacks were stored
            "psp_callbacks": _psp_callbacks(deposit, case.provider),
        },
        **evidence_sections(deposit),
    }


def chargeback_response_send(*, case_id: int) -> str:
    """Send the pinned response through the PSP's adapter (a worker, outside any transaction) and
    record the PSP's submission id. The same key makes a retry send nothing twice."""
    case = ChargebackCase.objects.get(pk=case_id)
    if case.status != ChargebackStatus.EVIDENCE_SUBMITTED or case.response_id:
        return case.response_id
    adapter = provider_named(case.provider)
    if adapter is None:
        raise LookupError(errors.PROVIDER_UNKNOWN.format(provider=case.provider))
    response_id = adapter.dispute_respond(
        idempotency_key=str(case.response_key), dispute_id=case.dispute_id, evidence=case.evidence
    )
    with transaction.atomic():
        locked = ChargebackCase.objects.select_for_update().get(pk=case_id)
        if not locked.response_id:
            locked.response_id = response_id
            locked.save(update_fields=["response_id"])
            audit_record(
                action=AuditAction.CHARGEBACK_RESPONSE_SENT,
                subject=locked,
                before={"response_id": ""},
                after={"response_id": response_id, "evidence_sha256": locked.evidence_sha256},
            )
    return response_id


@transaction.atomic
def chargeback_response_failed(*, case_id: int, error: str) -> None:
    """The PSP refused the response (or every retry failed): a person must act before the deadline.
    An exception beside the case's own item, due at the scheme's deadline."""
    case = ChargebackCase.objects.select_for_update().get(pk=case_id)
    if case.response_id:
        return
    work_item_open(
        queue="deposit_exception", subject=case, title=f"Chargeback {case.reference}: response not sent: {error}"[:200],
        risk_level=RiskLevel.HIGH, amount_at_stake=case.amount, due_at=case.due_at, details={"error": error[:300]},
    )  # fmt: skip
