"""Production refuses to start on unsafe defaults, naming every problem at once.
Messages name the setting, never its value: they end up in logs."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import PRODUCTION, env

# SECRET_KEY signs sessions, CSRF and password-reset tokens and derives the demo
# tokens. One sample cannot prove a key random, but it can show it is not: the
# recommended `secrets.token_urlsafe(50)` gives 67 characters from 64 symbols,
# about 42 distinct on average and fewer than 20 with probability ~1e-20, and an
# 8-character sequence recurs in one with probability ~1e-11. So: at least 50
# characters (Django's own bar), at least 20 distinct ones (a word, a pattern or
# a hex string, at most 16 symbols and 4 bits a character, falls short), no
# 8-character sequence twice (a phrase or an alphabet repeated to length), and
# not a key Django generated for development.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 20
SECRET_KEY_REPEAT_WINDOW = 8

# 32 random bytes hold ~30 distinct values; fewer than 16 is a pattern
# (all zeros, a counter, a repeated pair), not a key.
KEY_BYTES_MIN_DISTINCT = 16

# Non-TLS PostgreSQL and Redis are refused unless this names the network as
# private: only Stagegate's own hosts can reach the database and Redis there.
ALLOW_PLAINTEXT_INTERNAL = "STAGEGATE_ALLOW_PLAINTEXT_INTERNAL"
POSTGRES_TLS_MODES = {"require", "verify-ca", "verify-full"}


_NOT_DELIVERING_EMAIL = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


def unsafe_settings(s: dict[str, Any]) -> list[str]:
    problems = []
    if s["DEBUG"]:
        problems.append("DEBUG must be off")
    problems.extend(_secret_key_problems(s["SECRET_KEY"]))
    if not s["ALLOWED_HOSTS"] or "*" in s["ALLOWED_HOSTS"]:
        problems.append("ALLOWED_HOSTS must name the service's hosts (no '*')")
    database = s["DATABASES"]["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL must point at PostgreSQL")
    problems.extend(_credential_key_problems(s["STAGEGATE_CREDENTIAL_KEYS"]))
    if s["STAGEGATE_ALLOW_PRIVATE_UPSTREAMS"]:
        problems.append("STAGEGATE_ALLOW_PRIVATE_UPSTREAMS must be off")
    problems.extend(_log_key_problems(s.get("STAGEGATE_LOG_SIGNING_KEY", "")))
    if not (s.get("STAGEGATE_WITNESS_URL") and s.get("STAGEGATE_WITNESS_PUBLIC_KEY")):
        problems.append(
            "STAGEGATE_WITNESS_URL and STAGEGATE_WITNESS_PUBLIC_KEY must name the independent witness "
            "(without one the log's history rests on its own signature alone; docs/witness.md)"
        )
    if "STAGEGATE_WITNESS_DATABASE_URL" in os.environ:
        problems.append(
            "STAGEGATE_WITNESS_DATABASE_URL must not be in the service's environment: the witness's database is "
            "the witness's alone"
        )
    if s["EMAIL_BACKEND"] in _NOT_DELIVERING_EMAIL:
        problems.append("STAGEGATE_EMAIL_BACKEND must deliver email (people get their set-password links by email)")
    if "REDIS_URL" not in os.environ:
        problems.append("REDIS_URL must be set")
    if not env.bool(ALLOW_PLAINTEXT_INTERNAL, default=False):
        if database["ENGINE"] == "django.db.backends.postgresql" and not _postgres_uses_tls(database):
            problems.append(
                "DATABASE_URL must ask for TLS (?sslmode=verify-full, verify-ca or require) "
                f"or be a Unix socket; on a private network set {ALLOW_PLAINTEXT_INTERNAL}=true"
            )
        for name in ("REDIS_URL", "STAGEGATE_GATEWAY_REDIS_URL"):
            if not _redis_uses_tls(s.get(name, "")):
                problems.append(
                    f"{name} must use rediss:// (TLS) or a unix:// socket; "
                    f"on a private network set {ALLOW_PLAINTEXT_INTERNAL}=true"
                )
    return problems


def _secret_key_problems(key: str) -> list[str]:
    window = SECRET_KEY_REPEAT_WINDOW
    sequences = [key[i : i + window] for i in range(len(key) - window + 1)]
    if (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_DISTINCT
        or len(set(sequences)) < len(sequences)
        or key.startswith("django-insecure-")
    ):
        problem = (
            f"SECRET_KEY must be set to at least {SECRET_KEY_MIN_LENGTH} random characters, "
            f"at least {SECRET_KEY_MIN_DISTINCT} of them distinct and no {window}-character sequence twice "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))")'
        )
        return [problem]
    return []


def _random_looking(key: bytes) -> bool:
    return len(key) == 32 and len(set(key)) >= KEY_BYTES_MIN_DISTINCT


def _log_key_problems(value: str) -> list[str]:
    try:
        ok = _random_looking(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        ok = False
    if ok:
        return []
    return ["STAGEGATE_LOG_SIGNING_KEY must hold the base64 of a 32-byte random Ed25519 private key"]


def _credential_key_problems(keys: list[str]) -> list[str]:
    if not keys:
        return ["STAGEGATE_CREDENTIAL_KEYS must hold at least one Fernet key"]
    problems = []
    for position, key in enumerate(keys, start=1):
        # What labs/credentials.py will do with it, then not a pattern.
        try:
            Fernet(key.encode())
            ok = _random_looking(base64.urlsafe_b64decode(key.encode()))
        except (binascii.Error, ValueError, TypeError):
            ok = False
        if not ok:
            problems.append(
                f"STAGEGATE_CREDENTIAL_KEYS: key {position} is not a Fernet key "
                "(url-safe base64 of 32 random bytes, from Fernet.generate_key())"
            )
    return problems


def _postgres_uses_tls(database: dict[str, Any]) -> bool:
    options = database.get("OPTIONS") or {}
    host = str(options.get("host") or database.get("HOST") or "")
    if host == "" or host.startswith("/"):
        return True  # a Unix socket: the traffic never leaves the host
    return options.get("sslmode") in POSTGRES_TLS_MODES


def _redis_uses_tls(url: str) -> bool:
    return urlsplit(url).scheme in {"rediss", "unix"}


def check_production(s: dict[str, Any]) -> None:
    if not PRODUCTION:
        return
    problems = unsafe_settings(s)
    if problems:
        raise ImproperlyConfigured("Unsafe production settings: " + "; ".join(problems))
