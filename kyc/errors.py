EMPTY_FILE = "The file is empty."
TOO_LARGE = "The file is {size} bytes; the limit is {limit} bytes."
BAD_TYPE = "Only PDF, JPEG and PNG files are accepted (this file's content is not one of them, whatever its name)."
# Content checks of an upload (kyc.services.files): each names what is wrong, nothing is stored.
TOO_MANY_PIXELS = "The image has more than {limit} pixels (width x height); scan it at a lower resolution."
UNREADABLE_IMAGE = "The image cannot be read (damaged, truncated or not really a {kind})."
UNREADABLE_PDF = "The PDF cannot be read (damaged, truncated or not really a PDF)."
ACTIVE_PDF = "PDFs with active content are not accepted (this one holds {what}); print it to a plain PDF."
ENCRYPTED_PDF = "Password-protected PDFs are not accepted: upload an unprotected copy."
POLYGLOT = "The file holds something other than the {kind} (extra bytes after its end, or HTML inside it)."
EXPIRY_BEFORE_ISSUE = "The expiry date must be after the issue date."
ALREADY_EXPIRED = "The document expired on {date}."
KIND_NOT_FOR_CLIENT = "{kind} is not a document this client provides."
REASON_CODE_REQUIRED = "Choose why the document is rejected."
RATIONALE_REQUIRED = "Write the rationale for your decision."
OTHER_NEEDS_TEXT = "Explain the rejection when the reason is 'other'."
NOT_PENDING = "This document is {status}; only a pending document can be reviewed."
NOT_ALLOWED = "Your role may not {verb}."
FILE_NOT_ALLOWED = "Only compliance and the auditor open identity documents; you see their checklist state."
OUT_OF_SCOPE = "This client is outside the clients you were given access to."
HIT_DECIDED = "This hit is already decided: {status}."
HIT_RATIONALE_REQUIRED = "Write the rationale for your decision."
EDD_NOT_NEEDED_NOW = "Enhanced due diligence approval is requested for a pending high-risk client."


class KycError(Exception):
    """A KYC action was refused; nothing was stored. ``field`` names the input at fault, if one is;
    ``status`` is the HTTP status an API answers with (409: the client's status does not allow it)."""

    def __init__(self, message: str, field: str | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


REASON_FOR_CONFIGURATION = "A reason is required; it is recorded in the audit trail."
NOT_CONFIGURABLE = "These settings cannot be changed: {fields}."
# Identity verification (kyc.services.identity)
IDV_NOT_CONFIGURED = "No identity verification provider is configured."
IDV_KIND_NOT_CHECKED = "{kind} is not a document the identity verification provider checks."
IDV_DOCUMENT_NOT_CURRENT = "This document is {status}; only a pending or accepted document is checked."
IDV_IN_FLIGHT = "A check of this document is already with the provider (requested {when}); wait for its result."
IDV_REASON_REQUIRED = "Say why the check is requested again; it is recorded in the audit trail."
IDV_PAYLOAD_INVALID = "The result is not one the provider sends: {why}"
