"""Commission plans: proposing a plan or a new version of one, and carrying out the approved change.

A plan's terms live in its versions. Nothing about a version is written before a finance officer
approves it (``ib.plan_change``, ``ib/plan_actions.py``): the maker's proposal is the approval
request's payload, checked by :func:`plan_version_check` when it is asked for and again when it is
approved. A new plan is created at once as an empty shell (code, name, currency, hold days) so
the request has a subject; with no version it pays nothing and no partner can follow it.

A version starts today or later and ends the one in force then, so a commission already earned
(under the version of its deal's day) never changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.actions import AuditAction
from audit.services import audit_record
from ib import errors
from ib.errors import PlanError
from ib.locks import plan_lock
from ib.models import DEAL_RULE_KINDS, CommissionPlan, PlanRule, PlanVersion, RuleKind, SymbolGroup
from ops.models import ApprovalRequest, User
from ops.permissions import ALLOWED, Decision, deny

PLAN_CHANGE = "ib.plan_change"
PLAN_CODE = re.compile(r"^[A-Za-z0-9_-]{2,32}$")
PERCENT_KINDS = (RuleKind.SPREAD_PCT, RuleKind.COMMISSION_PCT, RuleKind.REVSHARE)
HUNDRED = Decimal("100")

# a rule's fields in the payload, each with its decimal places (None: a whole number)
_DECIMALS = {
    "rate": (6, 18),
    "client_rebate_pct": (4, 7),
    "cap_per_trade": (2, 18),
    "cap_per_day": (2, 18),
    "cap_per_client": (2, 18),
    "cpa_min_deposit": (2, 18),
    "cpa_min_lots": (2, 14),
}
CAPS = ("cap_per_trade", "cap_per_day", "cap_per_client")
CPA_FIELDS = ("cpa_min_deposit", "cpa_min_lots", "cpa_days")
RULE_FIELDS = ("kind", "symbol_group", "rate", "tier_shares", "client_rebate_pct", *CAPS, "min_hold_seconds",
               *CPA_FIELDS)  # fmt: skip


def plan_can_propose(actor: User) -> Decision:
    """Propose a new commission plan or a new version of one (finance approves)."""
    from ops.services.approvals import approval_can_submit

    if not actor.is_authenticated or not actor.has_perm("ops.manage_commission_plans"):
        return deny(errors.NOT_ALLOWED_PLANS)
    return approval_can_submit(actor, PLAN_CHANGE)


def plan_can_propose_version(actor: User, plan: CommissionPlan) -> Decision:
    from ops.selectors import approval_pending

    may = plan_can_propose(actor)
    if not may:
        return may
    if (pending := approval_pending(PLAN_CHANGE, plan)) is not None:
        return deny(errors.PLAN_CHANGE_PENDING.format(plan=plan.name, request=pending.pk))
    return ALLOWED


# --- checking a proposal --------------------------------------------------------------------------


def _number(value: Any, field: str, problems: dict[str, str], *, places: int, digits: int) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        value = str(value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problems[field] = errors.NOT_A_NUMBER.format(value=value)
        return None
    if not number.is_finite():
        problems[field] = errors.NOT_A_NUMBER.format(value=value)
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        problems[field] = f"At most {places} decimals."
        return None
    if number.adjusted() >= digits - places:
        problems[field] = "Too large."
        return None
    return number


def _whole(value: Any, field: str, problems: dict[str, str], *, maximum: int) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        problems[field] = "A whole number."
        return None
    if not 0 <= number <= maximum:
        problems[field] = f"A whole number from 0 to {maximum}."
        return None
    return number


def tier_shares_parse(text: str) -> list[str]:
    """``"50/30/20"``, ``"50, 30, 20"`` or ``"50 30 20"`` as the list of shares (strings)."""
    return [part for part in re.split(r"[\s,;/]+", (text or "").strip()) if part]


def _rule_clean(raw: dict[str, Any], n: int, problems: dict[str, str]) -> dict[str, Any]:
    """One rule of the payload as ``PlanRule`` fields (the group as its object); its problems are
    added to ``problems`` under ``rules.<n>.<field>``."""
    mine: dict[str, str] = {}
    kind = str(raw.get("kind") or "")
    if kind not in RuleKind.values:
        mine["kind"] = errors.UNKNOWN_RULE_KIND.format(value=kind or "(none)")
    group: SymbolGroup | None = None
    group_code = str(raw.get("symbol_group") or "").strip()
    if group_code:
        group = SymbolGroup.objects.filter(code=group_code).first()
        if group is None:
            mine["symbol_group"] = errors.UNKNOWN_GROUP.format(value=group_code)
    elif kind in DEAL_RULE_KINDS:
        mine["symbol_group"] = errors.DEAL_RULE_GROUP
    if group_code and kind in (RuleKind.CPA, RuleKind.REVSHARE) and "symbol_group" not in mine:
        mine["symbol_group"] = "A CPA or revenue share rule covers all the partner's clients: no symbol group."
    fields: dict[str, Any] = {"kind": kind, "symbol_group": group}
    for name, (places, digits) in _DECIMALS.items():
        fields[name] = _number(raw.get(name), name, mine, places=places, digits=digits)
    rate = fields["rate"]
    if rate is None and "rate" not in mine:
        mine["rate"] = "A rule has a rate."
    elif rate is not None and rate < 0:
        mine["rate"] = errors.RATE_NEGATIVE
    elif rate is not None and kind in PERCENT_KINDS and rate > HUNDRED:
        mine["rate"] = "This rate is a percentage: 100 at most."
    rebate = fields["client_rebate_pct"]
    if rebate is None:
        fields["client_rebate_pct"] = Decimal("0")
    elif not 0 <= rebate <= HUNDRED:
        mine["client_rebate_pct"] = errors.REBATE_RANGE
    for cap in CAPS:
        if fields[cap] is not None and fields[cap] <= 0:
            mine[cap] = errors.CAP_NEGATIVE
    fields["min_hold_seconds"] = _whole(raw.get("min_hold_seconds"), "min_hold_seconds", mine, maximum=2_000_000_000)
    if fields["min_hold_seconds"] is None:
        fields["min_hold_seconds"] = 0
    fields["cpa_days"] = _whole(raw.get("cpa_days"), "cpa_days", mine, maximum=32767)
    if kind == RuleKind.CPA:
        for name in CPA_FIELDS:
            if fields[name] is None and name not in mine:
                mine[name] = errors.CPA_FIELD_REQUIRED
            elif name != "cpa_days" and fields[name] is not None and fields[name] < 0:
                mine[name] = "0 or more."
    else:
        for name in CPA_FIELDS:
            if fields[name] is not None and name not in mine:
                mine[name] = "Only a CPA rule has a qualifying deposit, lots and days."
    raw_shares = raw.get("tier_shares")
    texts = tier_shares_parse(raw_shares) if isinstance(raw_shares, str) else [str(s) for s in raw_shares or []]
    shares: list[Decimal] = []
    for text in texts:
        share = _number(text, "tier_shares", mine, places=4, digits=7)
        if share is None:
            break
        if share < 0:
            mine["tier_shares"] = errors.SHARE_NEGATIVE.format(value=text)
            break
        shares.append(share)
    if "tier_shares" not in mine:
        if not shares:
            mine["tier_shares"] = errors.SHARES_REQUIRED
        elif (total := sum(shares, Decimal("0"))) != HUNDRED:
            mine["tier_shares"] = errors.SHARES_SUM.format(total=_plain(total))
    fields["tier_shares"] = shares
    problems.update({f"rules.{n}.{name}": message for name, message in mine.items()})
    return fields


def _plain(number: Decimal) -> str:
    """A decimal without trailing zeros and never in exponent form (``Decimal("8.000000")`` -> ``8``)."""
    text = format(number.normalize(), "f")
    return text


def plan_rules_clean(rules: Any) -> list[dict[str, Any]]:
    """The rules of a proposed version as ``PlanRule`` fields, or :class:`PlanError` naming each
    bad field: shares summing to exactly 100, rates and caps not negative, one deal rule per symbol
    group, one CPA and one revenue share rule at most, CPA thresholds present for CPA."""
    problems: dict[str, str] = {}
    if not isinstance(rules, list) or not rules:
        raise PlanError({"rules": errors.RULES_REQUIRED})
    cleaned: list[dict[str, Any]] = []
    groups_seen: set[int] = set()
    kinds_seen: set[str] = set()
    for n, raw in enumerate(rules):
        if not isinstance(raw, dict):
            problems[f"rules.{n}.kind"] = errors.UNKNOWN_RULE_KIND.format(value=raw)
            continue
        fields = _rule_clean(raw, n, problems)
        group = fields["symbol_group"]
        if fields["kind"] in DEAL_RULE_KINDS and group is not None:
            if group.pk in groups_seen:
                problems[f"rules.{n}.symbol_group"] = errors.ONE_RULE_PER_GROUP.format(group=group.name)
            groups_seen.add(group.pk)
        elif fields["kind"] in (RuleKind.CPA, RuleKind.REVSHARE):
            if fields["kind"] in kinds_seen:
                problems[f"rules.{n}.kind"] = errors.ONE_RULE_OF_KIND.format(kind=RuleKind(fields["kind"]).label)
            kinds_seen.add(fields["kind"])
        cleaned.append(fields)
    if problems:
        raise PlanError(problems)
    return cleaned


def rule_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """A cleaned rule as it is written in the payload: text only (decimals exact, the group by code)."""

    def text(value: Any) -> str:
        return "" if value is None else _plain(value)

    group = fields.get("symbol_group")
    return {
        "kind": fields["kind"],
        "symbol_group": group.code if group is not None else "",
        "rate": text(fields["rate"]),
        "tier_shares": [_plain(s) for s in fields["tier_shares"]],
        "client_rebate_pct": text(fields["client_rebate_pct"]),
        **{cap: text(fields[cap]) for cap in CAPS},
        "min_hold_seconds": int(fields["min_hold_seconds"] or 0),
        "cpa_min_deposit": text(fields["cpa_min_deposit"]),
        "cpa_min_lots": text(fields["cpa_min_lots"]),
        "cpa_days": "" if fields["cpa_days"] is None else int(fields["cpa_days"]),
    }


def version_dates_check(plan: CommissionPlan | None, valid_from: date) -> PlanVersion | None:
    """``valid_from`` is today or later, and after the start of every version of ``plan``. Returns
    the version the new one ends (the one in force on ``valid_from``), if any."""
    if valid_from < timezone.localdate():
        raise PlanError({"valid_from": errors.VERSION_IN_PAST.format(date=valid_from.isoformat())})
    if plan is None or plan.pk is None:
        return None
    latest = plan.versions.order_by("-valid_from").first()
    if latest is None:
        return None
    if latest.valid_from >= valid_from:
        raise PlanError(
            {"valid_from": errors.VERSION_NOT_AFTER.format(number=latest.number, date=latest.valid_from.isoformat())}
        )
    if latest.valid_to is not None and latest.valid_to <= valid_from:
        return None
    return latest


def plan_fields_check(*, code: str, name: str, currency: str, hold_days: Any, plan: CommissionPlan | None) -> None:
    """A new plan's own fields (``plan``: the shell already made for it, excluded from the code check)."""
    from payments.currencies import MINOR_UNITS

    problems: dict[str, str] = {}
    if not PLAN_CODE.match(code or ""):
        problems["code"] = errors.PLAN_CODE_FORMAT
    else:
        taken = CommissionPlan.objects.filter(code__iexact=code)
        if plan is not None and plan.pk is not None:
            taken = taken.exclude(pk=plan.pk)
        if (other := taken.first()) is not None:
            problems["code"] = errors.PLAN_CODE_TAKEN.format(code=code, plan=other.name)
    if not (name or "").strip():
        problems["name"] = errors.PLAN_NAME_REQUIRED
    if currency not in MINOR_UNITS:
        problems["currency"] = errors.PLAN_CURRENCY.format(currency=currency or "(none)")
    if not isinstance(hold_days, int) or not 0 <= hold_days <= 365:
        problems["hold_days"] = "A whole number of days from 0 to 365."
    if problems:
        raise PlanError(problems)


@dataclass(frozen=True)
class Proposal:
    """A proposed version, read from an approval payload."""

    valid_from: date
    note: str
    rules: list[dict[str, Any]]


def plan_version_check(plan: CommissionPlan | None, payload: dict[str, Any]) -> Proposal:
    """Everything a proposed version must satisfy, when it is asked for and again when it is
    approved (the plan's versions may have changed in between)."""
    problems: dict[str, str] = {}
    valid_from: date | None = None
    try:
        valid_from = date.fromisoformat(str(payload.get("valid_from")))
    except ValueError:
        problems["valid_from"] = "A date (YYYY-MM-DD)."
    rules: list[dict[str, Any]] = []
    try:
        rules = plan_rules_clean(payload.get("rules"))
    except PlanError as exc:
        problems.update(exc.problems)
    if valid_from is not None:
        try:
            version_dates_check(plan, valid_from)
        except PlanError as exc:
            problems.update(exc.problems)
    if problems or valid_from is None:
        raise PlanError(problems)
    return Proposal(valid_from=valid_from, note=str(payload.get("note") or "").strip(), rules=rules)


def plan_change_payload(
    *, plan: CommissionPlan, new_plan: bool, valid_from: date, note: str, rules: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "new_plan": new_plan,
        "plan": {"code": plan.code, "name": plan.name, "currency": plan.currency, "hold_days": plan.hold_days},
        "valid_from": valid_from.isoformat(),
        "note": note.strip(),
        "rules": [rule_payload(r) for r in plan_rules_clean(rules)],
    }


# --- asking --------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def plan_propose(
    *,
    actor: User,
    code: str,
    name: str,
    currency: str,
    hold_days: int,
    valid_from: date,
    note: str,
    rules: list[dict[str, Any]],
    reason: str,
) -> ApprovalRequest:
    """A new plan with its first version: the plan is made now (no version: it pays nothing), the
    version waits for a finance officer's approval."""
    from ops.services.approvals import approval_create

    plan_can_propose(actor).require(PlanError)
    code, name, currency = (code or "").strip().upper(), (name or "").strip(), (currency or "").strip().upper()
    problems: dict[str, str] = {}
    for check in (
        lambda: plan_fields_check(code=code, name=name, currency=currency, hold_days=hold_days, plan=None),
        lambda: plan_rules_clean(rules),
        lambda: version_dates_check(None, valid_from),
    ):
        try:
            check()
        except PlanError as exc:
            problems.update(exc.problems)
    if problems:
        raise PlanError(problems)
    try:
        with transaction.atomic():
            plan = CommissionPlan.objects.create(code=code, name=name, currency=currency, hold_days=hold_days)
    except IntegrityError:  # the same code taken by a concurrent request
        raise PlanError({"code": errors.PLAN_CODE_TAKEN.format(code=code, plan="another plan")}) from None
    audit_record(
        action=AuditAction.PLAN_CREATED,
        subject=plan,
        after={"code": code, "name": name, "currency": currency, "hold_days": hold_days, "versions": 0},
        reason=reason,
    )
    payload = plan_change_payload(plan=plan, new_plan=True, valid_from=valid_from, note=note, rules=rules)
    return approval_create(action=PLAN_CHANGE, subject=plan, payload=payload, maker=actor, reason=reason)


@transaction.atomic(durable=True)
def plan_version_propose(
    *, actor: User, plan: CommissionPlan, valid_from: date, note: str, rules: list[dict[str, Any]], reason: str
) -> ApprovalRequest:
    """A new version of ``plan`` from ``valid_from`` (today or later), waiting for approval."""
    from ops.services.approvals import approval_create

    plan_can_propose_version(actor, plan).require(PlanError)
    plan_version_check(plan, {"valid_from": valid_from.isoformat(), "rules": rules})
    payload = plan_change_payload(plan=plan, new_plan=False, valid_from=valid_from, note=note, rules=rules)
    return approval_create(action=PLAN_CHANGE, subject=plan, payload=payload, maker=actor, reason=reason)


# --- carrying out the approved change ------------------------------------------------------------


def _version_facts(version: PlanVersion) -> dict[str, Any]:
    return {
        "plan": version.plan.code,
        "number": version.number,
        "valid_from": version.valid_from.isoformat(),
        "valid_to": version.valid_to.isoformat() if version.valid_to else None,
    }


@transaction.atomic
def plan_version_add(*, plan_id: int, payload: dict[str, Any], request: ApprovalRequest) -> PlanVersion:
    """Carry out an approved plan change (inside the engine's transaction, the plan locked): the
    version in force on ``valid_from`` ends that day, the new one starts it with the next number."""
    plan = plan_lock(plan_id)
    proposal = plan_version_check(plan, payload)
    reason = f"approval #{request.pk}: {request.reason}"
    ended = version_dates_check(plan, proposal.valid_from)
    try:
        with transaction.atomic():
            if ended is not None:
                before = _version_facts(ended)
                ended.valid_to = proposal.valid_from
                ended._change_reason = reason  # type: ignore[attr-defined]
                ended.save(update_fields=["valid_to"])
                audit_record(
                    action=AuditAction.PLAN_VERSION_ENDED, subject=plan, before=before, after=_version_facts(ended),
                    reason=reason,
                )  # fmt: skip
            number = (plan.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = PlanVersion(
                plan=plan, number=number, valid_from=proposal.valid_from, note=proposal.note, approval=request
            )
            version._change_reason = reason  # type: ignore[attr-defined]
            version.save()
            PlanRule.objects.bulk_create(PlanRule(version=version, **fields) for fields in proposal.rules)
    except IntegrityError as exc:  # the exclusion constraint: the backstop of version_dates_check
        if "plan_versions_do_not_overlap" in str(exc):
            raise PlanError({"valid_from": errors.VERSION_OVERLAP}) from None
        raise
    audit_record(
        action=AuditAction.PLAN_VERSION_ADDED,
        subject=plan,
        after={**_version_facts(version), "rules": [rule_payload(r) for r in proposal.rules], "note": version.note},
        reason=reason,
    )
    return version
