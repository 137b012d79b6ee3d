"""Flood control for the anonymous whistleblower endpoint: one Redis counter
per minute for the whole service (nothing per sender: the service keeps
nothing that could tell senders apart). Over the limit, 429 with
Retry-After; Redis unreachable, 503 (fail closed, as the gateway does: an
endpoint anyone can call without limit is what this prevents)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from redis.exceptions import RedisError

from core.errors import ApplicationError
from core.redis_client import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "stagegate:whistleblower:rpm:"
REDIS_TIMEOUT_S = 0.5


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"


class Unavailable(ApplicationError):
    status = 503
    code = "unavailable"


def minute_key(now: float | None = None) -> str:
    return f"{KEY_PREFIX}{int((now if now is not None else time.time()) // 60)}"


def whistleblower_rate_take(*, now: float | None = None) -> None:
    """Count one submission in this minute; refuse past the limit."""
    now = time.time() if now is None else now
    key = minute_key(now)
    try:
        pipe = redis_client(settings.REDIS_URL, REDIS_TIMEOUT_S).pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    except RedisError:
        logger.warning("whistleblower rate limit: Redis unavailable", exc_info=True)
        raise Unavailable("Submissions are paused for a moment; please try again shortly.") from None
    if count > settings.STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE:
        retry = max(1, 60 - int(now % 60))
        raise RateLimited("Too many reports are arriving; please try again in a minute.", extra={"retry_after": retry})
