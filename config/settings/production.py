"""Production refuses to start on unsafe defaults."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import PRODUCTION


def unsafe_settings(s: dict[str, Any]) -> list[str]:
    problems = []
    if s["DEBUG"]:
        problems.append("DEBUG must be off")
    if len(s["SECRET_KEY"]) < 50:
        problems.append("SECRET_KEY must be set to at least 50 random characters")
    if not s["ALLOWED_HOSTS"] or "*" in s["ALLOWED_HOSTS"]:
        problems.append("ALLOWED_HOSTS must name the service's hosts (no '*')")
    if s["DATABASES"]["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL must point at PostgreSQL")
    if not s["STAGEGATE_CREDENTIAL_KEYS"]:
        problems.append("STAGEGATE_CREDENTIAL_KEYS must hold at least one Fernet key")
    if s["STAGEGATE_ALLOW_PRIVATE_UPSTREAMS"]:
        problems.append("STAGEGATE_ALLOW_PRIVATE_UPSTREAMS must be off")
    problems.extend(_log_key_problems(s.get("STAGEGATE_LOG_SIGNING_KEY", "")))
    import os

    if "REDIS_URL" not in os.environ:
        problems.append("REDIS_URL must be set")
    return problems


def _log_key_problems(value: str) -> list[str]:
    import base64
    import binascii

    try:
        ok = len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        ok = False
    return [] if ok else ["STAGEGATE_LOG_SIGNING_KEY must hold the base64 of a 32-byte Ed25519 private key"]


def check_production(s: dict[str, Any]) -> None:
    if not PRODUCTION:
        return
    problems = unsafe_settings(s)
    if problems:
        raise ImproperlyConfigured("Unsafe production settings: " + "; ".join(problems))
