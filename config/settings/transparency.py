"""The transparency log's signing key and the sign-off statement window."""

from __future__ import annotations

import base64
import secrets

from config.settings.env import PRODUCTION, env, local_secret

# Ed25519 key that signs the log's tree heads: base64 of the 32-byte private
# seed. Production reads it from the environment and refuses to start without
# it; development generates one into the state directory.
STAGEGATE_LOG_SIGNING_KEY: str = env.str("STAGEGATE_LOG_SIGNING_KEY", default="") or (
    "" if PRODUCTION else local_secret("log_signing_key", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
)

# How long a sign-off statement stays valid after the server issues it: the
# signer must submit before then, and a gate may count it until then.
STAGEGATE_SIGNOFF_VALIDITY_DAYS: int = env.int("STAGEGATE_SIGNOFF_VALIDITY_DAYS", default=30)

# Requests per minute one address may make to the public record (/public/,
# /api/public/): anyone may verify the log, nobody may flood it.
STAGEGATE_PUBLIC_RATE_PER_MINUTE: int = env.int("STAGEGATE_PUBLIC_RATE_PER_MINUTE", default=300)
