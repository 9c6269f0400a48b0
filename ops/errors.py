UNKNOWN_ROLE = "Unknown role {role!r}; choose one of: {choices}."
ROLE_ALREADY_HELD = "{username} already has the {role} role."
ROLE_NOT_HELD = "{username} does not have the {role} role."
USERNAME_TAKEN = "A staff user named {username!r} already exists."
REASON_REQUIRED = "A reason is required for this change."
NOT_ALLOWED = "Your role does not allow this action."
STAFF_NOT_ALLOWED = "Only administrators and auditors see the staff list."


class OpsError(Exception):
    """A staff or workflow action was refused; nothing was changed."""


# work queues
NOT_YOUR_QUEUE = "Your role does not work the {queue} queue."
ALREADY_CLAIMED = "This item is already owned by {owner}."
NOT_OWNER = "Only the item's owner can do this; claim it first."
ITEM_CLOSED = "This item is resolved; nothing can change it."
ROUTE_NOTHING = "Say what changes: another queue, a risk level or a due time."
ROUTE_SAME_QUEUE = "The item is already in the {queue} queue."
ROUTE_TAKEN = "The {queue} queue already has an open item on the same subject (#{item})."
ROUTE_RISK_LEVEL = "risk_level: one of {levels}."
ROUTE_DUE_PAST = "due_at: the due time must be in the future."
ROUTE_NOT_ALLOWED = "Only a queue manager or someone who works the {queue} queue may route or re-prioritise its items."
BAD_TRANSITION = "An item that is {status} cannot be {verb}."
RESOLUTION_CODE_REQUIRED = "Choose a resolution code."
UNKNOWN_RESOLUTION_CODE = "Unknown resolution code {code!r}."
RESOLUTION_NOTE_REQUIRED = "Write a resolution note: what was checked and why this outcome."
ASSIGNEE_CANNOT_WORK_QUEUE = "{username} does not work the {queue} queue."
REASSIGN_NOT_ALLOWED = "Only the owner, the owner's lead or a queue manager can reassign an owned item."
UNKNOWN_QUEUE = "Unknown queue {code!r}."
CHANGED_MEANWHILE = "Someone else changed this item at the same moment; reload and try again."

# maker-checker
UNKNOWN_APPROVAL_ACTION = "Unknown approval action {action!r}."
MAKER_NOT_ALLOWED = "Your role may not request {action}."
ALREADY_PENDING = "A request to {action} for this subject is already waiting for approval."
CHECKER_IS_MAKER = "You made this request; a different person must decide it."
CHECKER_ALREADY_DECIDED = (
    "You already decided an earlier level of this request; a different person must decide this one."
)
CHECKER_WRONG_ROLE = "This level needs the {role} role."
NOT_PENDING = "This request is {status}; it can no longer be decided."
REQUEST_EXPIRED = "This request expired on {when}; the maker must submit it again."
PAYLOAD_CHANGED = "The request is not the one you reviewed (its payload hash differs); reload it."
DECISION_REASON_REQUIRED = "Give a reason for your decision."
ONLY_MAKER_CANCELS = "Only the maker can cancel a request."
TAMPERED_PAYLOAD = "The stored payload does not match the hash the maker submitted; nothing was executed."
STAFF_MAKER_REQUIRED = "{action} must be asked for by a staff member."
MAKER_LABEL_REQUIRED = "Name who asks for this (the client or the automation)."
NO_QUEUES = "Your role works no queue."
NO_APPROVALS = "Your role makes and decides no approval requests."

# segregation of duties
MAKER_IS_SUBJECT = "You cannot ask for this for yourself; another person must make the request."
ROLE_CONFLICT = (
    "{username} holds the {held} role, which may not be held together with {role} (segregation of duties: {reason})"
)
CHECKER_HOLDS_EXCLUDED_ROLE = "This level must be decided by someone who does not hold the {roles} role."
GRANT_LEVELS_CHANGED = "{username}'s roles changed since the request: it now needs the {role} level; submit it again."
ACCESS_REVIEW_NOT_ALLOWED = "Only compliance, administrators and auditors see the access review."
ACCESS_REVIEW_SIGN_OFF_NOT_ALLOWED = "Only a compliance reviewer signs off the access review."
ACCESS_REVIEW_ALREADY_SIGNED = "The access review for {period} was signed off by {who} on {when}."
# the security log's reasons (ops.signals) and alerts (ops.services.security_alerts)
SIGN_IN_FAILED = "Wrong username or password."
SECOND_FACTOR_FAILED = "The second-factor code did not verify."
ALERT_REPEATED_REFUSALS = "{count} refused requests in {minutes} minutes from {caller}"
ALERT_SPRAYING_FROM_IP = "Password spraying: failed sign-ins to {accounts} accounts in {minutes} minutes from {caller}"
ALERT_SPRAYING_OVERALL = "Password spraying: failed sign-ins to {accounts} accounts in {minutes} minutes"
# staff sign-in: second factor and lockouts
SECOND_FACTOR_WRONG = (
    "That code is not valid. Enter the 6-digit code your authenticator app shows now, or an unused recovery code."
)
SECOND_FACTOR_ALREADY_ENROLLED = (
    "{username} already has a second factor; an administrator resets it if the device is lost."
)
SECOND_FACTOR_NOT_ENROLLED = "{username} has no second factor to reset."
SECOND_FACTOR_RESET_NOT_ALLOWED = "Only administrators ask for a reset of a staff member's second factor."
SECOND_FACTOR_RESET_OWN = "A second factor is reset by another administrator, not by its owner."
SECOND_FACTOR_REQUIRED_API = "Sign in with your second factor before using the staff API."
LOCKOUT_CLEAR_NOT_ALLOWED = "Only administrators unlock sign-ins."
LOCKOUT_NOT_FOUND = "Nothing is locked for {what}."

# API keys (ops.api_keys, ops.services.api_keys)
API_KEYS_NOT_ALLOWED = "Only administrators manage API keys."
API_KEY_UNKNOWN_SCOPE = "Unknown scope {scope!r}; choose from: {choices}."
API_KEY_SCOPE_NOT_FOR_OWNER = "The scope {scope!r} cannot be given to a key of {kind}; it may hold: {choices}."
API_KEY_NO_SCOPES = "Choose at least one scope."
API_KEY_OWNER_REQUIRED = "Choose the {kind} that owns the key."
API_KEY_OWNER_INACTIVE = "The key's owner ({owner}) is not active."
API_KEY_BAD_NETWORK = "{value!r} is not an IP address or network (e.g. 203.0.113.7 or 203.0.113.0/24)."
API_KEY_EXPIRY_PAST = "The expiry must be in the future."
API_KEY_NOT_PENDING = "The key is {status}; only a key waiting for approval can be activated."
API_KEY_NOT_ACTIVE = "The key is {status}; only an active key can be {verb}."
API_KEY_ALREADY_ROTATED = "The key was already rotated to {prefix}; rotate that one."
API_KEY_OVERLAP_RANGE = "The old key may keep working for at most {days} days after the rotation, and not in the past."
API_KEY_NOT_WIDER = "The new scopes add nothing; narrowing takes effect at once without approval."
# what an API caller is told (401/403 problem details)
API_KEY_INVALID = "The API key is not valid (unknown, mistyped or malformed)."
API_KEY_REVOKED_DETAIL = "The API key {prefix} was revoked on {when}."
API_KEY_EXPIRED_DETAIL = "The API key {prefix} expired on {when}."
API_KEY_INACTIVE_DETAIL = "The API key {prefix} is {status}: it cannot be used."
API_KEY_IP_NOT_ALLOWED = "The API key {prefix} may not be used from {ip}."
API_KEY_SCOPE_MISSING = "The API key {prefix} lacks the scope {scope!r} that this operation needs (it holds: {held})."
API_KEY_ENDPOINT_CLOSED = "This endpoint does not take API keys."
# outbound webhooks
WEBHOOK_URL_SCHEME = "Use an http:// or https:// address."
WEBHOOK_URL_CREDENTIALS = "Leave user names and passwords out of the address."
WEBHOOK_URL_UNRESOLVED = "The host {host} cannot be resolved."
WEBHOOK_URL_PRIVATE = (
    "{host} resolves to {address}, a private, loopback or link-local address: webhooks may only go to public "
    "addresses here (WEBHOOKS_ALLOW_PRIVATE_TARGETS is off)."
)
WEBHOOK_EVENT_TYPES_REQUIRED = "Choose at least one event type."
WEBHOOK_UNKNOWN_EVENT_TYPE = "Unknown event type {type!r}."
WEBHOOK_REASON_REQUIRED = "Say why the endpoint is disabled."
WEBHOOK_ALREADY_DISABLED = "This endpoint is already disabled."
WEBHOOK_ALREADY_ENABLED = "This endpoint is already enabled."
WEBHOOKS_NOT_ALLOWED = "Only administrators manage webhook endpoints."
WEBHOOK_GONE = "The receiver answered 410 Gone: it asked not to be sent anything more."
# SMS callbacks (ops.services.sms_inbound)
SMS_NOT_CONFIGURED = "No SMS provider is configured here."
SMS_PAYLOAD_INVALID = "The callback could not be read: {why}."
SMS_UNKNOWN_MESSAGE = "No SMS of ours matches message {message_id!r} (reference {reference!r})."
# follow-up sequences (ops.services.followups)
FOLLOWUPS_NOT_ALLOWED = "Only support and compliance manage client follow-ups."
FOLLOWUP_NOT_ACTIVE = "This follow-up has ended already ({status})."
FOLLOWUP_REASON_REQUIRED = "Say why the follow-up is stopped."
FOLLOWUP_UNKNOWN_SEQUENCE = "There is no follow-up sequence {code!r}."

# agents (issue 19): an automation or AI agent proposes, never decides
AGENT_NEVER_CHECKER = "Agents and automations propose; they never approve, reject or execute a request."
CHECKER_NOT_ACTIVE_STAFF = "Only an active staff member decides a request."
