"""Rate limit and cache headers for the public record (pages and API), which
anyone may call without signing in.

A fixed one-minute window per client address, counted in Redis so the limit
holds across web processes; the address is only hashed into a counter key
that expires after two minutes. If Redis cannot be reached the count is kept
in this process (bounded), so an outage weakens the limit rather than taking
the public record down: it is read-only and cheap, unlike the whistleblower
endpoint, which fails closed."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from redis.exceptions import RedisError

from core.errors import ApplicationError
from core.redis_client import redis_client

logger = logging.getLogger(__name__)

PREFIX = "stagegate:public:rpm:"
WINDOW_TTL_S = 120
REDIS_TIMEOUT_S = 0.3
DEFAULT_PER_MINUTE = 300
_LOCAL_MAX = 10_000

# Content Security Policy of the public pages: our own script and style only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"


class _Local:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: OrderedDict[str, int] = OrderedDict()

    def incr(self, key: str) -> int:
        with self.lock:
            n = self.counts.pop(key, 0) + 1
            self.counts[key] = n
            while len(self.counts) > _LOCAL_MAX:
                self.counts.popitem(last=False)
            return n


_local = _Local()


def per_minute() -> int:
    return int(getattr(settings, "STAGEGATE_PUBLIC_RATE_PER_MINUTE", DEFAULT_PER_MINUTE))


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "")


def rate_take(request: HttpRequest, *, now: float | None = None) -> None:
    """Count one public request from the caller's address; RateLimited past
    the limit for this minute."""
    now = time.time() if now is None else now
    minute = int(now // 60)
    digest = hashlib.sha256(client_address(request).encode()).hexdigest()[:32]
    key = f"{PREFIX}{minute}:{digest}"
    try:
        client = redis_client(settings.REDIS_URL, REDIS_TIMEOUT_S)
        pipe = client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, WINDOW_TTL_S)
        count = int(pipe.execute()[0])
    except RedisError:
        logger.warning("public rate limit: Redis unavailable, counting in this process", exc_info=True)
        count = _local.incr(key)
    if count > per_minute():
        retry = max(1, 60 - int(now % 60))
        raise RateLimited(
            "Too many requests from this address; please try again in a minute.", extra={"retry_after": retry}
        )


# Cache lifetimes: anything named by a tree size never changes; "latest" does.
IMMUTABLE = "public, max-age=86400, immutable"
LATEST = "public, max-age=10"
PAGE = "public, max-age=30"


def cache(response: HttpResponseBase, value: str) -> HttpResponseBase:
    response["Cache-Control"] = value
    return response
