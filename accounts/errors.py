REASON_REQUIRED = "A reason is required to {verb} a client."
NOT_ALLOWED = "Your role may not {verb} a client."
NO_CLIENTS = "Your role sees no clients."
OUT_OF_SCOPE = "This client is outside the clients you were given access to."
UNFREEZE_PENDING = "Lifting this restriction is already waiting for approval."
UNKNOWN_TRANSITION = "Unknown transition {name!r}."
BAD_TRANSITION = "A client who is {status} cannot be {verb}."
CHANGED_MEANWHILE = "Someone changed this client at the same moment; reload and try again."
CLOSE_BLOCKED = "The client still has {what}; settle it first or force the closure with a reason."
UNFREEZE_VIA_APPROVAL = "Lifting a restriction needs a second person: request it for approval."
INVALID_PHONE = "Enter a valid phone number in international format, e.g. +44 7911 123456."
CURRENCY_NOT_ALLOWED = "The {account_type} account type does not hold {currency}; choose one of {choices}."
UNKNOWN_CURRENCY = "{currency!r} is not an ISO 4217 currency code."
CORPORATE_ONLY = "The {account_type} account type is for corporate clients only."
INDIVIDUAL_FIELDS = "Individuals need a first name, last name and date of birth."
CORPORATE_FIELDS = "Corporate clients need a legal name and a registration number."
LEVERAGE_ABOVE_MAX = "Leverage 1:{leverage} is above the {account_type} maximum of 1:{maximum}."
LEVERAGE_NEEDS_APPROVAL = "Leverage above the account type's default of 1:{default} needs approval; request it."
PLATFORM_UNAVAILABLE = "The trading platform did not answer: {detail}"
INACTIVE_ACCOUNT_TYPE = "The {account_type} account type is not offered any more."

POSSIBLE_DUPLICATE = "Possible duplicate of {other}: {matched}. Registered all the same; a work item asks a person to merge or dismiss it."
OTHER_OUT_OF_SCOPE = "a client outside your scope"


class ClientError(Exception):
    """A client action was refused; nothing was changed."""


# CRM sync
CRM_NOT_CONFIGURED = "No CRM is configured (CRM_BACKEND is empty)."
CRM_UNKNOWN_FIELDS = "CRM_PUSH_FIELDS names field(s) the back office cannot push: {fields}. Possible: {possible}."
CRM_PAYLOAD_INVALID = "The CRM notification is malformed: {why}"
CRM_UNKNOWN_CONTACT = "No client has reference {external_id!r} (CRM contact {crm_id})."
CRM_LINKED_ELSEWHERE = "Client {reference} is linked to CRM contact {linked}, not {crm_id}."
CRM_PUSH_GAVE_UP = "The CRM refused {attempts} attempts to push client {reference}: {error}"

# client-area sign-ins
SIGN_IN_OUTCOME = "One of {choices}."
SIGN_IN_FUTURE = "A sign-in cannot be in the future."
SIGN_IN_TOO_OLD = "A sign-in is reported within {days} days of it."
SIGN_IN_IP = "The IP address the client signed in from, e.g. 203.0.113.7 or 2001:db8::1."
SIGN_IN_USER_AGENT = "At most 512 characters."
SIGN_IN_REASON_REQUIRED = "Say why the sign-in failed, e.g. wrong_password."
SIGN_IN_REASON_ON_SUCCESS = "Only a failed sign-in has a failure reason."
SIGN_IN_COUNTRY = (
    "An ISO 3166-1 alpha-2 country code, e.g. DE or GB; leave it out when the edge could not place the address "
    "(e.g. XX or T1)."
)
