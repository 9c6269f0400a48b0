"""Messages of the API plumbing (tests import these rather than copying the strings)."""

IDEMPOTENCY_BAD_KEY = "Idempotency-Key: send 1 to {maximum} printable ASCII characters without spaces."
IDEMPOTENCY_IN_PROGRESS = (
    "Idempotency-Key {key!r}: the first request with this key is still being processed; retry after a moment "
    "to get its answer."
)
IDEMPOTENCY_MISMATCH = (
    "Idempotency-Key {key!r} was already used for a different request ({differs} differ); use a new key for a "
    "new request."
)
