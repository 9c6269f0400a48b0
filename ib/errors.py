"""What the partner pages and services say when they refuse (tests import these)."""


class PartnerError(Exception):
    """A partner action was refused; nothing was changed."""


NOT_ALLOWED_VIEW = "Your role does not include seeing partners (introducing brokers)."
NOT_ALLOWED_MANAGE = "Your role does not include managing partners (introducing brokers)."
NOT_ALLOWED_ATTRIBUTE = "Your role does not include changing which partner introduced a client."
CODE_TAKEN = "The referral code {code} is already used by {partner}."
CODE_FORMAT = "A referral code is 3 to 32 letters, digits or dashes."
UNKNOWN_CODE = "No partner has the referral code {code}."
PARTNER_NOT_ACTIVE = "{partner} is {status}: clients cannot be attributed to it."
PARENT_NOT_ACTIVE = "{partner} is {status}: it cannot take new sub-partners."
CLIENT_IS_PARTNER_ELSEWHERE = "{client} is already the client record of partner {partner}."
SAME_PARTNER = "{client} is already attributed to {partner}."
EFFECTIVE_IN_PAST = "The change takes effect from today or a later date, not {date}: commissions already earned stay."
CHANGE_PENDING = "A change of partner for {client} is already waiting for approval."
CLIENT_CLOSED = "{client} is closed: its attribution no longer changes."

# --- money: commissions in the ledger, payouts, adjustments, clawbacks
NOT_ALLOWED_PAYOUT = (
    "Your role does not include paying out partner commissions (finance asks, a second finance approves)."
)
NOT_ALLOWED_ADJUST = (
    "Your role does not include asking for commission adjustments (support or finance asks, finance approves)."
)
PARTNER_HAS_NO_CLIENT = (
    "{partner} has no client record of its own: link the partner's own client record (its wallet receives the "
    "payout) before paying out."
)
NOTHING_TO_PAY = "{partner} has nothing available to pay out in {currency} (available: {amount})."
PAYOUT_PENDING = "A payout of {partner}'s commissions is already waiting for approval."
PAYOUT_CHANGED = (
    "What {partner} has available changed since the payout was asked for ({asked} asked, {now} now): ask again."
)
ADJUSTMENT_ZERO = "amount: an adjustment is a positive or negative amount, not zero."
ADJUSTMENT_NOT_POSITIVE = "amount: an adjustment settling a dispute is in the partner's favour: a positive amount."
ADJUSTMENT_REASON = "reason: say why the commission is adjusted."
ADJUSTMENT_NEEDS_CLIENT = "An adjustment names the line, the deal or the client it is about."
BAD_AMOUNT = "amount: {value!r} is not an amount in {currency}."
# --- disputes
NOT_ALLOWED_DISPUTE = "Your role does not include handling partner commission disputes."
DISPUTE_NEEDS_CLAIM = "claim: say what is wrong with the commission."
DISPUTE_NEEDS_LINE_OR_DEAL = "A dispute names the statement line or the deal it is about."
DISPUTE_CLAIMED_NOT_POSITIVE = "claimed_amount: the amount claimed is positive."
DISPUTE_NOT_YOUR_LINE = "This statement line is not one of {partner}'s."
DISPUTE_NO_PARTNER = "No partner introduced the client of this deal at the deal's time: name the partner disputing it."
DISPUTE_NOT_OPEN = "Dispute {reference} is {status}: {verb} only an open dispute."
DISPUTE_ADJUSTMENT_WAITING = (
    "Dispute {reference} has an adjustment waiting for approval: decide (or cancel) that request first."
)
DISPUTE_UNKNOWN_RESOLUTION = (
    "resolution: choose one of {choices} (an adjustment resolves a dispute only when approved)."
)
DISPUTE_NEEDS_NOTE = "note: say how the dispute was resolved."
# --- the trade feed (deal batches from the platform or a deal report file) ----------------------


class DealFeedError(Exception):
    """A deal batch was refused as a whole (an unreadable file); nothing was stored."""

    def __init__(self, message: str, *, field: str = "file") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


NOT_ALLOWED_IMPORT_DEALS = "Your role does not include importing deal report files."
FEED_UNKNOWN_SOURCE = "source: {source!r} is not a trade feed (platform or csv)."
FEED_NOT_TEXT = "file: not UTF-8 text; save the deal report as CSV (UTF-8)."
FEED_TOO_LARGE = "file: the file is {size} bytes; the limit is {limit} bytes."
FEED_NO_HEADER = "file: empty; the first line names the columns: {expected}."
FEED_MISSING_COLUMNS = "file: the header lacks the column(s) {missing}; expected: {expected}."
FEED_NO_ROWS = "file: the header is there but no deal follows it."
FEED_BAD_CSV = "file: line {line}: not valid CSV ({why})."
FEED_NOT_JSON = "the platform page is not JSON with a list of deals: {why}"
# one row of a batch (stored in DealBatch.rejections; the row is not stored)
ROW_MISSING = "{field}: missing."
ROW_TOO_LONG = "{field}: longer than {limit} characters."
ROW_NOT_A_NUMBER = "{field}: {value!r} is not a number."
ROW_TOO_MANY_DECIMALS = "{field}: {value} has more than 2 decimal places."
ROW_TOO_LARGE = "{field}: {value} is too large."
ROW_LOTS_NOT_POSITIVE = "lots: {value} is not a positive lot size."
ROW_NEGATIVE = "{field}: {value} is negative; the broker's spread and commission are never below zero."
ROW_BAD_SIDE = "side: {value!r} is neither buy nor sell."
ROW_NOT_A_TIME = "{field}: {value!r} is not a date and time (ISO 8601, e.g. 2026-11-02T14:05:00Z)."
ROW_CLOSE_BEFORE_OPEN = "close_time {closed} is before open_time {opened}."
ROW_UNKNOWN_LOGIN = "login {login}: no trading account has this login."
ROW_WRONG_CURRENCY = "currency: {currency} is not the currency of account {login} ({expected})."
ROW_CONFLICT = "deal_id {deal_id} was already received with other values (batch #{batch}); this row is refused."
ROW_CONFLICT_IN_BATCH = "deal_id {deal_id} is in this batch already (row {row}) with other values."

# --- commission plans and partner changes (plans, following a plan, moving in the tree) ---------


class PlanError(PartnerError):
    """A plan change, a plan assignment or a move in the tree was refused; ``problems`` maps each
    field (``rules.2.tier_shares`` for a rule's field) to what is wrong with it."""

    def __init__(self, problems: dict[str, str] | str) -> None:
        # a bare message (a can-function's refusal) concerns no one field
        self.problems = {"__all__": problems} if isinstance(problems, str) else dict(problems)
        super().__init__("; ".join(m if f == "__all__" else f"{f}: {m}" for f, m in self.problems.items()))


NOT_ALLOWED_PLANS = "Your role does not include proposing commission plans or changing which plan a partner follows."
NOT_ALLOWED_MOVE = "Your role does not include moving partners in the hierarchy."
PLAN_CHANGE_PENDING = "A change of {plan} is already waiting for approval (#{request})."
PLAN_CODE_TAKEN = "The plan code {code} is already used by {plan}."
PLAN_CODE_FORMAT = "A plan code is 2 to 32 letters, digits, dashes or underscores."
PLAN_CURRENCY = "{currency} is not a currency the ledger knows."
PLAN_NAME_REQUIRED = "A plan needs a name."
VERSION_IN_PAST = "A version starts today or later, not {date}: what was already earned does not change."
VERSION_NOT_AFTER = "Version {number} starts on {date}: a new version starts after the latest one."
VERSION_OVERLAP = "Two versions of one plan cannot be in force on the same day."
RULES_REQUIRED = "A version has at least one rule."
SHARES_SUM = "The tier shares add up to {total}, not exactly 100."
SHARES_REQUIRED = "Give the share of each level, level 0 (the introducing partner) first."
SHARE_NEGATIVE = "A tier share is 0 or more, not {value}."
RATE_NEGATIVE = "The rate is 0 or more."
REBATE_RANGE = "The client rebate is a percentage from 0 to 100."
CAP_NEGATIVE = "A cap is more than 0 (leave it empty for no cap)."
DEAL_RULE_GROUP = "A deal rule (per lot, % of spread, % of commission) names its symbol group."
ONE_RULE_PER_GROUP = "The version already has a deal rule for {group}: one deal rule per symbol group."
ONE_RULE_OF_KIND = "The version already has a {kind} rule: one of that kind per version."
CPA_FIELD_REQUIRED = "A CPA rule needs the first deposit, lots and days that qualify a client."
NOT_A_NUMBER = "{value} is not a number."
UNKNOWN_RULE_KIND = "{value} is not a kind of rule."
UNKNOWN_GROUP = "No symbol group has the code {value}."
ASSIGN_IN_PAST = "A partner follows a plan from today or a later date, not {date}."
PLAN_HAS_NO_VERSION = "{plan} has no version in force from {date}: it pays nothing yet."
ALREADY_FOLLOWS = "{partner} already follows {plan} from {date}."
ASSIGN_NOT_AFTER = "{partner} follows {plan} from {date}: a new plan starts after it."
PARTNER_PLAN_PENDING = "A change of the plan {partner} follows is already waiting for approval."
MOVE_PENDING = "A move of {partner} is already waiting for approval."
MOVE_TO_ITSELF = "A partner cannot be moved under itself."
MOVE_UNDER_DESCENDANT = "{parent} is below {partner} in the tree: moving it there would make a cycle."
MOVE_SAME_PARENT = "{partner} is already under {parent}."
MOVE_ALREADY_TOP = "{partner} is already a master partner."
MOVE_PARTNER_CLOSED = "{partner} is closed: it no longer moves in the tree."
NOT_ALLOWED_RUN = "Your role does not include running partner commissions."
RUN_PERIOD_BACKWARDS = "The period ends on or after the day it starts."
RUN_PERIOD_FUTURE = "The period cannot end after today ({date})."
RUN_PERIOD_TOO_LONG = "A run covers at most {days} days."

# --- the partner API (ib/api.py) ------------------------------------------------------------------
PARTNER_API_ONLY = "The partner API answers a partner's API key (scope partner:read / partner:write), not this caller."
API_UNKNOWN_FIELD = "Unknown field: this operation takes {fields}."
API_NOT_AN_INTEGER = "Expected a whole number (a JSON integer)."
API_LINE_OR_DEAL = "Name the statement line (line) or the deal that earned nothing (deal), one of the two."
API_NO_SUCH_LINE = "No statement line #{line} of yours."
API_NO_SUCH_DEAL = "No deal {deal} of a client you introduced."
API_BAD_CLAIMED_AMOUNT = 'A positive amount as a decimal string with at most 2 decimals, e.g. "12.50".'
