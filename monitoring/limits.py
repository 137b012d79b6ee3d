"""Flood control for the anonymous whistleblower endpoint.

Two Redis counters per minute, taken only for a report that is valid and
about to be stored, so that malformed or empty requests cost an attacker
nothing and cost genuine reporters nothing either:

- per source: a keyed hash of the caller's address under a random salt that
  lives two minutes (``SET NX``, then it expires), so one source cannot use up
  the service-wide budget, and once the minute is over nobody — not even an
  operator with the server's secrets — can tell which address a counter was;
- service-wide: the total a minute, a ceiling on the storage a flood can cost.

Over either limit, 429 with Retry-After; Redis unreachable, 503 (fail closed,
as the gateway does: an endpoint anyone can call without limit is what this
prevents). Nothing about the sender is stored with the report."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time

from django.conf import settings
from redis.exceptions import RedisError

from core.errors import ApplicationError
from core.redis_client import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "stagegate:whistleblower:rpm:"
SOURCE_PREFIX = "stagegate:whistleblower:source:"
SALT_PREFIX = "stagegate:whistleblower:salt:"
WINDOW_TTL_S = 120
REDIS_TIMEOUT_S = 0.5


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"


class Unavailable(ApplicationError):
    status = 503
    code = "unavailable"


def minute_key(now: float | None = None) -> str:
    return f"{KEY_PREFIX}{int((now if now is not None else time.time()) // 60)}"


def _source_key(client: object, minute: int, source: str) -> str:
    """This minute's counter for ``source``: SHA-256 over a salt that exists
    only in Redis and only for two minutes."""
    salt_key = f"{SALT_PREFIX}{minute}"
    client.set(salt_key, secrets.token_hex(32), nx=True, ex=WINDOW_TTL_S)  # type: ignore[attr-defined]
    salt = client.get(salt_key) or b""  # type: ignore[attr-defined]
    digest = hashlib.sha256(bytes(salt) + b"|" + source.encode()).hexdigest()[:32]
    return f"{SOURCE_PREFIX}{minute}:{digest}"


def _count(client: object, key: str) -> int:
    pipe = client.pipeline(transaction=True)  # type: ignore[attr-defined]
    pipe.incr(key)
    pipe.expire(key, WINDOW_TTL_S)
    return int(pipe.execute()[0])


def whistleblower_rate_take(*, source: str = "", now: float | None = None) -> None:
    """Count one valid submission from ``source`` (the caller's address, used
    only to key a short-lived counter) in this minute; refuse past either
    limit. Call it after the report has been validated, before it is stored.
    A source's refused tries do not count against the service-wide total."""
    now = time.time() if now is None else now
    minute = int(now // 60)
    retry = max(1, 60 - int(now % 60))
    try:
        client = redis_client(settings.REDIS_URL, REDIS_TIMEOUT_S)
        if (
            source
            and _count(client, _source_key(client, minute, source)) > settings.STAGEGATE_WHISTLEBLOWER_RATE_PER_SOURCE
        ):
            raise RateLimited(
                "Too many reports from this connection; please try again in a minute.", extra={"retry_after": retry}
            )
        total = _count(client, minute_key(now))
    except RedisError:
        logger.warning("whistleblower rate limit: Redis unavailable", exc_info=True)
        raise Unavailable("Submissions are paused for a moment; please try again shortly.") from None
    if total > settings.STAGEGATE_WHISTLEBLOWER_RATE_PER_MINUTE:
        raise RateLimited("Too many reports are arriving; please try again in a minute.", extra={"retry_after": retry})
