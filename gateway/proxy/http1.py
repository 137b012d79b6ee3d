"""A minimal keep-alive HTTP/1.1 client over asyncio streams, for plain-http
and https upstreams alike (a lab's endpoint, a model server on its own
network, the local model).

Why not httpx here: under load httpx + httpcore + h11 cost the gateway about
half a millisecond of CPU per call (request and URL models, two writes per
request, h11's event machinery, anyio's wrappers), a third of everything the
gateway did. This client does one write per request and parses the response
with a few bytes operations. It speaks only what the gateway needs: one POST
with a body, a response framed by Content-Length, chunked encoding or the
connection's end, keep-alive, the same timeouts and address checks. TLS is
asyncio's (gateway/proxy/upstream.py gives the connection its context).

Errors are httpx's exception types, so the gateway maps both clients' failures
the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")

# A response head larger than this is refused (StreamReader's line limit).
MAX_HEAD = 64 * 1024
READ_SIZE = 64 * 1024


class Timeouts:
    __slots__ = ("connect", "pool", "read", "write")

    def __init__(self, *, connect: float, read: float, write: float, pool: float) -> None:
        self.connect, self.read, self.write, self.pool = connect, read, write, pool


async def _within(seconds: float, awaitable: Awaitable[T], error: type[httpx.TimeoutException]) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise error("the upstream did not answer in time") from None


class _Deadline:
    """The read timeout (the longest wait for the next bytes) for a body read
    in many pieces, at the cost of a clock read per piece: one timer per
    response, which cancels the reading task only if a read has been waiting
    that long, and otherwise sets itself again. (A timeout context per read
    costs a timer each: a tenth of a streamed call's CPU.)"""

    __slots__ = ("fired", "handle", "loop", "reading", "seconds", "started", "task")

    def __init__(self, seconds: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.seconds = seconds
        self.started = self.loop.time()
        self.reading = False
        self.fired = False
        self.handle: asyncio.TimerHandle | None = self.loop.call_at(self.started + seconds, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.reading and now - self.started >= self.seconds and self.task is not None:
            self.fired = True
            self.handle = None
            self.task.cancel()
            return
        self.handle = self.loop.call_at((self.started if self.reading else now) + self.seconds, self._check)

    async def read(self, reader: asyncio.StreamReader, size: int) -> bytes:
        self.started = self.loop.time()
        self.reading = True
        try:
            return await reader.read(size)
        except asyncio.CancelledError:
            if self.fired and self.task is not None and self.task.uncancel() == 0:
                raise httpx.ReadTimeout("the upstream stopped sending") from None
            raise
        finally:
            self.reading = False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, keepalive: float) -> bool:
        # EOF, a reset or any unread byte while idle: the server is done with it.
        # (asyncio notices these without a syscall: the socket stays registered.)
        return (
            now - self.idle_since < keepalive
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and not getattr(self.reader, "_buffer", b"")
        )

    def close(self) -> None:
        self.writer.transport.abort()


Connector = Callable[[float], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class Pool:
    """Keep-alive connections to one host and port, most recently used first."""

    def __init__(self, connect: Connector, *, max_connections: int, keepalive: float = 30.0) -> None:
        self._connect = connect
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self.keepalive = keepalive

    async def _checkout(self, timeouts: Timeouts) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(now, self.keepalive):
                return conn, True
            conn.close()
        try:
            async with asyncio.timeout(timeouts.connect):
                reader, writer = await self._connect(timeouts.connect)
        except TimeoutError:
            raise httpx.ConnectTimeout("connecting to the upstream timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to the upstream ({type(exc).__name__})") from None
        return _Connection(reader, writer), False

    def _checkin(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    async def request(self, head: bytes, body: bytes, timeouts: Timeouts) -> Response:
        """Send one request (``head`` ends with the blank line) and read the
        response's head; the body is for the caller to read or close."""
        if self._slots.locked():
            await _within(timeouts.pool, self._slots.acquire(), httpx.PoolTimeout)
        else:
            await self._slots.acquire()
        try:
            for attempt in (1, 2):
                conn, reused = await self._checkout(timeouts)
                try:
                    try:
                        conn.writer.write(head + body if len(body) < 65536 else head)
                        if len(body) >= 65536:
                            conn.writer.write(body)
                        if conn.writer.transport.get_write_buffer_size():
                            await _within(timeouts.write, conn.writer.drain(), httpx.WriteTimeout)
                    except (ConnectionError, OSError):
                        raise _StaleConnection from None
                    status, headers, keep_alive = await self._head(conn, timeouts.read)
                except _StaleConnection:
                    conn.close()
                    if reused and attempt == 1:
                        # Closed by the server while idle, just as we sent: once more on a
                        # new connection (as browsers do; the server answered nothing).
                        continue
                    raise httpx.RemoteProtocolError("the upstream closed the connection") from None
                except BaseException:
                    conn.close()
                    raise
                return Response(self, conn, status, headers, keep_alive, timeouts.read)
        except BaseException:
            self._slots.release()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _head(self, conn: _Connection, read_timeout: float) -> tuple[int, dict[bytes, bytes], bool]:
        while True:
            try:
                raw = await _within(read_timeout, conn.reader.readuntil(b"\r\n\r\n"), httpx.ReadTimeout)
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _StaleConnection from None
                raise httpx.RemoteProtocolError("the upstream closed the connection mid-response") from None
            except asyncio.LimitOverrunError:
                raise httpx.RemoteProtocolError("the upstream's response head is too large") from None
            except (ConnectionError, OSError):
                raise _StaleConnection from None
            lines = raw[:-4].split(b"\r\n")
            version, _, rest = lines[0].partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise httpx.RemoteProtocolError("the upstream's response is not HTTP/1.x")
            status = int(code)
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not name or name != name.strip():
                    raise httpx.RemoteProtocolError("malformed header in the upstream's response")
                headers[name.lower()] = value.strip()
            if 100 <= status < 200:
                continue  # an interim response (100 Continue): the real one follows
            keep_alive = version == b"HTTP/1.1" and b"close" not in headers.get(b"connection", b"").lower()
            return status, headers, keep_alive


class _StaleConnection(Exception):
    """The connection ended before any byte of a response."""


class _Headers:
    """The part of httpx.Headers the gateway uses: get() by name."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[bytes, bytes]) -> None:
        self._raw = raw

    def get(self, name: str, default: str = "") -> str:
        value = self._raw.get(name.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")


class Response:
    """The part of httpx.Response the gateway uses: ``status_code``,
    ``headers.get``, ``aiter_raw`` (the body as it arrives, de-chunked, not
    decoded) and ``aclose``."""

    def __init__(
        self, pool: Pool, conn: _Connection, status: int, raw_headers: dict[bytes, bytes], keep_alive: bool, read: float
    ) -> None:
        self.status_code = status
        self.headers = _Headers(raw_headers)
        self._pool: Pool | None = pool
        self._conn = conn
        self._read = read
        self._keep_alive = keep_alive
        self._deadline: _Deadline | None = None
        self._length: int | None = None
        self._chunked = b"chunked" in raw_headers.get(b"transfer-encoding", b"").lower()
        if status in (204, 304):
            self._length = 0
        elif not self._chunked and b"content-length" in raw_headers:
            try:
                self._length = int(raw_headers[b"content-length"])
            except ValueError:
                raise httpx.RemoteProtocolError("malformed Content-Length from the upstream") from None
            if self._length < 0:
                raise httpx.RemoteProtocolError("malformed Content-Length from the upstream")
        elif not self._chunked:
            self._keep_alive = False  # the body ends with the connection

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        reader = self._conn.reader
        deadline = self._deadline = _Deadline(self._read)
        try:
            if self._chunked:
                # Everything that has arrived, de-chunked, as one piece: under load
                # several events come together and go on to the caller in one write.
                dechunker = Dechunker()
                while not dechunker.done:
                    data = await deadline.read(reader, READ_SIZE)
                    if not data:
                        raise httpx.RemoteProtocolError("the upstream closed the connection mid-body")
                    out = dechunker.feed(data)
                    if out:
                        yield out
                if dechunker.leftover:
                    self._keep_alive = False  # bytes after the response: do not trust the connection
            elif self._length is not None:
                remaining = self._length
                while remaining:
                    data = await deadline.read(reader, min(remaining, READ_SIZE))
                    if not data:
                        raise httpx.RemoteProtocolError("the upstream closed the connection mid-body")
                    remaining -= len(data)
                    yield data
            else:
                while data := await deadline.read(reader, READ_SIZE):
                    yield data
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(f"reading from the upstream failed ({type(exc).__name__})") from None
        finally:
            deadline.close()
        self._release(reuse=self._keep_alive)

    def _release(self, *, reuse: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if reuse:
            pool._checkin(self._conn)
        else:
            self._conn.close()
        pool._slots.release()

    async def aclose(self) -> None:
        """Give the connection back if the body was read to its end; else close
        it (the upstream sees the caller go away)."""
        if self._deadline is not None:
            self._deadline.close()
        self._release(reuse=False)


class Dechunker:
    """Incremental decoder of a chunked body: ``feed`` returns the data of
    every chunk (or part of one) that arrived, joined; ``done`` once the last
    chunk and the trailers are in; ``leftover`` when bytes followed them."""

    MAX_LINE = 4096  # a chunk-size line or the trailers

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.remaining = 0  # data bytes still to come in the current chunk
        self.crlf = False  # the CRLF that ends a chunk's data is still to come
        self.done = False
        self.leftover = False

    def feed(self, data: bytes) -> bytes:
        buf = self.buffer
        buf += data
        out: list[bytes] = []
        pos = 0
        while True:
            if self.remaining:
                take = min(self.remaining, len(buf) - pos)
                if not take:
                    break
                out.append(bytes(buf[pos : pos + take]))
                pos += take
                self.remaining -= take
                if self.remaining:
                    break
                self.crlf = True
            if self.crlf:
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise httpx.RemoteProtocolError("malformed chunk from the upstream")
                pos += 2
                self.crlf = False
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if len(buf) - pos > self.MAX_LINE:
                    raise httpx.RemoteProtocolError("malformed chunk from the upstream")
                break
            size_text = bytes(buf[pos:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError("malformed chunk from the upstream") from None
            if size < 0 or size_text.startswith((b"-", b"+", b"0x", b"0X")):
                raise httpx.RemoteProtocolError("malformed chunk from the upstream")
            if size == 0:
                # The last chunk: trailers (usually none) up to an empty line.
                last = end if buf[end + 2 : end + 4] == b"\r\n" else buf.find(b"\r\n\r\n", end)
                if last < 0:
                    if len(buf) - pos > self.MAX_LINE:
                        raise httpx.RemoteProtocolError("malformed trailers from the upstream")
                    break
                pos = last + 4
                self.done = True
                self.leftover = pos < len(buf)
                break
            pos = end + 2
            self.remaining = size
        del buf[:pos]
        return out[0] if len(out) == 1 else b"".join(out)


def request_head(
    *, host: str, port: int, target: str, headers: list[tuple[str, str]], length: int, default_port: int = 80
) -> bytes:
    """A POST request's head (``default_port``: the scheme's, 443 for https).
    A CR, LF or NUL in the target or a header would let a value write headers
    of its own: refused."""
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    lines = [f"POST {target} HTTP/1.1", f"Host: {host_header}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {length}")
    if any("\r" in line or "\n" in line or "\0" in line for line in lines):
        raise httpx.UnsupportedProtocol("control characters in the upstream request")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.UnsupportedProtocol("characters an HTTP/1.1 head cannot carry") from None
