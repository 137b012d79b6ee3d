"""One redis-py client (and connection pool) per URL and timeout, for the
short checks made from request paths: the health check, sign-in limits, the
whistleblower flood control. Short timeouts and no retry, so a Redis outage
costs a request at most ``timeout`` before the caller's own fallback."""

from __future__ import annotations

import functools

import redis


@functools.cache
def redis_client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False)
