"""Stagegate settings, split by topic. Each topic module reads the environment
through ``config.settings.env``; ``production`` checks run last and refuse unsafe
combinations when STAGEGATE_ENV=production."""

from config.settings.django import *  # noqa: F403
from config.settings.database import *  # noqa: F403
from config.settings.celery import *  # noqa: F403
from config.settings.api import *  # noqa: F403
from config.settings.stagegate import *  # noqa: F403
from config.settings.gateway import *  # noqa: F403
from config.settings.transparency import *  # noqa: F403
from config.settings.witness import *  # noqa: F403
from config.settings.email import *  # noqa: F403
from config.settings.production import check_production

check_production(globals())
