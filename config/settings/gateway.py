"""The model-access gateway: token limits, upstream timeouts, Redis for rate
limits and the access-log hand-off."""

from __future__ import annotations

from config.settings.celery import REDIS_URL
from config.settings.env import STAGEGATE_ENV, STATE_DIR, env

# Gateway tokens must expire; this bounds how far ahead.
STAGEGATE_GATEWAY_TOKEN_MAX_DAYS: int = env.int("STAGEGATE_GATEWAY_TOKEN_MAX_DAYS", default=90)
# Quotas a token gets when the issuer names none, and the most it may get.
STAGEGATE_GATEWAY_DEFAULT_RPM: int = env.int("STAGEGATE_GATEWAY_DEFAULT_RPM", default=60)
STAGEGATE_GATEWAY_MAX_RPM: int = env.int("STAGEGATE_GATEWAY_MAX_RPM", default=100_000)
STAGEGATE_GATEWAY_DEFAULT_TOKENS_PER_DAY: int = env.int("STAGEGATE_GATEWAY_DEFAULT_TOKENS_PER_DAY", default=1_000_000)
STAGEGATE_GATEWAY_MAX_TOKENS_PER_DAY: int = env.int("STAGEGATE_GATEWAY_MAX_TOKENS_PER_DAY", default=100_000_000)

# A call's max_tokens (or max_completion_tokens / max_output_tokens) and n:
# what a token allows when the issuer names none, and the most it may allow.
# The quota reserves max_tokens x n at admission and settles actual use, so
# these bound how far one call can overshoot a daily quota. The evaluation
# engine's run tokens fit the defaults (max_tokens up to 8192, n unset).
STAGEGATE_GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS: int = env.int("STAGEGATE_GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS", default=8192)
STAGEGATE_GATEWAY_MAX_OUTPUT_TOKENS: int = env.int("STAGEGATE_GATEWAY_MAX_OUTPUT_TOKENS", default=131_072)
STAGEGATE_GATEWAY_DEFAULT_MAX_N: int = env.int("STAGEGATE_GATEWAY_DEFAULT_MAX_N", default=8)
STAGEGATE_GATEWAY_MAX_N: int = env.int("STAGEGATE_GATEWAY_MAX_N", default=128)
# Live (unrevoked, unexpired) tokens of one kind that one user, or one
# organisation, may hold at once: minting beyond them is a 409 token_limit.
STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_HOLDER: int = env.int("STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_HOLDER", default=50)
STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_ORGANISATION: int = env.int(
    "STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_ORGANISATION", default=500
)

# A stream in progress checks this often (seconds) whether its grant has been
# withdrawn (token revoked, release halted, ...) and ends if it has. The check
# is one Redis GET of the grant epoch; the grant is read again only when the
# epoch moved.
STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS: float = env.float("STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS", default=2.0)

# Upstream calls (seconds). Read is the longest gap between bytes, so a long
# stream is fine as long as the model keeps producing.
STAGEGATE_GATEWAY_CONNECT_TIMEOUT: float = env.float("STAGEGATE_GATEWAY_CONNECT_TIMEOUT", default=5.0)
STAGEGATE_GATEWAY_READ_TIMEOUT: float = env.float("STAGEGATE_GATEWAY_READ_TIMEOUT", default=120.0)
STAGEGATE_GATEWAY_WRITE_TIMEOUT: float = env.float("STAGEGATE_GATEWAY_WRITE_TIMEOUT", default=30.0)
STAGEGATE_GATEWAY_POOL_TIMEOUT: float = env.float("STAGEGATE_GATEWAY_POOL_TIMEOUT", default=10.0)
STAGEGATE_GATEWAY_MAX_CONNECTIONS: int = env.int("STAGEGATE_GATEWAY_MAX_CONNECTIONS", default=512)
STAGEGATE_GATEWAY_MAX_REQUEST_BYTES: int = env.int("STAGEGATE_GATEWAY_MAX_REQUEST_BYTES", default=4 * 1024 * 1024)
STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES: int = env.int("STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES", default=32 * 1024 * 1024)

# Redis: rate limits, quotas and the access-log stream. Short timeouts and a
# circuit breaker so a dead Redis costs a call milliseconds, not seconds.
STAGEGATE_GATEWAY_REDIS_URL: str = env.str("STAGEGATE_GATEWAY_REDIS_URL", default=REDIS_URL)
STAGEGATE_GATEWAY_REDIS_TIMEOUT: float = env.float("STAGEGATE_GATEWAY_REDIS_TIMEOUT", default=0.5)
STAGEGATE_GATEWAY_BREAKER_SECONDS: float = env.float("STAGEGATE_GATEWAY_BREAKER_SECONDS", default=1.0)
STAGEGATE_GATEWAY_LOG_STREAM: str = env.str("STAGEGATE_GATEWAY_LOG_STREAM", default="stagegate:gateway:calls")
# The gateway refuses calls (503) rather than let an undrained log grow past this.
STAGEGATE_GATEWAY_LOG_BACKLOG_MAX: int = env.int("STAGEGATE_GATEWAY_LOG_BACKLOG_MAX", default=500_000)
STAGEGATE_GATEWAY_DRAIN_BATCH: int = env.int("STAGEGATE_GATEWAY_DRAIN_BATCH", default=2000)
# Each gateway process also appends its access-log entries to its own files
# here (a local file system), replayed if Redis loses them (gateway/proxy/spool.py).
# Empty: no spool. Tests turn it on where they test it (one test database per
# session would otherwise receive another's replay).
STAGEGATE_GATEWAY_SPOOL_DIR: str = env.str(
    "STAGEGATE_GATEWAY_SPOOL_DIR", default="" if STAGEGATE_ENV == "test" else str(STATE_DIR / "gateway-spool")
)

# Each gateway process caches a token's grant for at most this long (seconds;
# 0 turns the cache off). Writes that change a grant invalidate it at once
# through an epoch in Redis (gateway/proxy/grantcache.py); this bounds what a missed
# invalidation (a QuerySet.update, a bump lost while Redis was down) can serve.
STAGEGATE_GATEWAY_GRANT_CACHE_SECONDS: float = env.float("STAGEGATE_GATEWAY_GRANT_CACHE_SECONDS", default=5.0)
# A finished call's usage and access-log entry ride on the next call's admission
# script (one Redis round trip per call); when no call comes within this many
# milliseconds they are sent on their own. Other gateway processes see the
# tokens used that much later at most.
STAGEGATE_GATEWAY_SETTLE_DELAY_MS: float = env.float("STAGEGATE_GATEWAY_SETTLE_DELAY_MS", default=5.0)
