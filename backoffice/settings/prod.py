"""Production settings: refuse to start with anything that would be unsafe in production."""

from backoffice.env import EnvError, env_bool, env_int, env_str

from .base import *  # noqa: F403
from .base import (
    ALLOWED_HOSTS,
    DEBUG,
    DEMO_MODE,
    INSECURE_DEV_SECRET_KEY,
    INSECURE_DEV_SIMPAY_SECRET,
    SECRET_KEY,
    SIMPAY_WEBHOOK_SECRET,
)

if DEBUG:
    raise EnvError("DJANGO_DEBUG: must be off in production")
if DEMO_MODE:
    raise EnvError("BACKOFFICE_DEMO: demo mode is not allowed in production")
if SECRET_KEY == INSECURE_DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise EnvError("DJANGO_SECRET_KEY: set a random secret of at least 50 characters for production")
if SIMPAY_WEBHOOK_SECRET == INSECURE_DEV_SIMPAY_SECRET or len(SIMPAY_WEBHOOK_SECRET) < 24:
    raise EnvError("SIMPAY_WEBHOOK_SECRET: set the PSP's webhook signing secret (at least 24 characters)")
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
