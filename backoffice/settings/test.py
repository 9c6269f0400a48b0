from urllib.parse import urlsplit

from backoffice.env import env_str

from .base import *  # noqa: F403
from .simulators import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; tests hash throwaway passwords
CELERY_TASK_ALWAYS_EAGER = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Serve static files from the app directories without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# in memory; a test's worker process may be given a file backend (EMAIL_BACKEND) to show what it sent
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

# pytest-xdist runs the suite in several processes (PYTEST_XDIST_WORKER is gw0, gw1, ...). pytest-django
# gives each its own test database; here each also gets its own Redis database, so the Celery workers one
# process starts never take the other's tasks and the per-key rate counters never mix.
_XDIST_WORKER = env_str("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _XDIST_WORKER.startswith("gw"):  # noqa: F405
    _REDIS_DB = int(_XDIST_WORKER[2:]) + 1
    if REDIS_URL.startswith("redis+socket://"):  # noqa: F405
        CELERY_BROKER_URL = CELERY_RESULT_BACKEND = f"{REDIS_URL}?virtual_host={_REDIS_DB}"  # noqa: F405
        CACHES["api"]["LOCATION"] = REDIS_URL.replace("redis+socket://", "unix://", 1) + f"?db={_REDIS_DB}"  # noqa: F405
    else:
        CELERY_BROKER_URL = CELERY_RESULT_BACKEND = urlsplit(REDIS_URL)._replace(path=f"/{_REDIS_DB}").geturl()  # noqa: F405
        CACHES["api"]["LOCATION"] = CELERY_BROKER_URL  # noqa: F405

# `devstack test` migrates one template database and names it here; each test process's database is
# copied from it (Django's PostgreSQL TEST TEMPLATE setting) and finds its migrations applied.
_TEMPLATE = env_str("TEST_DATABASE_TEMPLATE", "")
if _TEMPLATE:
    DATABASES["default"]["TEST"] = {**DATABASES["default"].get("TEST", {}), "TEMPLATE": _TEMPLATE}  # noqa: F405
