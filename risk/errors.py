"""Error messages of the risk app (tests import them instead of copying the strings)."""

from __future__ import annotations

NOT_ALLOWED_VIEW = "You may not see monitoring rules and risk alerts."
NOT_ALLOWED_EXPOSURE = "You may not see trading risk and exposure."
NOT_ALLOWED_PROPOSE = "Only risk officers propose monitoring rules and their versions."
NOT_ALLOWED_DISPOSE = "Only risk officers decide risk alerts."
NOT_ALLOWED_LIMITS = "Only risk officers set exposure limits."
NOT_ALLOWED_FX_GAPS = "Only finance, risk, the administrators and the auditor see missing FX rates."
NOT_ALLOWED_FX_PROPOSE = "Only finance and risk officers propose FX rates."
FX_GAP_COVERED = "A rate covering this gap is already in."
FX_RATE_TOO_LATE = "as_of: the rate must be dated at or before {needed} UTC, when it was first needed."
FX_PAIR_NOT_THE_GAPS = "The request names another pair than its gap ({pair})."
NOT_ALLOWED_BOOK = "You may not move trading accounts between books or change their leverage."
RULE_CHANGE_PENDING = "A change of {rule} is waiting for approval (#{request}): decide it first."
ALERT_CLOSED = "This alert was already decided ({status})."
DISPOSITION_REASON_REQUIRED = "Say why (the reason is kept to measure the rule)."
UNKNOWN_DISPOSITION = "Not a disposition: {value!r}."
CODE_TAKEN = "The code {code} is taken by another rule."
CODE_FORMAT = "2 to 40 letters, digits, '-' or '_'."
VERSION_OVERLAP = "Overlaps version {number} of this rule ({start} to {end}): versions of one rule cannot overlap."
VALID_FROM_PAST = "From now or later (a version never changes alerts already raised)."
VALID_TO_ORDER = "After the start."
LIMIT_ZERO = "Above zero (a limit of zero would alert on every position: remove the limit instead)."
LIMIT_PLACES = "At most {places} decimals, under 1,000,000,000,000."
LIMIT_LOTS_OR_NOTIONAL = "Set a limit in lots, in notional, or both."
NOTIONAL_CURRENCY = "One of {choices}."
REASON_REQUIRED = "Say why."
BOOK_UNCHANGED = "The account is already in that book, with that leverage and in that group."
GROUP_INVALID = "A platform group name: letters, digits, spaces and \\ / - _ . (at most 80 characters)."
NO_VERSION = "The rule has no version in force: nothing to run."


class RiskError(Exception):
    """A refused risk action; ``problems`` names the fields at fault (form errors)."""

    def __init__(self, problems: dict[str, str] | str) -> None:
        self.problems = problems if isinstance(problems, dict) else {"__all__": problems}
        super().__init__("; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in self.problems.items()))


class RuleError(RiskError):
    """A rule or rule version that does not parse or does not fit the rule's versions."""


# suspicious activity reports
SAR_NOT_ALLOWED_VIEW = "Only compliance and the auditor see suspicious activity reports."
SAR_NOT_ALLOWED_DRAFT = "Only compliance officers draft, submit and record suspicious activity reports."
SAR_NO_CLIENT = "This alert names no client: a suspicious activity report needs a subject."
SAR_EXISTS = "{sar} was already started from this case."
SAR_NOT_DRAFT = "{sar} is {status}: only a draft can be changed or submitted."
SAR_NOT_APPROVED = "{sar} is {status}: only an approved report is exported or recorded as filed."
SAR_NARRATIVE_REQUIRED = "Write the analyst's narrative: why the activity is suspicious."
SAR_NO_TRANSACTIONS = "Keep at least one transaction, or say why the report has none."
SAR_CHANGED = "{sar} changed since it was submitted: its content no longer matches the approved hash."
SAR_REFERENCE_FORMAT = "The regulator's reference: 3 to 80 letters, digits, '-', '/', '.' or spaces."
