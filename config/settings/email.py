"""Email: how people receive the single-use links that set their passwords
(core/accounts.py). Development prints messages to the console; production
must name a real backend (config/settings/production.py refuses the console
and in-memory ones)."""

from __future__ import annotations

from config.settings.env import env

EMAIL_BACKEND: str = env.str("STAGEGATE_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST: str = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT: int = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER: str = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD: str = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS: bool = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT: int = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="stagegate@localhost")
# How long a set-password link works (seconds): three days.
PASSWORD_RESET_TIMEOUT: int = env.int("STAGEGATE_SET_PASSWORD_LINK_SECONDS", default=3 * 24 * 3600)
