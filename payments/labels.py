"""Names for the codes payments stores that have no choices of their own."""

from __future__ import annotations

# The pre-checks of a withdrawal request (``payments.services.withdrawals._pre_checks``); a failed
# soft check is also one of the withdrawal's flags.
WITHDRAWAL_CHECKS = {
    "method": "Payout method",
    "status": "Client status",
    "kyc": "KYC documents",
    "balance": "Available balance",
    "margin": "Free margin",
    "disputes": "Held deposits",
    "chargebacks": "Open chargebacks",
    "velocity": "Withdrawals in 24 hours",
    "first_withdrawal": "First withdrawal",
    "deposit_then_withdraw": "Withdrawal soon after a deposit",
    "name_mismatch": "Beneficiary name",
    "high_risk_client": "High-risk client",
}


def withdrawal_check_label(code: str) -> str:
    """'first_withdrawal' -> 'First withdrawal'."""
    return WITHDRAWAL_CHECKS.get(code) or code.replace("_", " ").capitalize()
