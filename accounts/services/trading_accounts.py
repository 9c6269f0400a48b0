"""Trading accounts on the platform: provisioning, pushing the back office's state, leverage, and
the sync check. Platform calls never happen inside a database transaction; each result is then
recorded in one (audited)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import errors
from accounts.errors import ClientError
from accounts.models import ClientStatus, TradingAccount, TradingAccountStatus
from accounts.platform import PlatformError, get_platform
from accounts.selectors import client_is_visible_to
from audit.actions import AuditAction
from audit.services import audit_record
from ops.models import User
from ops.permissions import ALLOWED, Decision, deny

# The trading account status each client status calls for.
STATUS_FOR_CLIENT = {
    ClientStatus.APPROVED: TradingAccountStatus.ACTIVE,
    ClientStatus.RESTRICTED: TradingAccountStatus.CLOSE_ONLY,
    ClientStatus.CLOSED: TradingAccountStatus.DISABLED,
}


def expected_state(account: TradingAccount) -> dict[str, Any]:
    """What the platform must hold for this account, according to the back office."""
    status = STATUS_FOR_CLIENT.get(ClientStatus(account.client.status), TradingAccountStatus.DISABLED)
    return {
        "group": account.platform_group,
        "leverage": account.leverage,
        "trading_enabled": status in (TradingAccountStatus.ACTIVE, TradingAccountStatus.CLOSE_ONLY),
        "close_only": status == TradingAccountStatus.CLOSE_ONLY,
    }


def _lock(account_id: int) -> TradingAccount:
    return (
        TradingAccount.objects.select_for_update(of=("self",))
        .select_related("client", "account_type")
        .get(pk=account_id)
    )


def trading_account_provision(*, account_id: int) -> TradingAccount:
    """Create the platform account, idempotently: the provision key makes a retry after a lost
    answer return the account the platform already made."""
    account = TradingAccount.objects.select_related("client").get(pk=account_id)
    if account.login:
        return account
    platform = get_platform()
    created = platform.create_account(
        idempotency_key=str(account.provision_key),
        name=account.client.display_name,
        group=account.platform_group,
        leverage=account.leverage,
        currency=account.currency,
    )
    with transaction.atomic():
        account = _lock(account_id)
        if account.login:  # another attempt recorded it first
            return account
        account.login = created.login
        account.status = TradingAccountStatus.ACTIVE
        account.provisioned_at = timezone.now()
        account.provision_error = ""
        account._change_reason = "provisioned on the platform"  # type: ignore[attr-defined]
        account.save()
        audit_record(
            action=AuditAction.TRADING_ACCOUNT_PROVISIONED,
            subject=account,
            after={"login": created.login, "group": created.group, "leverage": created.leverage},
        )
        needs_push = expected_state(account) != _platform_view(created)
    if needs_push:  # e.g. the client was restricted while the account was being created
        trading_account_push(account_id=account_id)
    return account


def _platform_view(state: Any) -> dict[str, Any]:
    return {
        "group": state.group,
        "leverage": state.leverage,
        "trading_enabled": state.trading_enabled,
        "close_only": state.close_only,
    }


@transaction.atomic
def trading_account_provision_failed(*, account_id: int, error: str) -> None:
    """Out of retries: the account is marked failed and a person takes it from the queue."""
    from ops.services.work_items import work_item_open

    account = _lock(account_id)
    account.status = TradingAccountStatus.FAILED
    account.provision_error = error[:2000]
    account._change_reason = "provisioning failed"  # type: ignore[attr-defined]
    account.save()
    audit_record(action=AuditAction.TRADING_ACCOUNT_PROVISION_FAILED, subject=account, after={"error": error[:500]})
    work_item_open(
        queue="platform_sync_mismatch",
        subject=account,
        title=f"Provisioning failed for {account.client.display_name} ({account.client.reference})",
        risk_level="medium",
        details={"error": error[:500], "client": account.client.reference},
    )


def trading_account_push(*, account_id: int) -> TradingAccount:
    """Make the platform hold what the back office says (group, leverage, trading flags)."""
    account = TradingAccount.objects.select_related("client").get(pk=account_id)
    if not account.login:
        return account
    want = expected_state(account)
    platform = get_platform()
    have = _platform_view(platform.get_account(account.login))
    if have["group"] != want["group"]:
        platform.set_group(account.login, want["group"])
    if have["leverage"] != want["leverage"]:
        platform.set_leverage(account.login, want["leverage"])
    if (have["trading_enabled"], have["close_only"]) != (want["trading_enabled"], want["close_only"]):
        platform.set_trading(account.login, enabled=want["trading_enabled"], close_only=want["close_only"])
    with transaction.atomic():
        account = _lock(account_id)
        status = STATUS_FOR_CLIENT.get(ClientStatus(account.client.status), TradingAccountStatus.DISABLED)
        changed = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
        if account.status != status or changed:
            before_status = account.status
            account.status = status
            account._change_reason = "pushed to the platform"  # type: ignore[attr-defined]
            account.save()
            audit_record(
                action=AuditAction.TRADING_ACCOUNT_PUSHED,
                subject=account,
                before={"status": before_status, **{k: v[0] for k, v in changed.items()}},
                after={"status": status, **{k: v[1] for k, v in changed.items()}},
            )
    return account


def trading_account_can_change_leverage(actor: User, account: TradingAccount) -> Decision:
    """Change a trading account's leverage (above the type's default the change is requested for
    approval; the maker needs this same permission)."""
    if not actor.has_perm("ops.change_leverage"):
        return deny(errors.NOT_ALLOWED.format(verb="change the leverage of"))
    if not client_is_visible_to(actor, account.client):
        return deny(errors.OUT_OF_SCOPE)
    return ALLOWED


@transaction.atomic(durable=True)
def trading_account_set_leverage(*, account_id: int, leverage: int, actor: User, reason: str) -> TradingAccount:
    """Up to the type's default: directly. Above it: only through an approved request."""
    account = _lock(account_id)
    trading_account_can_change_leverage(actor, account).require(ClientError)
    if not reason.strip():
        raise ClientError(errors.REASON_REQUIRED.format(verb="change the leverage of"))
    check_leverage(account, leverage)
    if leverage > account.account_type.default_leverage:
        raise ClientError(errors.LEVERAGE_NEEDS_APPROVAL.format(default=account.account_type.default_leverage))
    return apply_leverage(account=account, leverage=leverage, reason=reason)


def check_leverage(account: TradingAccount, leverage: int) -> None:
    if leverage < 1 or leverage > account.account_type.max_leverage:
        raise ClientError(
            errors.LEVERAGE_ABOVE_MAX.format(
                leverage=leverage, account_type=account.account_type.name, maximum=account.account_type.max_leverage
            )
        )


@transaction.atomic
def apply_leverage(*, account: TradingAccount, leverage: int, reason: str) -> TradingAccount:
    before = account.leverage
    account.leverage = leverage
    account._change_reason = reason  # type: ignore[attr-defined]
    account.save()
    audit_record(
        action=AuditAction.TRADING_ACCOUNT_LEVERAGE_CHANGED,
        subject=account,
        before={"leverage": before},
        after={"leverage": leverage},
        reason=reason,
    )
    from accounts.tasks import trading_account_push_task

    transaction.on_commit(lambda: trading_account_push_task.delay(account_id=account.pk))
    return account


def platform_sync() -> dict[str, int]:
    """Compare every provisioned account with the platform; each account that differs (group,
    leverage, trading flags) gets a "platform sync mismatch" work item naming both sides."""
    from ops.services.work_items import work_item_open

    platform = get_platform()
    seen = {a.login: a for a in platform.list_accounts()}
    checked = mismatched = 0
    accounts = TradingAccount.objects.filter(login__isnull=False).select_related("client")
    for account in accounts.iterator(chunk_size=500):
        checked += 1
        assert account.login is not None
        want = expected_state(account)
        state = seen.get(account.login)
        have = _platform_view(state) if state else None
        if have == want:
            continue
        differences = (
            {k: {"back_office": want[k], "platform": have[k]} for k in want if have[k] != want[k]}
            if have
            else {"account": {"back_office": account.login, "platform": "missing"}}
        )
        mismatched += 1
        with transaction.atomic():
            work_item_open(
                queue="platform_sync_mismatch",
                subject=account,
                title=f"Platform differs for {account.login} ({account.client.reference}): {', '.join(differences)}",
                risk_level="high" if "trading_enabled" in differences or "close_only" in differences else "medium",
                details={"differences": differences, "client": account.client.reference},
            )
    return {"checked": checked, "mismatched": mismatched, "platform_accounts": len(seen)}


__all__ = ["PlatformError"]
