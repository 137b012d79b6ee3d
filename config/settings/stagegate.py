"""Settings of Stagegate's own domain."""

from __future__ import annotations

from cryptography.fernet import Fernet

from config.settings.env import PRODUCTION, env, local_secret

# Fernet keys that encrypt lab endpoint credentials at rest, newest first.
# Rotation: put a new key first, run `manage.py rotate_credential_keys`, then
# drop the old key. Comma-separated in STAGEGATE_CREDENTIAL_KEYS.
STAGEGATE_CREDENTIAL_KEYS: list[str] = env.list("STAGEGATE_CREDENTIAL_KEYS", default=[]) or (
    [] if PRODUCTION else [local_secret("credential_key", lambda: Fernet.generate_key().decode())]
)

# Upstream endpoints on private, loopback or link-local addresses are refused
# unless this is on (development and the demo run a local model).
STAGEGATE_ALLOW_PRIVATE_UPSTREAMS: bool = env.bool("STAGEGATE_ALLOW_PRIVATE_UPSTREAMS", default=not PRODUCTION)

# The public base URL, used in links the demo prints.
STAGEGATE_BASE_URL: str = env.str("STAGEGATE_BASE_URL", default="http://127.0.0.1:8000")
