from backoffice.env import env_bool, env_str

from .base import *  # noqa: F403
from .base import LOGGING
from .simulators import *  # noqa: F403

# A developer reads the console: the same fields as production's JSON lines, one readable line each.
LOGGING["handlers"]["console"]["formatter"] = env_str("LOG_FORMAT", "console")  # type: ignore[index]

DEBUG = env_bool("DJANGO_DEBUG", True)

# Serve static files from the app directories without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
