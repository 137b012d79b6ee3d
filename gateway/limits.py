"""Rate limits, daily token quotas and the access-log hand-off, in Redis.

One round trip per call: ``admit`` runs one Lua script before the upstream
call that first settles earlier calls (counts their tokens, appends their
access-log entries to a stream), then reads the grant epoch
(gateway/grantcache.py) and checks this call (log backlog, daily tokens,
requests per minute). ``settle`` queues a finished call's usage and entry for
the next admission; when none comes within ``STAGEGATE_GATEWAY_SETTLE_DELAY_MS``
they go on their own in one script, so another process sees the tokens that
much later at most. A call's task waits until its entry is in Redis, so a
server draining its requests on shutdown loses none. Lua scripts run
atomically in Redis, so the limits hold across any number of gateway
processes and machines.

Redis unreachable means fail closed (503). Short socket timeouts plus a circuit
breaker keep that fast: after a failure the breaker stays open for
``STAGEGATE_GATEWAY_BREAKER_SECONDS`` and calls are refused without touching
the network; the first call after that probes again, so the gateway recovers
by itself. Memory is bounded: one rate-limit key and one quota key per active
token, both expiring, and a stream the drain empties (the gateway refuses
calls, rather than drop entries, if it grows past the backlog limit)."""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway.grantcache import EPOCH_KEY, EPOCH_LUA
from gateway.resp import Link, RedisReplyError
from gateway.usage import USAGE_CEILING, clamp_count

# Settles the calls whose keys follow ``first`` in KEYS: ARGV from ``a`` holds,
# for each, the tokens used and the access-log entry (one JSON text, stored as
# the stream entry's field ``e``: one argument rather than two per field halves
# the work of encoding and of the script). KEYS[stream] is the log stream.
# The tokens used are the lab's claim: ``settle`` clamps them (gateway/usage.py)
# and the script checks again, so no number can make INCRBY fail. A failing
# script would trip the breaker for every call and lose the entries it carries.
_SETTLE_LUA = """
local a = {a}
for k = {first}, #KEYS do
  local used = tonumber(ARGV[a]) or 0
  if used > {ceiling} then used = {ceiling} end
  if used >= 1 then
    redis.call('INCRBY', KEYS[k], math.floor(used))
    redis.call('EXPIRE', KEYS[k], 172800)
  end
  redis.call('XADD', KEYS[{stream}], '*', 'e', ARGV[a + 1])
  a = a + 2
end
"""

# KEYS: rate key, quota key, log stream, grant epoch, then the quota keys of
# earlier calls settled first. ARGV: requests per minute, tokens per day,
# backlog max, then the settled calls' arguments. Returns {verdict, retry_ms,
# epoch}: verdict 1 admitted; 0 over the rate; -1 over the daily tokens; -2 the
# log backlog is full. GCRA: one key per token holding the "theoretical arrival
# time", so a full minute's allowance may come as a burst but never more than
# the limit in any 60 s window.
ADMIT = (
    _SETTLE_LUA.format(a=4, first=5, stream=3, ceiling=USAGE_CEILING)
    + EPOCH_LUA.format(key="KEYS[4]")
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[3]) then
  return {-2, 0, epoch}
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[2]) then
  return {-1, (86400 - (tonumber(t[1]) % 86400)) * 1000, epoch}
end
local period = 60000000
local interval = math.floor(period / tonumber(ARGV[1]))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, math.ceil((new_tat - now - period) / 1000), epoch}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0, epoch}
"""
)

# KEYS: log stream, then the quota keys of the calls to settle. ARGV: their arguments.
SETTLE = _SETTLE_LUA.format(a=1, first=2, stream=1, ceiling=USAGE_CEILING) + "return #KEYS - 1\n"

# At most this many finished calls ride on one script.
MAX_CARRY = 32


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


_today: tuple[int, str] = (-1, "")


def _quota_key(token_id: str) -> str:
    """The token's quota key for today (UTC)."""
    global _today
    day = int(time.time() // 86400)
    if day != _today[0]:
        _today = (day, time.strftime("%Y%m%d", time.gmtime(day * 86400)))
    return f"stagegate:gw:tpd:{token_id}:{_today[1]}"


def _rate_key(token_id: str) -> str:
    return f"stagegate:gw:rpm:{token_id}"


@dataclass
class _Settlement:
    quota_key: str
    args: list[Any]  # tokens used, the entry as JSON
    done: asyncio.Future[None]


class Limits:
    """One per event loop (its Redis connection belongs to the loop)."""

    def __init__(self) -> None:
        self.link = Link(settings.STAGEGATE_GATEWAY_REDIS_URL, timeout=settings.STAGEGATE_GATEWAY_REDIS_TIMEOUT)
        self.breaker = Breaker(settings.STAGEGATE_GATEWAY_BREAKER_SECONDS)
        self.stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
        self.pending: list[_Settlement] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        # The grant epoch the latest admission saw (gateway/grantcache.py).
        self.epoch: bytes | None = None

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        self.breaker.check()
        try:
            result = await self.link.evalsha(script, keys, args)
        except (TimeoutError, OSError, RedisReplyError) as exc:
            self.breaker.trip()
            raise RedisUnavailable(type(exc).__name__) from None
        self.breaker.reset()
        return result

    def _take(self) -> list[_Settlement]:
        taken = self.pending[:MAX_CARRY]
        del self.pending[:MAX_CARRY]
        return taken

    @staticmethod
    def _resolve(settled: list[_Settlement], error: RedisUnavailable | None) -> None:
        for s in settled:
            if s.done.done():  # its caller was cancelled
                continue
            if error is None:
                s.done.set_result(None)
            else:
                s.done.set_exception(RedisUnavailable(*error.args))

    async def _carrying(self, script: str, keys: list[str], args: list[Any], carried: list[_Settlement]) -> Any:
        """Run a script that also settles ``carried``; whatever happens, tell their callers."""
        for s in carried:
            keys.append(s.quota_key)
            args.extend(s.args)
        try:
            result = await self._run(script, keys, args)
        except RedisUnavailable as exc:
            self._resolve(carried, exc)
            raise
        except BaseException:
            # Cancelled mid-flight: the script may or may not have run. The
            # callers store the entries themselves (rather a duplicate than a loss).
            self._resolve(carried, RedisUnavailable("cancelled"))
            raise
        self._resolve(carried, None)
        return result

    async def admit(
        self, *, token_id: str, requests_per_minute: int, tokens_per_day: int
    ) -> tuple[Refusal | None, bytes]:
        """(None, epoch) when the call may go ahead, else (why not, epoch); the
        epoch is the grant epoch now. Raises RedisUnavailable."""
        verdict, retry_ms, epoch = await self._carrying(
            ADMIT,
            [_rate_key(token_id), _quota_key(token_id), self.stream, EPOCH_KEY],
            [requests_per_minute, tokens_per_day, settings.STAGEGATE_GATEWAY_LOG_BACKLOG_MAX],
            self._take(),
        )
        self.epoch = epoch
        if verdict == 1:
            return None, epoch
        retry = max(1, -(-int(retry_ms) // 1000))
        if verdict == 0:
            return Refusal(429, "rate_limit_exceeded", "Too many requests for this token; slow down.", retry), epoch
        if verdict == -1:
            return Refusal(429, "token_quota_exceeded", "This token's daily token quota is used up.", retry), epoch
        refusal = Refusal(503, "access_log_backlog", "The gateway cannot record calls right now; try again shortly.", 5)
        return refusal, epoch

    async def settle(self, *, token_id: str, tokens_used: int, entry: str, busy: bool) -> None:
        """Count the tokens and hand the access-log entry (JSON) off; returns
        once it is in Redis. ``busy`` (other calls arrived meanwhile): let it
        ride on the next admission, or go within the settle delay; else send it
        now. Raises RedisUnavailable (the caller then stores the entry itself)."""
        self.breaker.check()
        loop = asyncio.get_running_loop()
        settlement = _Settlement(_quota_key(token_id), [clamp_count(tokens_used), entry], loop.create_future())
        self.pending.append(settlement)
        if not busy or len(self.pending) >= MAX_CARRY:
            await self._flush()
        elif self._flush_timer is None:
            self._flush_timer = loop.call_later(settings.STAGEGATE_GATEWAY_SETTLE_DELAY_MS / 1000, self._flush_soon)
        await settlement.done

    def _flush_soon(self) -> None:
        self._flush_timer = None
        if self.pending:
            task = asyncio.get_running_loop().create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        while self.pending:
            try:
                await self._carrying(SETTLE, [self.stream], [], self._take())
            except RedisUnavailable:
                continue  # their callers store them; the breaker fails the rest fast


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limits] = weakref.WeakKeyDictionary()


def limits() -> Limits:
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        found = _by_loop[loop] = Limits()
    return found
