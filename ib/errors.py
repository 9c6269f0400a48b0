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
NOT_ALLOWED_RUN = "Your role does not include running partner commissions."
RUN_PERIOD_BACKWARDS = "The period ends on or after the day it starts."
RUN_PERIOD_FUTURE = "The period cannot end after today ({date})."
RUN_PERIOD_TOO_LONG = "A run covers at most {days} days."
