"""One typed way to read configuration: django-environ over the process
environment, plus local state for the zero-configuration development setup."""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# STAGEGATE_ENV: development (default, safe local defaults), test, or production.
STAGEGATE_ENV: str = env.str("STAGEGATE_ENV", default="development")
if STAGEGATE_ENV not in {"development", "test", "production"}:
    raise RuntimeError(f"STAGEGATE_ENV must be development, test or production, not {STAGEGATE_ENV!r}")
PRODUCTION = STAGEGATE_ENV == "production"

# Where development keeps its SQLite file, generated secrets and the embedded Redis.
STATE_DIR = Path(env.str("STAGEGATE_STATE_DIR", default=str(BASE_DIR / ".stagegate")))


def local_secret(name: str, factory=lambda: secrets.token_urlsafe(50)) -> str:  # type: ignore[no-untyped-def]
    """A secret generated once per checkout and kept in STATE_DIR (never in the repo).

    Only for development and tests: production reads every secret from the
    environment and refuses to start without it.
    """
    if PRODUCTION:
        raise RuntimeError(f"{name} must come from the environment in production")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    path = STATE_DIR / name
    if not path.exists():
        path.write_text(factory())
        path.chmod(0o600)
    return path.read_text().strip()
