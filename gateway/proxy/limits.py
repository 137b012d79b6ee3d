"""Rate limits, daily token quotas and the access-log hand-off, in Redis.

One round trip per call: ``admit`` runs one Lua script before the upstream
call that first settles earlier calls (counts their tokens, appends their
access-log entries to a stream), then reads the grant epoch
(gateway/proxy/grantcache.py) and checks this call (log backlog, daily tokens,
requests per minute), reserving its size in bytes plus max_tokens × n of the
daily quota (``reservation``). ``settle`` queues a finished call's usage (in
place of its reservation) and entry for the next admission; when none comes within ``STAGEGATE_GATEWAY_SETTLE_DELAY_MS``
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
calls, rather than drop entries, if it grows past the backlog limit).

Admission also returns Redis's incarnation (set when missing: a Redis that lost
its data has a new one). The process's spool (gateway/proxy/spool.py) holds
every entry until the drain has it; ``spool_check`` asks the stream which
spool files it can delete and replays them into a Redis that lost them."""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway.proxy.grantcache import EPOCH_KEY, EPOCH_LUA
from gateway.proxy.resp import Link, RedisReplyError
from gateway.proxy.spool import Segment, Spool, spool_for
from gateway.proxy.usage import USAGE_CEILING, clamp_count

# Settles the calls whose keys follow ``first`` in KEYS: ARGV from ``a`` holds,
# for each, the tokens it used, the tokens it reserved at admission, and the
# access-log entry (one JSON text, stored as the stream entry's field ``e``: one
# argument rather than two per field halves the work of encoding and of the
# script). KEYS[stream] is the log stream. The quota key (the day's, as at
# admission) moves by used - reserved: the unused reservation comes back. The
# tokens used are the lab's claim: ``settle`` clamps them (gateway/proxy/usage.py)
# and the script checks again, so no number can make INCRBY fail. A failing
# script would trip the breaker for every call and lose the entries it carries.
_SETTLE_LUA = """
local a = {a}
for k = {first}, #KEYS do
  local used = tonumber(ARGV[a]) or 0
  if not (used >= 0) then used = 0 end
  if used > {ceiling} then used = {ceiling} end
  local reserved = tonumber(ARGV[a + 1]) or 0
  if not (reserved >= 0) then reserved = 0 end
  if reserved > {ceiling} then reserved = {ceiling} end
  local change = math.floor(used) - math.floor(reserved)
  if change ~= 0 then
    if redis.call('INCRBY', KEYS[k], change) < 0 then
      redis.call('SET', KEYS[k], 0)
    end
    redis.call('EXPIRE', KEYS[k], 172800)
  end
  redis.call('XADD', KEYS[{stream}], '*', 'e', ARGV[a + 2])
  a = a + 3
end
"""

# The Redis incarnation: a value set when missing, so a Redis that lost its data
# (restarted without persistence, flushed) has a new one. Each gateway process
# watches it to know when to replay its spool (gateway/proxy/spool.py).
INCARNATION_KEY = "stagegate:gw:incarnation"
INCARNATION_LUA = """
local inc = redis.call('GET', {key})
if not inc then
  local now = redis.call('TIME')
  inc = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', {key}, inc)
end
"""

# KEYS: rate key, quota key, log stream, grant epoch, incarnation, then the
# quota keys of earlier calls settled first. ARGV: requests per minute, tokens
# per day, backlog max, the tokens this call reserves, then the settled calls'
# arguments. Returns {verdict, retry_ms, epoch, incarnation}: verdict 1 admitted (and the
# reservation added to the quota key); 0 over the rate; -1 the daily tokens are
# used up; -3 the reservation does not fit in what is left of them; -2 the log
# backlog is full. The quota key counts the tokens of finished calls and the
# reservations of calls in flight, so calls admitted together cannot together
# overshoot it (docs/gateway.md, Limits: the slack). GCRA: one key per token
# holding the "theoretical arrival time", so a full minute's allowance may
# come as a burst but never more than the limit in any 60 s window.
ADMIT = (
    _SETTLE_LUA.format(a=5, first=6, stream=3, ceiling=USAGE_CEILING)
    + EPOCH_LUA.format(key="KEYS[4]")
    + INCARNATION_LUA.format(key="KEYS[5]")
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[3]) then
  return {-2, 0, epoch, inc}
end
local until_midnight = (86400 - (tonumber(t[1]) % 86400)) * 1000
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local quota = tonumber(ARGV[2])
local reserve = tonumber(ARGV[4])
if used >= quota then
  return {-1, until_midnight, epoch, inc}
end
if used + reserve > quota then
  if reserve > quota then return {-3, until_midnight, epoch, inc} end
  return {-3, 1000, epoch, inc}
end
local period = 60000000
local interval = math.floor(period / tonumber(ARGV[1]))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, math.ceil((new_tat - now - period) / 1000), epoch, inc}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
if reserve > 0 then
  redis.call('INCRBY', KEYS[2], reserve)
  redis.call('EXPIRE', KEYS[2], 172800)
end
return {1, 0, epoch, inc}
"""
)

# KEYS: log stream, then the quota keys of the calls to settle. ARGV: their arguments.
SETTLE = _SETTLE_LUA.format(a=1, first=2, stream=1, ceiling=USAGE_CEILING) + "return #KEYS - 1\n"

# The spool's questions (gateway/proxy/spool.py). KEYS: log stream, incarnation.
# CHECK returns {incarnation, the stream's first id, its last id} (nil ids when
# it is empty); REPLAY adds its ARGV (entries) to the stream and returns the
# incarnation they went into.
CHECK = (
    INCARNATION_LUA.format(key="KEYS[2]")
    + """
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {inc, first[1] and first[1][1] or false, last[1] and last[1][1] or false}
"""
)
REPLAY = (
    INCARNATION_LUA.format(key="KEYS[2]")
    + """
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i])
end
return inc
"""
)
REPLAY_CHUNK = 500

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


class BoundRefused(Exception):
    """A call names max_tokens or n badly, or above its token's bounds (a 400)."""

    def __init__(self, param: str, message: str, code: str) -> None:
        super().__init__(message)
        self.param, self.message, self.code = param, message, code


def reservation(
    body: dict[str, Any], *, request_bytes: int, max_output_tokens: int, max_n: int, names: dict[str, str] | None = None
) -> int:
    """The tokens a call reserves of its token's daily quota at admission: its
    size in bytes (a bound on the prompt the caller sent: current models'
    tokenizers make at most one token per byte of text, and the JSON framing
    outweighs a chat template's own tokens) plus max_tokens × n.

    Checks ``max_tokens`` and ``max_completion_tokens`` (whole numbers from 1
    to the token's ``max_output_tokens``) and ``n`` (1 to ``max_n``) in the
    upstream request ``body``, and sets ``max_tokens`` to the token's bound
    when neither is named, so no upstream call runs unbounded. BoundRefused
    otherwise; ``names`` gives a field's name as the caller wrote it (the
    Responses API's ``max_output_tokens``)."""
    names = names or {}
    most = 0
    for field in ("max_tokens", "max_completion_tokens"):
        value = body.get(field)
        if value is None:
            continue
        param = names.get(field, field)
        if type(value) is not int or value < 1:
            raise BoundRefused(param, f"{param} must be a whole number of at least 1.", "invalid_request")
        if value > max_output_tokens:
            message = f"{param} is {value}; this token allows at most {max_output_tokens} output tokens per call."
            raise BoundRefused(param, message, "max_tokens_above_limit")
        most = max(most, value)
    if not most:
        most = body["max_tokens"] = max_output_tokens
    n = body.get("n")
    if n is None:
        n = 1
    elif type(n) is not int or n < 1:
        raise BoundRefused("n", "n must be a whole number of at least 1.", "invalid_request")
    elif n > max_n:
        raise BoundRefused("n", f"n is {n}; this token allows at most {max_n} choices per call.", "n_above_limit")
    return request_bytes + most * n


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


def _unfit(reserve: int, tokens_per_day: int) -> str:
    if reserve > tokens_per_day:
        return (
            f"This call would reserve {reserve} tokens (its size in bytes, plus max_tokens times n), more than "
            f"this token's whole daily quota of {tokens_per_day}: ask for fewer output tokens."
        )
    return (
        f"This call would reserve {reserve} tokens (its size in bytes, plus max_tokens times n) and less than "
        "that is left of this token's daily quota: ask for fewer output tokens, or try again once calls in "
        "flight have finished."
    )


def quota_key(token_id: str) -> str:
    """The token's quota key for today (UTC)."""
    return _quota_key(token_id)


def _rate_key(token_id: str) -> str:
    return f"stagegate:gw:rpm:{token_id}"


@dataclass
class _Settlement:
    quota_key: str
    args: list[Any]  # tokens used, tokens reserved, the entry as JSON
    done: asyncio.Future[None]
    spooled: Segment | None = None  # where the spool keeps the entry (gateway/proxy/spool.py)


class Limits:
    """One per event loop (its Redis connection belongs to the loop)."""

    def __init__(self) -> None:
        self.link = Link(settings.STAGEGATE_GATEWAY_REDIS_URL, timeout=settings.STAGEGATE_GATEWAY_REDIS_TIMEOUT)
        self.breaker = Breaker(settings.STAGEGATE_GATEWAY_BREAKER_SECONDS)
        self.stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
        self.pending: list[_Settlement] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        # The grant epoch the latest admission saw (gateway/proxy/grantcache.py).
        self.epoch: bytes | None = None
        # The Redis incarnation the latest admission saw.
        self.incarnation: bytes | None = None

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
    def _resolve(settled: list[_Settlement], error: RedisUnavailable | None, incarnation: bytes | None) -> None:
        for s in settled:
            if s.spooled is not None:
                if error is None:
                    s.spooled.spool.xadded(s.spooled, incarnation)
                elif s.done.done():  # its caller is gone and will not store it: the spool replays it
                    s.spooled.spool.lost(s.spooled)
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
            self._resolve(carried, exc, None)
            raise
        except BaseException:
            # Cancelled mid-flight: the script may or may not have run. The
            # callers store the entries themselves (rather a duplicate than a loss).
            self._resolve(carried, RedisUnavailable("cancelled"), None)
            raise
        # An admission returns the incarnation it saw; a settlement alone, none:
        # its entries count as in the incarnation last seen (the link answers in order).
        incarnation = result[3] if script is ADMIT else self.incarnation
        self._resolve(carried, None, incarnation)
        return result

    async def epoch_now(self) -> bytes | None:
        """The grant epoch in Redis now (None before any was set): a stream in
        progress reads it to learn whether its grant may have changed.
        Raises RedisUnavailable."""
        self.breaker.check()
        try:
            value = await self.link.command("GET", EPOCH_KEY)
        except (TimeoutError, OSError, RedisReplyError) as exc:
            self.breaker.trip()
            raise RedisUnavailable(type(exc).__name__) from None
        self.breaker.reset()
        return value if isinstance(value, bytes) else None

    async def admit(
        self, *, token_id: str, requests_per_minute: int, tokens_per_day: int, reserve: int = 0
    ) -> tuple[Refusal | None, bytes, str]:
        """(None, epoch, quota key) when the call may go ahead, its
        ``reserve`` then counted in the quota key until it settles; else (why
        not, epoch, quota key). The epoch is the grant epoch now; the quota key
        is the day's the call counts in (its settlement goes to the same key).
        Raises RedisUnavailable."""
        quota_key = _quota_key(token_id)
        verdict, retry_ms, epoch, incarnation = await self._carrying(
            ADMIT,
            [_rate_key(token_id), quota_key, self.stream, EPOCH_KEY, INCARNATION_KEY],
            [requests_per_minute, tokens_per_day, settings.STAGEGATE_GATEWAY_LOG_BACKLOG_MAX, reserve],
            self._take(),
        )
        self.epoch, self.incarnation = epoch, incarnation
        spool = spool_for(settings.STAGEGATE_GATEWAY_SPOOL_DIR)
        if spool is not None:
            spool.observe(incarnation)  # a change marks what to replay; the next settlement replays it
        if verdict == 1:
            return None, epoch, quota_key
        retry = max(1, -(-int(retry_ms) // 1000))
        if verdict == 0:
            refusal = Refusal(429, "rate_limit_exceeded", "Too many requests for this token; slow down.", retry)
        elif verdict == -1:
            refusal = Refusal(429, "token_quota_exceeded", "This token's daily token quota is used up.", retry)
        elif verdict == -3:
            refusal = Refusal(429, "token_quota_exceeded", _unfit(reserve, tokens_per_day), retry)
        else:
            message = "The gateway cannot record calls right now; try again shortly."
            refusal = Refusal(503, "access_log_backlog", message, 5)
        return refusal, epoch, quota_key

    async def settle(
        self,
        *,
        quota_key: str,
        tokens_used: int,
        reserved: int,
        entry: bytes,
        busy: bool,
        spooled: Segment | None = None,
    ) -> None:
        """Count the tokens used in place of the ``reserved`` ones (in the quota
        key the admission used) and hand the access-log entry (JSON) off;
        returns once it is in Redis. ``busy`` (other calls arrived meanwhile):
        let it ride on the next admission, or go within the settle delay; else
        send it now. ``spooled``: the spool segment that holds the entry, told
        when it is in Redis. Raises RedisUnavailable (the caller then stores the
        entry itself and tells the spool; the reservation then stays counted)."""
        self.breaker.check()
        loop = asyncio.get_running_loop()
        args = [clamp_count(tokens_used), clamp_count(reserved), entry]
        settlement = _Settlement(quota_key, args, loop.create_future(), spooled)
        self.pending.append(settlement)
        if not busy or len(self.pending) >= MAX_CARRY:
            await self._flush()
        elif self._flush_timer is None:
            self._flush_timer = loop.call_later(settings.STAGEGATE_GATEWAY_SETTLE_DELAY_MS / 1000, self._flush_soon)
        await settlement.done
        if spooled is not None and spooled.spool.due():
            await self.spool_check(spooled.spool)

    async def spool_check(self, spool: Spool) -> None:
        """Delete the spool's segments the drain has stored, and replay the
        ones Redis lost (gateway/proxy/spool.py). Runs after a call's answer
        and hand-off, at most about once a second, and at once when something
        is to be replayed; a failure leaves it for the next time."""
        spool.checking = True
        try:
            incarnation, first, last = await self._run(CHECK, [self.stream, INCARNATION_KEY], [])
            for seg in spool.check(incarnation, first, last):
                lines = spool.lines(seg)
                seen = {incarnation} if not lines else set()
                for i in range(0, len(lines), REPLAY_CHUNK):
                    seen.add(await self._run(REPLAY, [self.stream, INCARNATION_KEY], lines[i : i + REPLAY_CHUNK]))
                spool.replay_done(seg, seen.pop() if len(seen) == 1 else None)
        except RedisUnavailable:
            pass  # the breaker is open; the next call tries again
        finally:
            spool.checking = False

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
