"""Settings of Stagegate's own domain."""

from __future__ import annotations

from cryptography.fernet import Fernet

from config.settings.env import PRODUCTION, STATE_DIR, env, local_secret

# Fernet keys that encrypt lab endpoint credentials at rest, newest first.
# Rotation: put a new key first, run `manage.py rotate_credential_keys`, then
# drop the old key. Comma-separated in STAGEGATE_CREDENTIAL_KEYS.
STAGEGATE_CREDENTIAL_KEYS: list[str] = env.list("STAGEGATE_CREDENTIAL_KEYS", default=[]) or (
    [] if PRODUCTION else [local_secret("credential_key", lambda: Fernet.generate_key().decode())]
)

# Upstream endpoints on private, loopback or link-local addresses are refused
# unless this is on (development and the demo run a local model).
STAGEGATE_ALLOW_PRIVATE_UPSTREAMS: bool = env.bool("STAGEGATE_ALLOW_PRIVATE_UPSTREAMS", default=not PRODUCTION)

# Where scripts/run keeps its local state (STAGEGATE_STATE_DIR, default
# .stagegate/): the status page reads the background steps' states there.
STAGEGATE_STATE_DIR: str = str(STATE_DIR)

# The public base URL, used in links the demo prints.
STAGEGATE_BASE_URL: str = env.str("STAGEGATE_BASE_URL", default="http://127.0.0.1:8000")

# Where evaluation workers reach the gateway (the same path an external tool takes).
STAGEGATE_GATEWAY_URL: str = env.str("STAGEGATE_GATEWAY_URL", default=STAGEGATE_BASE_URL.rstrip("/") + "/gateway/v1")
# The Celery queue of evaluation shards (long tasks, prefetch 1).
STAGEGATE_EVALS_QUEUE: str = env.str("STAGEGATE_EVALS_QUEUE", default="evals")
# How long a shard's lease lasts without renewal; a running shard renews it every
# third of that, so a dead worker's shard is taken up again this long after it died.
STAGEGATE_EVALS_LEASE_SECONDS: int = env.int("STAGEGATE_EVALS_LEASE_SECONDS", default=120)
# Samples per shard (one Celery task, one Inspect eval, about 0.5 s of overhead
# each) and the most model calls one shard has in flight at once.
STAGEGATE_EVALS_SHARD_SIZE: int = env.int("STAGEGATE_EVALS_SHARD_SIZE", default=25)
STAGEGATE_EVALS_MAX_CONNECTIONS: int = env.int("STAGEGATE_EVALS_MAX_CONNECTIONS", default=25)
# Where shards' Inspect logs are written: a directory, or an fsspec URL such as
# s3://bucket/prefix (S3-compatible stores through s3fs; credentials from the
# usual AWS_* variables).
STAGEGATE_EVAL_LOG_DIR: str = env.str("STAGEGATE_EVAL_LOG_DIR", default=str(STATE_DIR / "eval-logs"))
# Inspect logs an auditor uploads (evals/uploads.py): the largest accepted (413
# above it), and the slack around the log's start and end times within which
# the token's calls in the gateway's access log must match the log's (the
# auditor's clock against ours).
STAGEGATE_EVAL_UPLOAD_MAX_BYTES: int = env.int("STAGEGATE_EVAL_UPLOAD_MAX_BYTES", default=64 * 1024 * 1024)
STAGEGATE_EVAL_UPLOAD_CLOCK_SLACK_SECONDS: int = env.int("STAGEGATE_EVAL_UPLOAD_CLOCK_SLACK_SECONDS", default=120)
# Seconds an evaluation waits for one model call through the gateway.
STAGEGATE_EVALS_CALL_TIMEOUT: float = env.float("STAGEGATE_EVALS_CALL_TIMEOUT", default=180.0)
# A lab's sanctions within this many days escalate (warning → extra audit → suspension).
STAGEGATE_SANCTION_WINDOW_DAYS: int = env.int("STAGEGATE_SANCTION_WINDOW_DAYS", default=365)
# The suites this service runs, for the standard's protocol checks (standards sits below evals).
STAGEGATE_SUITE_CATALOGUE: str = "evals.engine.suite_catalogue"
# Days a regulator's KYC verification of a customer holds before its periodic
# re-review; past that date the customer no longer counts as verified.
STAGEGATE_KYC_REVIEW_DAYS: int = env.int("STAGEGATE_KYC_REVIEW_DAYS", default=365)
# Anonymous whistleblower reports: the most accepted per minute, service-wide
# (a Redis counter; over it, 429), and the largest report in bytes.
STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE: int = env.int("STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE", default=60)
# ... and from one source (address) per minute; only valid reports count against either.
STAGEGATE_WHISTLEBLOWER_RATE_PER_SOURCE: int = env.int("STAGEGATE_WHISTLEBLOWER_RATE_PER_SOURCE", default=5)
STAGEGATE_WHISTLEBLOWER_MAX_BYTES: int = env.int("STAGEGATE_WHISTLEBLOWER_MAX_BYTES", default=64 * 1024)

# Failed password sign-ins (portal, admin; core/login_throttle.py): after this
# many for one username, or from one client address, within the window that
# starts at the first, attempts are refused until the window ends.
STAGEGATE_LOGIN_MAX_FAILURES_PER_USER: int = env.int("STAGEGATE_LOGIN_MAX_FAILURES_PER_USER", default=5)
STAGEGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: int = env.int("STAGEGATE_LOGIN_MAX_FAILURES_PER_ADDRESS", default=50)
STAGEGATE_LOGIN_WINDOW_SECONDS: int = env.int("STAGEGATE_LOGIN_WINDOW_SECONDS", default=900)
