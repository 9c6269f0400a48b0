"""Production settings: refuse to start with anything that would be unsafe in production."""

from backoffice.env import EnvError, env_bool, env_int, env_str

from .base import *  # noqa: F403
from .base import (
    ALLOWED_HOSTS,
    CRM_BACKEND,
    CRM_WEBHOOK_SECRET,
    DEBUG,
    DEMO_MODE,
    IDENTITY_VERIFIER,
    IDENTITY_WEBHOOK_SECRET,
    INSECURE_DEV_SECRET_KEY,
    PAYMENT_PROVIDERS,
    PAYMENT_PROVIDERS_ROUTED,
    SECRET_KEY,
    SMS_PROVIDER,
    SMS_WEBHOOK_SECRET,
    TRADING_PLATFORM,
    WEBHOOKS_ALLOW_PRIVATE_TARGETS,
)

if DEBUG:
    raise EnvError("DJANGO_DEBUG: must be off in production")
if DEMO_MODE:
    raise EnvError("BACKOFFICE_DEMO: demo mode is not allowed in production")
if SECRET_KEY == INSECURE_DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise EnvError("DJANGO_SECRET_KEY: set a random secret of at least 50 characters for production")
# The outside systems: real adapters, named explicitly. The simulators (the sim app) are not
# installed here, and a path into them is refused rather than left to fail at the first call.
for variable, path in [("TRADING_PLATFORM", TRADING_PLATFORM), ("PAYMENT_PROVIDER_CARD", PAYMENT_PROVIDERS["card"])]:
    if not path:
        raise EnvError(f"{variable}: set the adapter's class path (production has no simulator to fall back on)")
    if path.split(".")[0] == "sim":
        raise EnvError(f"{variable}: {path} is a simulator, for the demo and the tests only, not production")
for path in PAYMENT_PROVIDERS_ROUTED:  # further card PSPs routing may choose: real ones too
    if path.split(".")[0] == "sim":
        raise EnvError(f"PAYMENT_PROVIDERS_ROUTED: {path} is a simulator, for the demo and the tests only")
if WEBHOOKS_ALLOW_PRIVATE_TARGETS:
    raise EnvError(
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS: webhooks to private or loopback addresses are for the demo and tests only"
    )
# The CRM is optional (empty: no CRM sync), but never the simulator, and its webhooks must be signed.
if CRM_BACKEND.split(".")[0] == "sim":
    raise EnvError(f"CRM_BACKEND: {CRM_BACKEND} is a simulator, for the demo and the tests only, not production")
if CRM_BACKEND and len(CRM_WEBHOOK_SECRET) < 24:
    raise EnvError("CRM_WEBHOOK_SECRET: set the CRM's webhook signing secret (at least 24 characters)")
# The identity verification provider is optional (empty: people review alone), never the simulator,
# and its results must be signed.
if IDENTITY_VERIFIER.split(".")[0] == "sim":
    raise EnvError(f"IDENTITY_VERIFIER: {IDENTITY_VERIFIER} is a simulator, for the demo and the tests only")
if IDENTITY_VERIFIER and len(IDENTITY_WEBHOOK_SECRET) < 24:
    raise EnvError("IDENTITY_WEBHOOK_SECRET: set the provider's result signing secret (at least 24 characters)")
# SMS is optional (empty: follow-ups go by e-mail), but never the simulator, and its callbacks are signed.
if SMS_PROVIDER.split(".")[0] == "sim":
    raise EnvError(f"SMS_PROVIDER: {SMS_PROVIDER} is a simulator, for the demo and the tests only, not production")
if SMS_PROVIDER and len(SMS_WEBHOOK_SECRET) < 24:
    raise EnvError("SMS_WEBHOOK_SECRET: set the SMS provider's callback signing secret (at least 24 characters)")
if not ALLOWED_HOSTS or ALLOWED_HOSTS == ["127.0.0.1", "localhost"] or "*" in ALLOWED_HOSTS:
    raise EnvError("DJANGO_ALLOWED_HOSTS: list the production host names (comma-separated, no '*')")

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
if env_bool("BEHIND_TLS_PROXY", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
