"""Risk writes: proposing monitoring rules and versions (maker-checker, ``risk.rule_change``),
carrying out the approved change, running the rules (alerts with evidence, each a work item in the
``risk_alert`` queue), deciding alerts, exposure limits, refreshing open positions from the
platform, and moving a trading account between books (maker-checker, ``risk.account_routing``).

Nothing of a proposed version is written before another risk officer approves it: the proposal is
the approval request's payload, checked when asked for and again when approved (the rule's versions
may have changed in between).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.models import Book, TradingAccount
from audit.actions import AuditAction
from audit.context import Actor, acting_as
from audit.services import audit_record
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny
from risk import errors
from risk.errors import RiskError, RuleError
from risk.models import (
    AlertSource,
    AlertStatus,
    ExposureLimit,
    FxRateGap,
    Instrument,
    Position,
    RiskAlert,
    RiskRule,
    RiskRuleVersion,
)
from risk.rules import Gap, Hit, gaps, hits, params_clean

RULE_CHANGE = "risk.rule_change"
ACCOUNT_ROUTING = "risk.account_routing"
FX_RATE_ADD = "risk.fx_rate_add"
RULE_CODE = re.compile(r"^[A-Za-z0-9_-]{2,40}$")
ALERT_QUEUE = "risk_alert"
FX_GAP_QUEUE = "fx_rate_missing"
# the rules' beat task looks back this far for new activity (a missed run is caught up next time;
# an alert is raised once per rule and key, so overlapping runs raise nothing twice)
EVALUATION_LOOKBACK = timedelta(hours=24)


# --- who may -------------------------------------------------------------------------------------


def risk_can_view(actor: Any) -> Decision:
    """The rules and alerts pages: risk (account anomalies) and the auditor."""
    if actor.is_authenticated and (actor.has_perm("ops.view_anomalies") or actor.has_perm("ops.view_audit_trail")):
        return ALLOWED
    return deny(errors.NOT_ALLOWED_VIEW)


def exposure_can_view(actor: Any) -> Decision:
    """The risk dashboard (exposure and P&L): risk (trading risk) and the auditor."""
    if actor.is_authenticated and (actor.has_perm("ops.view_trading_risk") or actor.has_perm("ops.view_audit_trail")):
        return ALLOWED
    return deny(errors.NOT_ALLOWED_EXPOSURE)


def fx_gap_can_view(actor: Any) -> Decision:
    """The missing FX rates: finance and risk (who work the ``fx_rate_missing`` queue), the
    administrators (who add FX rates) and the auditor."""
    if actor.is_authenticated and any(
        actor.has_perm(p)
        for p in ("ops.work_as_finance", "ops.work_as_risk", "ops.manage_configuration", "ops.view_audit_trail")
    ):
        return ALLOWED
    return deny(errors.NOT_ALLOWED_FX_GAPS)


def fx_rate_can_propose(actor: Any, gap: FxRateGap | None = None) -> Decision:
    """Propose the missing rate of a gap (``risk.fx_rate_add``; another finance officer approves):
    finance and risk, while the gap is not covered."""
    if not (actor.is_authenticated and actor.has_perm("ops.propose_fx_rates")):
        return deny(errors.NOT_ALLOWED_FX_PROPOSE)
    if gap is not None and fx_gap_covered(gap):
        return deny(errors.FX_GAP_COVERED)
    return ALLOWED


def rule_can_propose(actor: Any) -> Decision:
    """Propose a monitoring rule or a new version of one (another risk officer approves)."""
    from ops.services.approvals import approval_can_submit

    if not actor.is_authenticated or not actor.has_perm("ops.work_as_risk"):
        return deny(errors.NOT_ALLOWED_PROPOSE)
    return approval_can_submit(actor, RULE_CHANGE)


def rule_can_propose_version(actor: Any, rule: RiskRule) -> Decision:
    from ops.selectors import approval_pending

    may = rule_can_propose(actor)
    if not may:
        return may
    if (pending := approval_pending(RULE_CHANGE, rule)) is not None:
        return deny(errors.RULE_CHANGE_PENDING.format(rule=rule.name, request=pending.pk))
    return ALLOWED


def alert_can_dispose(actor: Any, alert: RiskAlert) -> Decision:
    if not actor.is_authenticated or not actor.has_perm("ops.work_as_risk"):
        return deny(errors.NOT_ALLOWED_DISPOSE)
    if alert.status != AlertStatus.OPEN:
        return deny(errors.ALERT_CLOSED.format(status=alert.get_status_display().lower()))
    return ALLOWED


def exposure_limit_can_set(actor: Any) -> Decision:
    if not actor.is_authenticated or not actor.has_perm("ops.work_as_risk"):
        return deny(errors.NOT_ALLOWED_LIMITS)
    return ALLOWED


def account_routing_can_change(actor: Any, account: TradingAccount) -> Decision:
    from accounts.selectors import client_is_visible_to

    if not actor.is_authenticated or not actor.has_perm("ops.change_leverage"):
        return deny(errors.NOT_ALLOWED_BOOK)
    if not client_is_visible_to(actor, account.client):
        return deny(errors.NOT_ALLOWED_BOOK)
    return ALLOWED


# --- checking a proposal -------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    params: dict[str, Any]
    valid_from: datetime
    valid_to: datetime | None
    note: str


def _when(value: Any, field: str, problems: dict[str, str]) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        problems[field] = "A date and time (YYYY-MM-DD HH:MM)."
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed, timezone.get_current_timezone())


def version_overlap_check(
    rule: RiskRule | None, valid_from: datetime, valid_to: datetime | None
) -> RiskRuleVersion | None:
    """The version a new one from ``valid_from`` ends (the one in force then, open-ended and begun
    before it); any other version overlapping ``[valid_from, valid_to)`` refuses the new one."""
    if rule is None or rule.pk is None:
        return None
    ends: RiskRuleVersion | None = None
    for version in rule.versions.order_by("valid_from"):
        if version.valid_from < valid_from and version.valid_to is None:
            ends = version
            continue
        overlaps = (version.valid_to is None or version.valid_to > valid_from) and (
            valid_to is None or version.valid_from < valid_to
        )
        if overlaps:
            raise RuleError(
                {
                    "valid_from": errors.VERSION_OVERLAP.format(
                        number=version.number,
                        start=version.valid_from.strftime("%Y-%m-%d %H:%M"),
                        end=version.valid_to.strftime("%Y-%m-%d %H:%M") if version.valid_to else "open-ended",
                    )
                }
            )
    return ends


def rule_version_check(rule: RiskRule, payload: dict[str, Any], *, now: datetime | None = None) -> Proposal:
    """Everything a proposed version must satisfy, when asked for and again when approved."""
    problems: dict[str, str] = {}
    params: dict[str, Any] = {}
    try:
        params = params_clean(rule.kind, payload.get("params"))
    except RuleError as exc:
        problems.update({f"params.{k}" if k != "params" else k: v for k, v in exc.problems.items()})
    valid_from = _when(payload.get("valid_from"), "valid_from", problems)
    valid_to = _when(payload.get("valid_to"), "valid_to", problems)
    if valid_from is None and "valid_from" not in problems:
        problems["valid_from"] = "A date and time (YYYY-MM-DD HH:MM)."
    if valid_from is not None and payload.get("check_start", True):
        # a little slack: the proposal was made a moment before it is checked again at approval
        if valid_from < (now or timezone.now()) - timedelta(minutes=5) and not payload.get("approved_at"):
            problems["valid_from"] = errors.VALID_FROM_PAST
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        problems["valid_to"] = errors.VALID_TO_ORDER
    if valid_from is not None and not problems:
        version_overlap_check(rule, valid_from, valid_to)
    if problems or valid_from is None:
        raise RuleError(problems)
    return Proposal(
        params=params, valid_from=valid_from, valid_to=valid_to, note=str(payload.get("note") or "").strip()
    )


def rule_change_payload(
    *,
    rule: RiskRule,
    new_rule: bool,
    params: dict[str, Any],
    valid_from: datetime,
    valid_to: datetime | None,
    note: str,
) -> dict[str, Any]:
    return {
        "new_rule": new_rule,
        "rule": {"code": rule.code, "name": rule.name, "kind": rule.kind},
        "params": params,
        "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat() if valid_to else None,
        "note": note.strip(),
    }


# --- asking --------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def rule_propose(
    *,
    actor: User,
    code: str,
    name: str,
    kind: str,
    params: Any,
    valid_from: datetime,
    valid_to: datetime | None,
    note: str,
    reason: str,
) -> ApprovalRequest:
    """A new rule with its first version: the rule is made now (no version: it fires on nothing),
    the version waits for another risk officer's approval."""
    from ops.services.approvals import approval_create

    rule_can_propose(actor).require(RuleError)
    code, name = (code or "").strip().upper(), (name or "").strip()
    problems: dict[str, str] = {}
    if not RULE_CODE.match(code):
        problems["code"] = errors.CODE_FORMAT
    elif RiskRule.objects.filter(code=code).exists():
        problems["code"] = errors.CODE_TAKEN.format(code=code)
    if not name:
        problems["name"] = "A name."
    if not reason.strip():
        problems["reason"] = errors.REASON_REQUIRED
    shell = RiskRule(code=code, name=name, kind=kind)
    try:
        checked = rule_version_check(
            shell,
            {
                "params": params,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
            },
        )
    except RuleError as exc:
        problems.update(exc.problems)
    if problems:
        raise RuleError(problems)
    try:
        with transaction.atomic():
            rule = RiskRule.objects.create(code=code, name=name, kind=kind)
    except IntegrityError:
        raise RuleError({"code": errors.CODE_TAKEN.format(code=code)}) from None
    audit_record(
        action=AuditAction.RISK_RULE_CREATED, subject=rule,
        after={"code": code, "name": name, "kind": kind, "versions": 0}, reason=reason,
    )  # fmt: skip
    payload = rule_change_payload(
        rule=rule, new_rule=True, params=checked.params, valid_from=valid_from, valid_to=valid_to, note=note
    )
    return approval_create(action=RULE_CHANGE, subject=rule, payload=payload, maker=actor, reason=reason)


@transaction.atomic(durable=True)
def rule_version_propose(
    *,
    actor: User,
    rule: RiskRule,
    params: Any,
    valid_from: datetime,
    valid_to: datetime | None,
    note: str,
    reason: str,
) -> ApprovalRequest:
    """A new version of ``rule`` from ``valid_from`` (now or later), waiting for approval."""
    from ops.services.approvals import approval_create

    rule_can_propose_version(actor, rule).require(RuleError)
    problems: dict[str, str] = {}
    if not reason.strip():
        problems["reason"] = errors.REASON_REQUIRED
    try:
        checked = rule_version_check(
            rule,
            {
                "params": params,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else None,
            },
        )
    except RuleError as exc:
        problems.update(exc.problems)
    if problems:
        raise RuleError(problems)
    payload = rule_change_payload(
        rule=rule, new_rule=False, params=checked.params, valid_from=valid_from, valid_to=valid_to, note=note
    )
    return approval_create(action=RULE_CHANGE, subject=rule, payload=payload, maker=actor, reason=reason)


# --- carrying out the approved change ------------------------------------------------------------


def _version_facts(version: RiskRuleVersion) -> dict[str, Any]:
    return {
        "rule": version.rule.code,
        "number": version.number,
        "params": version.params,
        "valid_from": version.valid_from.isoformat(),
        "valid_to": version.valid_to.isoformat() if version.valid_to else None,
    }


@transaction.atomic
def rule_version_add(*, rule_id: int, payload: dict[str, Any], request: ApprovalRequest) -> RiskRuleVersion:
    """Carry out an approved rule change (inside the engine's transaction, the rule locked): the
    open-ended version in force at ``valid_from`` ends then, the new one starts with the next number.
    A start that passed while the request waited begins now."""
    rule = RiskRule.objects.select_for_update().get(pk=rule_id)
    now = timezone.now()
    proposal = rule_version_check(rule, {**payload, "approved_at": now.isoformat()})
    valid_from = max(proposal.valid_from, now)
    if proposal.valid_to is not None and proposal.valid_to <= valid_from:
        raise RuleError({"valid_to": errors.VALID_TO_ORDER})
    ended = version_overlap_check(rule, valid_from, proposal.valid_to)
    reason = f"approval #{request.pk}: {request.reason}"
    try:
        with transaction.atomic():
            if ended is not None:
                before = _version_facts(ended)
                ended.valid_to = valid_from
                ended._change_reason = reason  # type: ignore[attr-defined]
                ended.save(update_fields=["valid_to"])
                audit_record(
                    action=AuditAction.RISK_RULE_VERSION_ENDED, subject=rule, before=before,
                    after=_version_facts(ended), reason=reason,
                )  # fmt: skip
            number = (rule.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = RiskRuleVersion(
                rule=rule, number=number, params=proposal.params, valid_from=valid_from,
                valid_to=proposal.valid_to, note=proposal.note, approval=request,
            )  # fmt: skip
            version._change_reason = reason  # type: ignore[attr-defined]
            version.save()
    except IntegrityError as exc:  # the exclusion constraint: the backstop of version_overlap_check
        if "risk_rule_versions_do_not_overlap" in str(exc):
            raise RuleError({"valid_from": "Overlaps another version of this rule."}) from None
        raise
    audit_record(action=AuditAction.RISK_RULE_VERSION_ADDED, subject=rule, after=_version_facts(version), reason=reason)
    return version


# --- running the rules ---------------------------------------------------------------------------


def version_in_force(rule: RiskRule, at: datetime) -> RiskRuleVersion | None:
    return (
        rule.versions.filter(valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .order_by("-valid_from")
        .first()
    )


@transaction.atomic
def alerts_raise(*, rule: RiskRule, version: RiskRuleVersion, found: list[Hit]) -> list[RiskAlert]:
    """An alert (and a ``risk_alert`` work item) per hit not raised by this rule before."""
    from ops.services.work_items import work_item_open

    if not found:
        return []
    seen = set(RiskAlert.objects.filter(rule=rule, key__in=[h.key for h in found]).values_list("key", flat=True))
    raised = []
    for hit in found:
        if hit.key in seen:
            continue
        seen.add(hit.key)
        alert = RiskAlert.objects.create(
            source=AlertSource.RULE, rule=rule, rule_version=version, key=hit.key, client_id=hit.client_id,
            summary=hit.summary, evidence=hit.evidence,
        )  # fmt: skip
        audit_record(
            action=AuditAction.RISK_ALERT_RAISED, subject=alert,
            after={"rule": rule.code, "version": version.number, "key": hit.key, "summary": hit.summary},
        )  # fmt: skip
        work_item_open(
            queue=ALERT_QUEUE, subject=alert, title=f"{rule.name}: {hit.summary}", risk_level="high",
            details={"rule": rule.code, "version": version.number, "alert": alert.pk, "client": hit.client_id},
        )  # fmt: skip
        raised.append(alert)
    return raised


def rule_evaluate(*, rule_id: int, start: datetime | None = None, end: datetime | None = None) -> list[RiskAlert]:
    """Run one rule's version in force over ``[start, end)`` (default: the lookback up to now) and
    raise an alert per new hit. The statement runs outside the transaction that writes the alerts."""
    rule = RiskRule.objects.get(pk=rule_id)
    end = end or timezone.now()
    start = start or end - EVALUATION_LOOKBACK
    version = version_in_force(rule, end)
    if version is None:
        return []
    found = hits(rule.kind, version.params, start=start, end=end)
    unconverted = gaps(rule.kind, version.params, start=start, end=end)
    with acting_as(Actor.system("risk.rules_evaluate")), transaction.atomic():
        raised = alerts_raise(rule=rule, version=version, found=found)
        if unconverted:
            fx_gaps_record(found=unconverted, rule=rule)
        RiskRule.objects.filter(pk=rule.pk).update(last_evaluated_at=end)  # not audited: a run's bookmark
    return raised


# --- missing FX rates ------------------------------------------------------------------------------


@transaction.atomic
def fx_gap_record(
    *, base: str, quote: str, day: Any, first_at: datetime, count: int, examples: list[str],
    rule: RiskRule | None = None, for_exposure: bool = False,
) -> FxRateGap:  # fmt: skip
    """A pair without a rate on a day: the gap, and its work item in ``fx_rate_missing`` for finance
    and risk, opened once (a gap met again only adds its rule and the larger count)."""
    from ops.services.work_items import work_item_open

    gap, created = FxRateGap.objects.get_or_create(
        base=base, quote=quote, day=day,
        defaults={"first_needed_at": first_at, "transactions": count, "examples": examples[:5],
                  "for_exposure": for_exposure},
    )  # fmt: skip
    if not created:
        gap = FxRateGap.objects.select_for_update().get(pk=gap.pk)
        changed = []
        if count > gap.transactions:
            gap.transactions, gap.examples = count, examples[:5]
            changed += ["transactions", "examples"]
        if first_at < gap.first_needed_at:
            gap.first_needed_at = first_at
            changed.append("first_needed_at")
        if for_exposure and not gap.for_exposure:
            gap.for_exposure = True
            changed.append("for_exposure")
        if changed:
            gap.save(update_fields=changed)
    if rule is not None:
        gap.rules.add(rule)
    if created:
        what = f"{count} amount(s) not compared by rule {rule.name}" if rule is not None else "exposure not converted"
        work_item_open(
            queue=FX_GAP_QUEUE, subject=gap, title=f"No {base}/{quote} rate on {day:%Y-%m-%d}: {what}",
            risk_level="medium",
            details={"pair": f"{base}/{quote}", "day": day.isoformat(), "first_needed_at": first_at.isoformat(),
                     "transactions": count, "examples": examples[:5], "rule": rule.code if rule else None},
        )  # fmt: skip
    return gap


def _covering_rates(gap: FxRateGap) -> Any:
    """The rates of the pair, or of its inverse, dated at or before the moment the gap was first
    needed: any one of them converts every amount the gap met."""
    from payments.models import FxRate

    return FxRate.objects.filter(
        Q(base=gap.base, quote=gap.quote) | Q(base=gap.quote, quote=gap.base), as_of__lte=gap.first_needed_at
    )


def fx_gap_covered(gap: FxRateGap) -> bool:
    return _covering_rates(gap).exists()


def fx_rate_check(gap: FxRateGap, *, base: str, quote: str, rate: object, as_of: datetime) -> dict[str, str]:
    """What is wrong with a proposed rate for a gap (field -> message); nothing when it is good."""
    from payments.errors import PaymentError
    from payments.services.fx import fx_rate_clean

    if {base, quote} != {gap.base, gap.quote}:
        return {"__all__": errors.FX_PAIR_NOT_THE_GAPS.format(pair=f"{gap.base}/{gap.quote}")}
    try:
        fx_rate_clean(base=base, quote=quote, rate=rate, as_of=as_of)
    except PaymentError as exc:
        return {exc.field or "__all__": exc.message}
    if as_of > gap.first_needed_at:
        return {"as_of": errors.FX_RATE_TOO_LATE.format(needed=f"{gap.first_needed_at:%Y-%m-%d %H:%M:%S}")}
    return {}


@transaction.atomic(durable=True)
def fx_rate_propose(*, actor: User, gap_id: int, rate: object, as_of: datetime, reason: str) -> ApprovalRequest:
    """A finance or risk officer proposes the missing rate of a gap (``risk.fx_rate_add``): another
    finance officer approves, then the rate is in and every gap it covers closes."""
    from ops.services.approvals import approval_create

    gap = FxRateGap.objects.get(pk=gap_id)
    fx_rate_can_propose(actor, gap).require(RiskError)
    problems = fx_rate_check(gap, base=gap.base, quote=gap.quote, rate=rate, as_of=as_of)
    if not (reason or "").strip():
        problems["reason"] = errors.REASON_REQUIRED
    if problems:
        raise RiskError(problems)
    payload = {"base": gap.base, "quote": gap.quote, "rate": str(rate).strip(), "as_of": as_of.isoformat()}
    return approval_create(action=FX_RATE_ADD, subject=gap, payload=payload, maker=actor, reason=reason)


def fx_gaps_close_covered() -> int:
    """Close the work item of every open gap a rate now covers (the pair's or its inverse's, dated
    at or before the gap was first needed), and run each rule that met it again over the days
    since, so the amounts it could not compare are compared. Called when an approved rate comes in
    and by beat for rates added in the admin. Returns how many gaps closed."""
    from django.contrib.contenttypes.models import ContentType

    from ops.models import OPEN_STATUSES, WorkItem
    from ops.services.work_items import work_item_resolve_for_subject

    open_ids = WorkItem.objects.filter(
        queue__code=FX_GAP_QUEUE,
        subject_type=ContentType.objects.get_for_model(FxRateGap),
        status__in=OPEN_STATUSES,
    ).values_list("subject_id", flat=True)
    closed = 0
    for gap in FxRateGap.objects.filter(pk__in=[int(i) for i in open_ids]).prefetch_related("rules"):
        rate = _covering_rates(gap).order_by("-as_of").first()
        if rate is None:
            continue
        with transaction.atomic():
            why = (
                f"The {rate.base}/{rate.quote} rate {rate.rate.normalize():f} of {rate.as_of:%Y-%m-%d %H:%M} UTC is in."
            )
            if work_item_resolve_for_subject(queue=FX_GAP_QUEUE, subject=gap, code="fixed", note=why) is None:
                continue
            closed += 1
            days = (timezone.now().date() - gap.day).days + 1
            for rule in gap.rules.all():
                transaction.on_commit(partial(_rule_evaluate_later, rule.pk, days))
    return closed


def _rule_evaluate_later(rule_id: int, days: int) -> None:
    from risk.tasks import rule_evaluate_task

    rule_evaluate_task.delay(rule_id=rule_id, days=days)


def fx_gaps_record(*, found: list[Gap], rule: RiskRule) -> list[FxRateGap]:
    """The amounts a rule run could not convert into its currency, a gap per currency and day."""
    return [
        fx_gap_record(
            base=g.currency,
            quote=g.quote,
            day=g.day,
            first_at=g.first_at,
            count=g.count,
            examples=g.examples,
            rule=rule,
        )
        for g in found
    ]


def rules_evaluate_all() -> dict[str, int]:
    """Every rule with a version in force, over the new activity (the beat task)."""
    now = timezone.now()
    counts = {}
    for rule in RiskRule.objects.order_by("code"):
        start = min(rule.last_evaluated_at or now, now) - EVALUATION_LOOKBACK
        counts[rule.code] = len(rule_evaluate(rule_id=rule.pk, start=start, end=now))
    return counts


DISPOSITION_RESOLUTION = {
    AlertStatus.TRUE_MATCH: "true_match",
    AlertStatus.FALSE_POSITIVE: "false_positive",
    AlertStatus.ESCALATED: "referred",
}


@transaction.atomic(durable=True)
def alert_dispose(*, alert_id: int, actor: User, disposition: str, reason: str) -> RiskAlert:
    """True match, false positive or escalated, with the reason (kept to measure the rule's
    precision); the alert's work item closes with the same code, an escalation opens one with
    compliance."""
    from ops.services.work_items import work_item_open, work_item_resolve_for_subject

    alert = RiskAlert.objects.select_for_update().get(pk=alert_id)
    alert_can_dispose(actor, alert).require(RiskError)
    problems = {}
    if disposition not in DISPOSITION_RESOLUTION:
        problems["disposition"] = errors.UNKNOWN_DISPOSITION.format(value=disposition)
    if not (reason or "").strip():
        problems["reason"] = errors.DISPOSITION_REASON_REQUIRED
    if problems:
        raise RiskError(problems)
    status = AlertStatus(disposition)
    before = {"status": alert.status}
    alert.status = status
    alert.disposition_reason = reason.strip()
    alert.disposed_by = actor
    alert.disposed_at = timezone.now()
    alert.save(update_fields=["status", "disposition_reason", "disposed_by", "disposed_at"])
    audit_record(
        action=AuditAction.RISK_ALERT_DISPOSED, subject=alert, before=before,
        after={"status": status.value, "rule": alert.rule.code if alert.rule else None}, reason=reason.strip(),
    )  # fmt: skip
    work_item_resolve_for_subject(
        queue=ALERT_QUEUE, subject=alert, code=DISPOSITION_RESOLUTION[status], note=reason.strip()
    )
    if status == AlertStatus.ESCALATED:
        work_item_open(
            queue="compliance_escalation", subject=alert, title=f"Escalated risk alert: {alert.summary}",
            risk_level="high", details={"alert": alert.pk, "reason": reason.strip()},
        )  # fmt: skip
    return alert


# --- exposure --------------------------------------------------------------------------------------


def _positive_amount(raw: Any, field: str, problems: dict[str, str], *, places: int, what: str) -> Decimal | None:
    """``raw`` (optional: None or "" is no limit) as a positive number of at most ``places`` decimals."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", ""))
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        problems[field] = what
        return None
    exact = Decimal(1).scaleb(-places)
    if value <= 0:
        problems[field] = errors.LIMIT_ZERO
    elif value != value.quantize(exact) or value >= Decimal("1e12"):
        problems[field] = errors.LIMIT_PLACES.format(places=places)
    else:
        return value.quantize(exact)
    return None


@transaction.atomic(durable=True)
def exposure_limit_set(
    *, actor: User, symbol: str, max_net_lots: Any, reason: str, max_net_notional: Any = None,
    notional_currency: str = "",
) -> ExposureLimit:  # fmt: skip
    """The most the broker may hold net in ``symbol``: in lots, in notional (in ``notional_currency``,
    the reporting currency when not given), or both; at least one."""
    from django.conf import settings

    from payments.currencies import MINOR_UNITS, minor_units

    exposure_limit_can_set(actor).require(RiskError)
    problems: dict[str, str] = {}
    symbol = (symbol or "").strip().upper()
    if not re.match(r"^[A-Z0-9._#-]{2,32}$", symbol):
        problems["symbol"] = "A platform symbol, e.g. EURUSD."
    lots = _positive_amount(max_net_lots, "max_net_lots", problems, places=2, what="A number of lots.")
    currency = (notional_currency or settings.RISK_REPORTING_CURRENCY).strip().upper()
    if currency not in MINOR_UNITS:
        problems["notional_currency"] = errors.NOTIONAL_CURRENCY.format(choices=", ".join(MINOR_UNITS))
        currency = "USD"
    notional = _positive_amount(
        max_net_notional, "max_net_notional", problems, places=minor_units(currency), what="An amount, e.g. 5000000."
    )
    if lots is None and notional is None and not {"max_net_lots", "max_net_notional"} & set(problems):
        problems["max_net_lots"] = errors.LIMIT_LOTS_OR_NOTIONAL
    if not (reason or "").strip():
        problems["reason"] = errors.REASON_REQUIRED
    if problems:
        raise RiskError(problems)
    existing = ExposureLimit.objects.select_for_update().filter(symbol=symbol).first()
    before = _limit_facts(existing) if existing else None
    limit = existing or ExposureLimit(symbol=symbol)
    limit.max_net_lots = lots
    limit.max_net_notional = notional
    limit.notional_currency = currency if notional is not None else ""
    limit.updated_at = timezone.now()
    limit._change_reason = reason  # type: ignore[attr-defined]
    limit.save()
    audit_record(
        action=AuditAction.EXPOSURE_LIMIT_SET, subject=limit, before=before, after=_limit_facts(limit), reason=reason
    )
    return limit


def _limit_facts(limit: ExposureLimit) -> dict[str, Any]:
    return {
        "symbol": limit.symbol,
        "max_net_lots": str(limit.max_net_lots) if limit.max_net_lots is not None else None,
        "max_net_notional": str(limit.max_net_notional) if limit.max_net_notional is not None else None,
        "notional_currency": limit.notional_currency or None,
    }


def positions_refresh() -> int:
    """Read every provisioned account's open positions from the platform (the gateway) into
    ``risk.Position``: one account's positions replaced in one transaction, several positions in one
    symbol kept as one row (their lots and lots x open price summed)."""
    from accounts.platform import get_platform

    platform = get_platform()
    count = 0
    for account in TradingAccount.objects.filter(login__isnull=False).only("pk", "login").iterator(chunk_size=500):
        assert account.login is not None
        positions = platform.open_positions(account.login)
        merged: dict[str, Position] = {}
        for p in positions:
            row = merged.setdefault(
                p.symbol,
                Position(trading_account=account, symbol=p.symbol, volume=Decimal(0), margin=Decimal(0),
                         open_value=Decimal(0)),
            )  # fmt: skip
            row.volume += p.volume
            row.margin += p.margin
            if p.open_price is None or row.open_value is None:
                row.open_value = None
            else:
                row.open_value += p.volume * p.open_price
        with transaction.atomic():
            Position.objects.filter(trading_account=account).delete()
            Position.objects.bulk_create(row for row in merged.values() if row.volume)
        count += len(positions)
    return count


def instruments_refresh() -> int:
    """The platform's symbols (contract size, base and quote currency) and the latest price of each
    into ``risk.Instrument``, one statement per symbol; a symbol the platform describes wrongly (no
    contract size, no quote currency, a price of zero or a bid above the ask) keeps what it had, and
    the dashboard shows it unpriced. Returns how many were refreshed."""
    from accounts.platform import get_platform

    platform = get_platform()
    specs = {i.symbol: i for i in platform.instruments()}
    prices = {q.symbol: q for q in platform.quotes(sorted(specs))}
    now = timezone.now()
    refreshed = 0
    for symbol, spec in specs.items():
        currencies_ok = re.fullmatch(r"[A-Z]{3}", spec.quote or "") and re.fullmatch(r"([A-Z]{3})?", spec.base or "")
        if not currencies_ok or not spec.contract_size or spec.contract_size <= 0:
            continue
        quote = prices.get(symbol)
        priced = quote is not None and quote.bid > 0 and quote.ask >= quote.bid
        defaults: dict[str, Any] = {
            "description": spec.description[:120], "contract_size": spec.contract_size, "base_currency": spec.base,
            "quote_currency": spec.quote, "refreshed_at": now,
        }  # fmt: skip
        if priced and quote is not None:
            defaults |= {"bid": quote.bid, "ask": quote.ask, "priced_at": quote.at}
        Instrument.objects.update_or_create(symbol=symbol, defaults=defaults)
        refreshed += 1
    return refreshed


def _limit_breaches(limit: ExposureLimit, row: dict[str, Any]) -> list[str]:
    """What of ``limit`` the symbol's exposure ``row`` (a priced dashboard row) is over, in words."""
    from risk.selectors import convert

    over = []
    if limit.max_net_lots is not None and abs(row["net"]) > limit.max_net_lots:
        over.append(f"{row['net']} lots, over the limit of {limit.max_net_lots} lots")
    if limit.max_net_notional is not None and row.get("notional_net") is not None:
        net = convert(row["notional_net"], row["quote_currency"], limit.notional_currency, at=timezone.now())
        if net is not None and abs(net) > limit.max_net_notional:
            over.append(
                f"{net:,.2f} {limit.notional_currency} notional, over the limit of "
                f"{limit.max_net_notional:,.2f} {limit.notional_currency}"
            )
    return over


def exposure_check() -> list[RiskAlert]:
    """A risk alert for each symbol whose net exposure (both books) is over its limit, in lots or in
    notional; one alert per symbol and day. A currency the exposure could not be converted from (no
    rate into the limit's or the reporting currency) is a gap in ``fx_rate_missing``."""
    from ops.services.work_items import work_item_open
    from risk.selectors import exposure_by_symbol, exposure_fx_gaps, exposure_priced

    now = timezone.now()
    rows = exposure_priced(exposure_by_symbol())
    limits = {limit.symbol: limit for limit in ExposureLimit.objects.all()}
    with acting_as(Actor.system("risk.exposure_check")):
        for (base, quote), symbols in exposure_fx_gaps(rows, limits.values()).items():
            fx_gap_record(
                base=base, quote=quote, day=now.date(), first_at=now, count=len(symbols), examples=symbols,
                for_exposure=True,
            )  # fmt: skip
    raised = []
    today = now.date().isoformat()
    for row in rows:
        limit = limits.get(row["symbol"])
        if limit is None:
            continue
        over = _limit_breaches(limit, row)
        if not over:
            continue
        key = f"limit:{row['symbol']}:{today}"
        with acting_as(Actor.system("risk.exposure_check")), transaction.atomic():
            if RiskAlert.objects.filter(source=AlertSource.EXPOSURE_LIMIT, rule=None, key=key).exists():
                continue
            summary = f"Net exposure in {row['symbol']} is {' and '.join(over)}"[:300]
            alert = RiskAlert.objects.create(
                source=AlertSource.EXPOSURE_LIMIT, key=key, symbol=row["symbol"], summary=summary,
                evidence=[{"table": "exposure", "symbol": row["symbol"], "net": str(row["net"]),
                           "a_book": str(row["a"]), "b_book": str(row["b"]),
                           "limit": str(limit.max_net_lots) if limit.max_net_lots is not None else "",
                           "notional": str(row["notional_net"]) if row.get("notional_net") is not None else "",
                           "notional_currency": row.get("quote_currency") or "",
                           "notional_limit": str(limit.max_net_notional) if limit.max_net_notional else "",
                           "notional_limit_currency": limit.notional_currency,
                           "price": str(row["price"]) if row.get("price") is not None else ""}],
            )  # fmt: skip
            audit_record(action=AuditAction.RISK_ALERT_RAISED, subject=alert, after={"key": key, "summary": summary})
            work_item_open(
                queue=ALERT_QUEUE, subject=alert, title=summary[:200], risk_level="high",
                details={"alert": alert.pk, "symbol": row["symbol"]},
            )  # fmt: skip
            raised.append(alert)
    return raised


# --- books ---------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def account_routing_propose(
    *, actor: User, account: TradingAccount, book: str, leverage: int | None, reason: str, group: str | None = None
) -> ApprovalRequest:
    """Move a trading account to another book, tighten its leverage and/or move it to another
    platform group (another risk officer approves)."""
    from ops.services.approvals import approval_create

    account_routing_can_change(actor, account).require(RiskError)
    group = (group or "").strip() or None
    problems = routing_check(account, {"book": book, "leverage": leverage, "group": group})
    if not (reason or "").strip():
        problems["reason"] = errors.REASON_REQUIRED
    if problems:
        raise RiskError(problems)
    payload = {
        "book": book,
        "leverage": leverage,
        "group": group,
        "from_book": account.book,
        "from_leverage": account.leverage,
        "from_group": account.platform_group,
    }
    return approval_create(action=ACCOUNT_ROUTING, subject=account, payload=payload, maker=actor, reason=reason)


# a trading platform's group name (MT5 style: letters, digits and \ / - _ . and spaces)
PLATFORM_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\\/.\- ]{0,79}")


def routing_check(account: TradingAccount, payload: dict[str, Any]) -> dict[str, str]:
    from accounts.errors import ClientError
    from accounts.services.trading_accounts import check_leverage

    problems: dict[str, str] = {}
    book, leverage, group = payload.get("book"), payload.get("leverage"), payload.get("group")
    if group is not None and not (isinstance(group, str) and PLATFORM_GROUP.fullmatch(group)):
        problems["group"] = errors.GROUP_INVALID
    if book not in Book.values:
        problems["book"] = "A-book or B-book."
    if leverage is not None:
        if not isinstance(leverage, int) or isinstance(leverage, bool):
            problems["leverage"] = "A whole number."
        else:
            try:
                check_leverage(account, leverage)
            except ClientError as exc:
                problems["leverage"] = str(exc)
    if (
        not problems
        and book == account.book
        and leverage in (None, account.leverage)
        and group in (None, account.platform_group)
    ):
        problems["book"] = errors.BOOK_UNCHANGED
    return problems


@transaction.atomic
def account_routing_apply(*, account_id: int, payload: dict[str, Any], request: ApprovalRequest) -> TradingAccount:
    """Carry out an approved move: the book is recorded here (the platform gateway has no book; the
    platform routes by group, so a move to the A-book names the group the dealing desk routes to
    liquidity providers); a group or leverage change is pushed to the platform after commit
    (``accounts.tasks.trading_account_push_task``)."""
    from accounts.services.trading_accounts import apply_leverage

    account = TradingAccount.objects.select_for_update().get(pk=account_id)
    problems = routing_check(account, payload)
    if problems:
        raise RiskError(problems)
    reason = f"approval #{request.pk}: {request.reason}"
    if payload["book"] != account.book:
        before = account.book
        account.book = payload["book"]
        account._change_reason = reason  # type: ignore[attr-defined]
        account.save(update_fields=["book"])
        audit_record(
            action=AuditAction.TRADING_ACCOUNT_BOOK_CHANGED, subject=account, before={"book": before},
            after={"book": account.book, "pushed_to_platform": False}, reason=reason,
        )  # fmt: skip
    group = payload.get("group")
    if group not in (None, account.platform_group):
        before_group = account.platform_group
        account.platform_group = str(group)
        account._change_reason = reason  # type: ignore[attr-defined]
        account.save(update_fields=["platform_group"])
        audit_record(
            action=AuditAction.TRADING_ACCOUNT_GROUP_CHANGED, subject=account, before={"group": before_group},
            after={"group": group}, reason=reason,
        )  # fmt: skip
        if payload.get("leverage") in (None, account.leverage):  # apply_leverage pushes both
            from accounts.tasks import trading_account_push_task

            transaction.on_commit(lambda: trading_account_push_task.delay(account_id=account.pk))
    if payload.get("leverage") not in (None, account.leverage):
        apply_leverage(account=account, leverage=payload["leverage"], reason=reason)
    return account
