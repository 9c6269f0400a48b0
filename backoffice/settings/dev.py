from backoffice.env import env_bool

from .base import *  # noqa: F403
from .simulators import *  # noqa: F403

DEBUG = env_bool("DJANGO_DEBUG", True)

# Serve static files from the app directories without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
