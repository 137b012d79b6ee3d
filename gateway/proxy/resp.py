"""A minimal pipelined Redis client for the gateway's Lua scripts.

redis-py's asyncio client took a third of the gateway's CPU per call under
load: a pooled connection per concurrent command (a condition variable, a
health check, an observability hook and a write each time), retries, and a
general reply parser. The gateway sends only EVALSHA (and SCRIPT LOAD), so it
keeps one connection per event loop and pipelines: Redis answers the commands
of a connection in order, so each command just waits its turn in a queue; the
commands issued in the same event-loop pass go out in one write, and one read
can answer many. Everything else (the drain, the epoch bump from Django)
still uses redis-py.

Any failure (connection refused or lost, no reply within the timeout, an
error reply) fails the command; a lost connection or a timeout fails every
command on that connection (their replies could no longer be matched) and the
next command connects again."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit


class RedisReplyError(Exception):
    """Redis answered with an error (a Lua error, NOSCRIPT, a wrong password)."""


class RedisConnectionError(ConnectionError):
    pass


def encode(args: tuple[Any, ...] | list[Any]) -> bytes:
    """A command as a RESP array of bulk strings (str, bytes or int arguments)."""
    data = [a if type(a) is bytes else a.encode() if type(a) is str else b"%d" % a for a in args]
    return b"*%d\r\n" % len(data) + b"".join([b"$%d\r\n%b\r\n" % (len(d), d) for d in data])


_INCOMPLETE = object()


def parse(buf: bytes | bytearray, pos: int) -> tuple[Any, int]:
    """One reply from ``buf`` at ``pos``: (value, next position), or
    (_INCOMPLETE, pos) when more bytes are needed. Error replies are returned
    as RedisReplyError instances, nil as None."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    after = end + 2
    if kind == 58:  # ':'
        return int(line), after
    if kind == 36:  # '$'
        size = int(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            return _INCOMPLETE, pos
        return bytes(buf[after : after + size]), after + size + 2
    if kind == 42:  # '*'
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse(buf, after)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, after
    if kind == 43:  # '+'
        return line, after
    if kind == 45:  # '-'
        return RedisReplyError(line.decode(errors="replace")), after
    raise RedisConnectionError("unexpected reply from Redis")


class _Protocol(asyncio.Protocol):
    def __init__(self, link: Link) -> None:
        self.link = link
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        waiters = self.link.waiters
        pos = 0
        try:
            while pos < len(buf):
                value, pos_after = parse(buf, pos)
                if value is _INCOMPLETE:
                    break
                pos = pos_after
                if not waiters:
                    raise RedisConnectionError("a reply nobody asked for")
                waiter = waiters.popleft()
                if waiter.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(value, RedisReplyError):
                    waiter.set_exception(value)
                else:
                    waiter.set_result(value)
        except (RedisConnectionError, ValueError):
            self.link.abort(RedisConnectionError("malformed reply from Redis"))
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.lost(self, RedisConnectionError("the connection to Redis was lost"))


class Link:
    """One pipelined connection (made on demand) to the Redis at ``url``, for
    one event loop."""

    def __init__(self, url: str, *, timeout: float) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.timeout = timeout
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 6379
        self.path = unquote(parts.path) if parts.scheme == "unix" else ""
        db = query.get("db", [""])[0] if parts.scheme == "unix" else parts.path.lstrip("/")
        self.db = int(db or 0)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        if self.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported Redis URL scheme {self.scheme!r}")
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._shas: dict[str, bytes] = {}

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            if self.scheme == "unix":
                _, protocol = await loop.create_unix_connection(lambda: _Protocol(self), self.path)
            else:
                context = ssl.create_default_context() if self.scheme == "rediss" else None
                _, protocol = await loop.create_connection(
                    lambda: _Protocol(self),
                    self.host,
                    self.port,
                    ssl=context,
                    server_hostname=self.host if context else None,
                )
            self._protocol = protocol
            # The connection's first commands (commands sent meanwhile queue behind them).
            try:
                if self.password is not None:
                    auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                    await self._send(auth)
                if self.db:
                    await self._send(("SELECT", self.db))
            except BaseException:
                self.abort(RedisConnectionError("could not set up the connection to Redis"))
                raise

    async def _ensure(self) -> None:
        if self._protocol is not None:
            return
        if self._connecting is None:
            # Its own task, so that a caller giving up does not cancel it for the others.
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        await asyncio.shield(self._connecting)

    def _connected(self, task: asyncio.Future[None]) -> None:
        self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved: the callers got it

    def _send(self, args: tuple[Any, ...] | list[Any]) -> asyncio.Future[Any]:
        if self._protocol is None:
            raise RedisConnectionError("not connected to Redis")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        self._out.append(encode(args))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None and out:
            protocol.transport.write(b"".join(out))

    async def command(self, *args: Any) -> Any:
        """Send one command and wait for its reply. Raises RedisReplyError,
        OSError (RedisConnectionError) or TimeoutError."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._ensure()
                return await self._send(args)
        except TimeoutError:
            # Its reply may still come, and would answer the next command: start over.
            self.abort(RedisConnectionError("Redis did not answer in time"))
            raise

    async def evalsha(self, script: str, keys: list[str], args: list[Any]) -> Any:
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest().encode()
        try:
            return await self.command("EVALSHA", sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.command("SCRIPT", "LOAD", script)
        return await self.command("EVALSHA", sha, len(keys), *keys, *args)

    def abort(self, error: Exception) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()  # connection_lost follows, and fails the waiters
        self._fail(error)

    def lost(self, protocol: _Protocol, error: Exception) -> None:
        if protocol is self._protocol:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self._protocol = None
        self._out.clear()
        waiters, self.waiters = self.waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(type(error)(*error.args))

    def close(self) -> None:
        self.abort(RedisConnectionError("closed"))
