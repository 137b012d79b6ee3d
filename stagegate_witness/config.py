"""The witness's configuration, from *its own* environment (never the log's)."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.dsse import load_public_key_pem


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    database_url: str
    signing_key: Ed25519PrivateKey
    log_url: str  # the log's API root, e.g. https://stagegate.example/api
    log_token: str  # the witness's own API token for the log (read-only use)
    log_key: Ed25519PublicKey  # pinned: never taken from the log's answers
    timeout: float = 10.0


def _need(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def signing_key_from(seed_b64: str) -> Ed25519PrivateKey:
    try:
        seed = base64.b64decode(seed_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("STAGEGATE_WITNESS_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed") from None
    if len(seed) != 32:
        raise ConfigError("STAGEGATE_WITNESS_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def from_environment() -> Config:
    try:
        log_key = load_public_key_pem(_need("STAGEGATE_WITNESS_LOG_PUBLIC_KEY").replace("\\n", "\n"))
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"STAGEGATE_WITNESS_LOG_PUBLIC_KEY: {e}") from None
    log_url = _need("STAGEGATE_WITNESS_LOG_URL").rstrip("/")
    if not log_url.startswith(("https://", "http://")):
        raise ConfigError("STAGEGATE_WITNESS_LOG_URL must be an http(s) URL")
    return Config(
        database_url=_need("STAGEGATE_WITNESS_DATABASE_URL"),
        signing_key=signing_key_from(_need("STAGEGATE_WITNESS_SIGNING_KEY")),
        log_url=log_url,
        log_token=_need("STAGEGATE_WITNESS_LOG_TOKEN"),
        log_key=log_key,
        timeout=float(os.environ.get("STAGEGATE_WITNESS_TIMEOUT", "10")),
    )
