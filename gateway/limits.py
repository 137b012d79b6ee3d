"""Rate limits, daily token quotas and the access-log hand-off, in Redis.

Each call costs two round trips: ``admit`` before the upstream call (one Lua
script: log backlog, daily tokens, requests per minute) and ``settle`` after
the response has gone to the caller (one Lua script: count the tokens used and
append the access-log entry to a stream). Lua scripts run atomically in
Redis, so the limits hold across any number of gateway processes and machines.

Redis unreachable means fail closed (503). Short socket timeouts plus a circuit
breaker keep that fast: after a failure the breaker stays open for
``STAGEGATE_GATEWAY_BREAKER_SECONDS`` and calls are refused without touching
the network; the first call after that probes again, so the gateway recovers
by itself. Memory is bounded: one rate-limit key and one quota key per active
token, both expiring, and a stream the drain empties (the gateway refuses
calls, rather than drop entries, if it grows past the backlog limit)."""

from __future__ import annotations

import asyncio
import datetime
import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

# KEYS: rate key, quota key, log stream. ARGV: requests per minute, tokens per day, backlog max.
# Returns {1, 0} admitted; {0, retry_ms} over the rate; {-1, retry_ms} over the daily
# tokens; {-2, 0} the log backlog is full. GCRA: one key per token holding the
# "theoretical arrival time", so a full minute's allowance may come as a burst
# but never more than the limit in any 60 s window.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[3]) then
  return {-2, 0}
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[2]) then
  return {-1, (86400 - (tonumber(t[1]) % 86400)) * 1000}
end
local period = 60000000
local interval = math.floor(period / tonumber(ARGV[1]))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, math.ceil((new_tat - now - period) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0}
"""

# KEYS: quota key, log stream. ARGV: tokens used, then the entry's field/value pairs.
SETTLE = """
local used = tonumber(ARGV[1])
if used > 0 then
  redis.call('INCRBY', KEYS[1], used)
  redis.call('EXPIRE', KEYS[1], 172800)
end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
"""


class RedisUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    retry_after: int | None = None


class Breaker:
    """Open for a while after a failure; then let one call probe."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise RedisUnavailable("circuit open")

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.seconds

    def reset(self) -> None:
        self.open_until = 0.0


def _quota_key(token_id: str, now: datetime.datetime | None = None) -> str:
    day = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%d")
    return f"stagegate:gw:tpd:{token_id}:{day}"


def _rate_key(token_id: str) -> str:
    return f"stagegate:gw:rpm:{token_id}"


class Limits:
    """One per event loop (redis.asyncio connections belong to a loop)."""

    def __init__(self) -> None:
        timeout = settings.STAGEGATE_GATEWAY_REDIS_TIMEOUT
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.STAGEGATE_GATEWAY_REDIS_URL,
            max_connections=512,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self.breaker = Breaker(settings.STAGEGATE_GATEWAY_BREAKER_SECONDS)
        self.stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
        self._admit = self.redis.register_script(ADMIT)
        self._settle = self.redis.register_script(SETTLE)

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        self.breaker.check()
        try:
            result = await script(keys=keys, args=args)
        except (TimeoutError, RedisError, OSError) as exc:
            self.breaker.trip()
            raise RedisUnavailable(type(exc).__name__) from None
        self.breaker.reset()
        return result

    async def admit(self, *, token_id: str, requests_per_minute: int, tokens_per_day: int) -> Refusal | None:
        """None when the call may go ahead; else why not. Raises RedisUnavailable."""
        verdict, retry_ms = await self._run(
            self._admit,
            [_rate_key(token_id), _quota_key(token_id), self.stream],
            [requests_per_minute, tokens_per_day, settings.STAGEGATE_GATEWAY_LOG_BACKLOG_MAX],
        )
        if verdict == 1:
            return None
        retry = max(1, -(-int(retry_ms) // 1000))
        if verdict == 0:
            return Refusal(429, "rate_limit_exceeded", "Too many requests for this token; slow down.", retry)
        if verdict == -1:
            return Refusal(429, "token_quota_exceeded", "This token's daily token quota is used up.", retry)
        return Refusal(503, "access_log_backlog", "The gateway cannot record calls right now; try again shortly.", 5)

    async def settle(self, *, token_id: str, tokens_used: int, entry: dict[str, str]) -> str:
        """Count the tokens and append the access-log entry; the stream id."""
        args: list[Any] = [tokens_used]
        for key, value in entry.items():
            args.extend((key, value))
        stream_id = await self._run(self._settle, [_quota_key(token_id), self.stream], args)
        return stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limits] = weakref.WeakKeyDictionary()


def limits() -> Limits:
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        found = _by_loop[loop] = Limits()
    return found
