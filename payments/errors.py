"""Every message a payment action can refuse with. Tests import these instead of copying text."""

from __future__ import annotations

# uploads (statements, settlement reports)
FILE_TOO_LARGE = "The file is {size} bytes; the limit is {limit} bytes."

# amounts and currencies
UNKNOWN_CURRENCY = "{field}: {currency!r} is not a currency the back office books."
AMOUNT_NOT_EXACT = "{field}: send the amount as a string or a decimal, not a floating-point number."
AMOUNT_NOT_A_NUMBER = "{field}: {value!r} is not a number."
AMOUNT_NOT_POSITIVE = "{field}: the amount must be greater than zero."
TOO_MANY_DECIMALS = "{field}: {currency} amounts have at most {places} decimal places."
AMOUNT_TOO_LARGE = "{field}: the amount is too large."

# ledger
UNBALANCED = "Journal entry does not balance in {currency}: postings sum to {total}."
TOO_FEW_POSTINGS = "A journal entry needs at least two postings."
CURRENCY_MISMATCH = "Account {account} holds {account_currency}, not {currency}."
IDEMPOTENCY_REPLAY_DIFFERS = (
    "idempotency_key: {key!r} was already used with a different request; use a new key for a new request."
)
INSUFFICIENT_FUNDS = "amount: {amount} is more than the available balance of {available}."
ALREADY_REVERSED = "Entry {entry} has already been reversed."
HOLD_NOT_ACTIVE = "Hold {hold} is {status}, not active."
NO_WALLET = "The client has no {currency} wallet."
NO_BALANCE_BUCKETS = "House account {account} has no balance buckets: run the migrations."

# deposits
DEPOSIT_NOT_ALLOWED = "The client may not deposit: {why}"
DEPOSIT_BAD_STATE = "Deposit {reference} is {status}; it cannot be {verb}."
UNKNOWN_CHANNEL = "channel: {channel!r} is not a payment channel (choose one of {choices})."

# webhooks
SIGNATURE_MISSING = "Missing or malformed signature header."
SIGNATURE_STALE = "Signature timestamp is outside the tolerance window."
SIGNATURE_BAD = "Signature does not match the payload."
PAYLOAD_INVALID = "Webhook payload is not a JSON event with id, type and data: {why}"
PROVIDER_UNKNOWN = "No payment provider named {provider!r} is configured."

# statements
STATEMENT_DUPLICATE = "This statement file was already imported (import {pk}, {when})."
STATEMENT_DOES_NOT_ADD_UP = (
    "file: the statement's lines add up to {total} {currency}, but its opening balance {opening} and closing"
    " balance {closing} differ by {moved}: the file is incomplete or altered; nothing was imported."
)
STATEMENT_ACCOUNT_UNKNOWN = "No bank ledger account is set up for account {account} in {currency}."

# withdrawals
WITHDRAW_BELOW_MIN = "amount: the minimum {currency} withdrawal is {minimum}."
WITHDRAW_ABOVE_MAX = "amount: the maximum {currency} withdrawal is {maximum}."
WITHDRAW_NO_POLICY = "currency: withdrawals in {currency} are not enabled."
WITHDRAW_METHOD_MISMATCH = "method: funds must go back to where they came from: {detail}."
WITHDRAW_CHECKS_FAILED = "The withdrawal cannot be accepted: {failures}"
WITHDRAW_BAD_STATE = "Withdrawal {reference} is {status}; it cannot be {verb}."
WITHDRAW_REASON_CODE = "reason_code: choose one of {choices}."
WITHDRAW_PAYLOAD_DIFFERS = "Withdrawal {reference} no longer matches what was submitted for approval."
WITHDRAW_NO_REVIEW = "Withdrawal {reference} has no approval waiting."
PAYOUT_ALREADY_EXECUTED = "The payout for withdrawal {reference} was already executed (voucher {voucher})."
NOT_ALLOWED = "Your role may not {verb}."
PAYMENTS_VIEW_NOT_ALLOWED = "Your role may not see payments."
FX_RATE_ADD_NOT_ALLOWED = "Only administrators (system configuration) add FX rates."
WITHDRAW_NOT_YOURS_TO_DECIDE = (
    "You may not decide this review now: its next level needs another role, or you entered or already decided it."
)
NOT_IN_SCOPE = "This client is not one of the clients you work on."
BREAK_ALREADY_RESOLVED = "This reconciliation break was already resolved."
REASON_REQUIRED = "reason: a reason is required to {verb}."

# transfers and adjustments
TRANSFER_SAME_ACCOUNT = "to_account: choose a different account than the one the money comes from."
TRANSFER_OTHER_CLIENT = "to_account: transfers are only between the same client's own accounts."
TRANSFER_FREE_MARGIN = "amount: {amount} is more than the trading account's free margin of {free}."

# starting deposits, PSP routing
IDEMPOTENCY_KEY_REQUIRED = "idempotency_key: a card deposit is started with an idempotency key."
RETURN_URL_INVALID = "return_url: an http(s) URL of at most 500 characters, where the payer goes back to."
NO_ROUTE = "currency: no payment provider takes card deposits of {amount} from {country}."
PSP_REFUSED = "The payment provider refused to open the checkout ({why}); deposit {reference} failed, try again."
DEPOSIT_ALREADY_FINAL = "Deposit {reference} is {status}; start a new deposit."
NO_BANK_ACCOUNT = "currency: the broker takes no bank transfers in {currency}."
ROUTING_NOT_ALLOWED = "Your role may not ask for PSP routing changes."
ROUTING_PROVIDER_UNKNOWN = "provider: {provider!r} is not a configured card payment provider (choose one of {choices})."
ROUTING_COUNTRY_INVALID = "countries: {country!r} is not a two-letter country code."
ROUTING_BOUNDS_NEED_CURRENCY = "currency: a rule with an amount range names its currency."
ROUTING_MIN_ABOVE_MAX = "min_amount: the minimum is above the maximum."
ROUTING_OP_INVALID = "op: choose add, edit, disable or enable."
ROUTING_RULE_CHANGED_SINCE = "The routing rule changed since this was asked for; ask again."
PAYMENT_LINK_NOT_ALLOWED = "Your role may not make payment links."


class PaymentError(Exception):
    """A payment action was refused; nothing was changed. ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class IdempotencyConflict(PaymentError):
    def __init__(self, key: str) -> None:
        super().__init__(IDEMPOTENCY_REPLAY_DIFFERS.format(key=key), field="idempotency_key", status=422)


# FX rates
FX_RATE_MISSING = "No {base}/{quote} rate (nor {quote}/{base}) at or before {when}: add one (FX rates in the admin, or proposed from its missing-rate gap)."
FX_CURRENCY = "{field}: a three-letter ISO 4217 currency code, e.g. EUR."
FX_SAME_CURRENCY = "quote: a rate converts one currency into another, not {currency} into itself."
FX_RATE_NOT_A_NUMBER = "rate: {value!r} is not a number."
FX_RATE_NOT_POSITIVE = "rate: the price of one {base} in {quote} must be greater than zero."
FX_RATE_DIGITS = "rate: at most 10 digits before the decimal point and 8 after."
FX_RATE_FUTURE = "as_of: a rate is a fact of its time; {as_of} is in the future."
FX_RATE_EXISTS = "as_of: there is already a {base}/{quote} rate at {as_of} (a correction is a newer rate)."


class FxRateMissing(LookupError):
    """No rate to convert with at that moment (``FX_RATE_MISSING``)."""


# chargebacks
CHARGEBACK_UNKNOWN_PAYMENT = "dispute {dispute}: no credited card deposit for payment {payment!r} at {provider}."
CHARGEBACK_FIELD = "dispute: {field} is missing or not valid."
CHARGEBACK_CURRENCY = "dispute {dispute} is in {currency}; the deposit {reference} is in {deposit_currency}."
CHARGEBACK_TOO_MUCH = "dispute {dispute}: {amount} is more than the deposit {reference} ({deposit_amount})."
CHARGEBACK_UNKNOWN = "No chargeback for dispute {dispute} at {provider}."
CHARGEBACK_OUTCOME = "dispute {dispute}: status must be won or lost, not {status!r}."
CHARGEBACK_NOT_ALLOWED = "Your role may not {verb} chargebacks."
CHARGEBACK_BAD_STATE = "Chargeback {reference} is {status}; it cannot be {verb}."
CHARGEBACK_BLOCKS_WITHDRAWAL = "{count} chargeback(s) open"
WITHDRAW_CHARGEBACK_OPEN = "Withdrawals of {client} are stopped while chargeback {reference} is open."
