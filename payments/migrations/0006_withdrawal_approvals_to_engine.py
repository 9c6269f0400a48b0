"""Withdrawal approvals move to the one maker-checker engine (ops.ApprovalRequest, action
``payments.withdrawal``); the old WithdrawalApproval table is dropped.

Every withdrawal that went to review and has approvals, or is still waiting for them, gets an
approval request with its decisions: the maker (the staff member who entered it, or the client),
the checkers with their times and reasons, the levels, and the payload and its hash computed the way
the engine does (``ops.services.approvals.payload_hash`` of ``withdrawal_approval_payload``). A
withdrawal still under review gets a pending request that expires 72 hours after this migration
(not after its creation: a deploy must not reject what was waiting). Approved, paid out or failed
withdrawals get an executed request; one rejected during review a cancelled one (it was settled by
its own reject action). The withdrawals' audit events are untouched.
"""

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import migrations
from django.utils import timezone

ACTION = "payments.withdrawal"
LEVELS = {"finance": ["finance"], "finance_compliance": ["finance", "compliance"]}
LEVEL_LABELS = {"finance": "One finance approval", "finance_compliance": "Finance, then compliance"}
MINOR_UNITS = {"JPY": 0, "KWD": 3}  # every other booked currency has 2 (payments.currencies)
EXPIRES_AFTER = timedelta(hours=72)
DONE = {"approved", "processing", "paid", "failed"}


def payload_hash(payload):
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def withdrawal_payload(w):
    places = MINOR_UNITS.get(w.currency, 2)
    return {
        "withdrawal": w.reference,
        "client": w.client.reference,
        "source": w.source.code,
        "amount": str(w.amount.quantize(Decimal(1).scaleb(-places))),
        "currency": w.currency,
        "method": w.method,
        "destination": w.destination,
        "destination_name": w.destination_name,
        "approval": w.approval,
        "flags": list(w.flags),
    }


def client_label(client):
    name = client.legal_name if client.kind == "corporate" else f"{client.first_name} {client.last_name}".strip()
    return f"client {client.reference} ({name})"


def move_withdrawal_approvals(apps, schema_editor):
    Withdrawal = apps.get_model("payments", "Withdrawal")
    WithdrawalApproval = apps.get_model("payments", "WithdrawalApproval")
    ApprovalRequest = apps.get_model("ops", "ApprovalRequest")
    ApprovalDecision = apps.get_model("ops", "ApprovalDecision")
    ContentType = apps.get_model("contenttypes", "ContentType")
    withdrawal_type, _ = ContentType.objects.get_or_create(app_label="payments", model="withdrawal")
    now = timezone.now()
    reviewed = (
        Withdrawal.objects.filter(approval__in=list(LEVELS), approval_request__isnull=True)
        .select_related("client", "source", "requested_by")
        .order_by("pk")
    )
    for w in reviewed.iterator():
        approvals = list(WithdrawalApproval.objects.filter(withdrawal=w).order_by("level"))
        if w.status == "under_review":
            status, closed_at, expires_at = "pending", None, now + EXPIRES_AFTER
        elif not approvals:
            continue  # rejected before anyone approved: nothing was decided; the audit trail has the rest
        else:
            status = "executed" if w.status in DONE else "cancelled"
            closed_at = w.decided_at or approvals[-1].decided_at
            expires_at = w.created_at + EXPIRES_AFTER
        payload = withdrawal_payload(w)
        flags = ", ".join(str(f).replace("_", " ") for f in w.flags) or "none"
        maker = w.requested_by
        request = ApprovalRequest.objects.create(
            action=ACTION,
            subject_type=withdrawal_type,
            subject_id=str(w.pk),
            summary=f"Withdrawal {w.reference}: {payload['amount']} {w.currency} for client {w.client.reference}",
            payload=payload,
            payload_hash=payload_hash(payload),
            maker=maker,
            maker_label=maker.username if maker is not None else client_label(w.client),
            reason=f"{LEVEL_LABELS[w.approval]} by the withdrawal policy; findings: {flags}",
            required_roles=LEVELS[w.approval],
            status=status,
            created_at=w.created_at,
            expires_at=expires_at,
            closed_at=closed_at,
            result={"withdrawal": w.reference, "status": "approved"} if status == "executed" else {},
        )
        ApprovalDecision.objects.bulk_create(
            ApprovalDecision(
                request=request,
                level=a.level,
                checker_id=a.user_id,
                decision="approve",
                reason=a.reason,
                decided_at=a.decided_at,
            )
            for a in approvals
        )
        Withdrawal.objects.filter(pk=w.pk).update(approval_request=request)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("ops", "0010_approval_outside_makers"),
        ("payments", "0004_deposit_refunds"),
    ]

    operations = [
        migrations.RunPython(move_withdrawal_approvals, elidable=False),
        migrations.DeleteModel(name="WithdrawalApproval"),
    ]
