"""The hook: where the nginx data plane (gateway/nginx/) asks the Python
data plane what to do with a chat completion.

nginx carries a call's bytes (the caller's connection, the upstream request,
the event stream, its digest) and decides nothing that this package decides:
it sends the call here at admission and gets back either the answer to give
(a refusal) or the upstream request to make (``P``, a plan: the URL, payload
and headers ``GatewayApp._plan`` built, and the credential's forms for its
fast path); a whole answer comes back here to be checked and scrubbed, and
is settled once the reply is on its way (``F``); a stream's lines that the
plane's fast path cannot prove harmless come here to go through the same
``SseScanner`` as on the Python path (``L``); a long stream asks whether its
grant still holds (``C``); and a stream's end is settled here (``Z``),
through the same access-log entry, spool and settlement script. The plane
asks for each new upstream connection's address too (``D``), so the
public-address rule has one home as well (and, where private upstreams are
allowed, the name is resolved here: nginx has no resolver of its own).

Framing (both ways, over a unix socket per hook process): a big-endian u32
length of the rest, a u32 request id (the reply carries the same one), one
ASCII letter for the kind, a u32 length of a JSON header, the JSON header and
the body bytes. docs/gateway.md ("The nginx data plane") lists the messages.

Each call's state lives in the process and connection that admitted it; a
plane worker that goes away leaves its open calls settled as failed (their
reservations given back), as an error escaping the Python path does. (The
compiled Go relay that first spoke this protocol was retired for nginx:
docs/architecture.md.)

Served by ``python -m config.hook --socket PATH`` (``python -m config.serve
--data-plane nginx`` starts one per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from gateway.proxy import redact, upstream
from gateway.proxy.audited import ATTESTATION_HEADER, attestation_outcome
from gateway.proxy.server import (
    CONNECT_FAILURES,
    STREAM_FAILURES,
    BodyTooLarge,
    Call,
    GatewayApp,
    Message,
    Plan,
    SseScanner,
    _error_body,
    stream_usage,
)

logger = logging.getLogger("stagegate.gateway")

_HEAD = struct.Struct(">IIBI")  # length of the rest, request id, kind, JSON length
_REST = struct.Struct(">IBI")
CHAT = "/gateway/v1/chat/completions"
PLANE_FAILURE = _error_body(500, "internal_error", "The gateway failed on this call; it has been recorded.")


def frame(request_id: int, kind: bytes, header: dict[str, Any], body: bytes = b"") -> bytes:
    meta = json.dumps(header, separators=(",", ":")).encode()
    return _HEAD.pack(9 + len(meta) + len(body), request_id, kind[0], len(meta)) + meta + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes, dict[str, Any], bytes]:
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    rest = await reader.readexactly(size)
    request_id, kind, meta = _REST.unpack_from(rest)
    header = json.loads(rest[9 : 9 + meta])
    return request_id, bytes((kind,)), header, rest[9 + meta :]


@functools.lru_cache(maxsize=256)
def fast_path(redactor: redact.Redactor) -> dict[str, Any] | None:
    """What the plane's fast path needs to prove a line holds no form of the
    credential and could not begin one: the forms, when all are plain ASCII
    that JSON shows as they are (else every line comes here)."""
    if not redactor._raw_check or not all(f.isascii() for f in redactor.forms):
        return None
    return {"forms": list(redactor.forms), "shortest": redactor.shortest, "longest": redactor.longest}


class _Captured:
    """An ASGI ``send`` that keeps the response for the plane to give."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[list[str]] = []
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in message.get("headers", [])]
        else:
            self.body += message.get("body", b"")

    def reply(self, request_id: int) -> bytes:
        return frame(request_id, b"R", {"status": self.status, "headers": self.headers}, self.body)


class _Received:
    """The upstream's answer as the plane read it, shaped as the Python path's
    upstream response (gateway/proxy/upstream.py), so ``_relay_whole`` judges both."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, error: str | None) -> None:
        self.status_code = status
        self.headers = headers
        self._body = body
        self._error = error

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        if self._error == "too_large":
            raise BodyTooLarge
        if self._error == "read_timeout":
            raise httpx.ReadTimeout("the upstream stopped answering")
        if self._error is not None:
            raise httpx.ReadError("the upstream's answer broke off")
        yield self._body

    async def aclose(self) -> None:
        return None


class _Digest:
    """The plane's digest of what the caller got, where the entry reads it."""

    def __init__(self, hexdigest: str) -> None:
        self._hex = hexdigest

    def hexdigest(self) -> str:
        return self._hex

    def update(self, data: bytes) -> None:  # pragma: no cover (the plane hashed the stream)
        raise RuntimeError("a carried stream's digest is the plane's")


class _Replies:
    """A connection's replies, written together once per turn of the event
    loop, so that under load many calls' replies share one write (the bench
    showed no difference in CPU per call either way: docs/performance.md)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending: list[bytes] = []

    def send(self, reply: bytes) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(reply)

    def flush(self) -> None:
        if self.pending and not self.writer.is_closing():
            self.writer.write(b"".join(self.pending))
        self.pending.clear()


@dataclass
class _Open:
    """A call between its plan and its settlement."""

    call: Call
    plan: Plan
    scanner: SseScanner | None = None


class Hook:
    def __init__(self, app: GatewayApp | None = None) -> None:
        if app is None:
            from gateway.proxy.server import application

            app = application
        self.app = app
        self._keys = 0
        self.connections = 0  # plane workers connected now

    async def drained(self, seconds: float) -> None:
        """Wait (at most ``seconds``) until every plane worker has hung up: on
        a shutdown nginx finishes its calls first, and each one's
        settlement comes through here."""
        deadline = time.monotonic() + seconds
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def serve(self, path: str) -> asyncio.AbstractServer:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        server = await asyncio.start_unix_server(self.connection, path)
        os.chmod(path, 0o600)  # the plans it hands out carry the labs' credentials
        return server

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls: dict[int, _Open] = {}
        tasks: set[asyncio.Task[None]] = set()
        self.connections += 1
        replies = _Replies(writer)
        try:
            while True:
                request_id, kind, header, body = await read_frame(reader)
                task = asyncio.ensure_future(self._answer(replies, calls, request_id, kind, header, body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for task in list(tasks):
                with contextlib.suppress(Exception):
                    await task
            # The plane's worker went away: what it left open is settled as failed.
            for open_call in calls.values():
                call = open_call.call
                if not call.status:
                    call.status, call.error_code = 500, "internal_error"
                await self.app.conclude(call)
            replies.flush()
            writer.close()
            self.connections -= 1

    async def _answer(
        self,
        replies: _Replies,
        calls: dict[int, _Open],
        request_id: int,
        kind: bytes,
        header: dict[str, Any],
        body: bytes,
    ) -> None:
        then: Call | None = None
        try:
            if kind == b"F":
                reply, then = await self._finish(calls.pop(header["call"]), request_id, header, body)
            else:
                reply = await self._dispatch(calls, request_id, kind, header, body)
        except Exception as failed:
            logger.exception("gateway hook: %r failed", kind)
            reply = frame(request_id, b"X", {"error": type(failed).__name__})
        replies.send(reply)
        if then is not None:
            # A whole answer goes to the caller before its settlement, as on
            # the Python path (which sends, then concludes): the reply leaves
            # at this task's first wait inside conclude.
            await self.app.conclude(then)

    async def _dispatch(
        self, calls: dict[int, _Open], request_id: int, kind: bytes, header: dict[str, Any], body: bytes
    ) -> bytes:
        if kind == b"A":
            return await self._admit(calls, request_id, header, body)
        if kind == b"L":
            return self._lines(calls[header["call"]], request_id, header, body)
        if kind == b"Z":
            return await self._settle(calls.pop(header["call"]), request_id, header)
        if kind == b"C":
            return await self._recheck(calls[header["call"]], request_id)
        if kind == b"D":
            return await self._dial(request_id, header)
        if kind == b"H":
            return frame(request_id, b"h", settings_for_plane())
        raise ValueError(f"unknown hook message {kind!r}")

    async def _admit(self, calls: dict[int, _Open], request_id: int, header: dict[str, Any], body: bytes) -> bytes:
        app = self.app
        call = app.new_call(header.get("method", "POST"), header.get("path", CHAT))
        captured = _Captured()
        try:
            if header.get("too_large"):
                await app._error(captured, call, 413, "request_too_large", "The request body is too large.")
                return captured.reply(request_id)
            call.request_sha256 = hashlib.sha256(body).hexdigest()
            scope = {"headers": [(b"authorization", str(header.get("authorization", "")).encode("latin-1"))]}
            plan = await app._plan(scope, body, captured, call, translate=False)
        except BaseException:
            await app.conclude(call)
            raise
        if plan is None:
            await app.conclude(call)
            return captured.reply(request_id)
        self._keys += 1
        calls[self._keys] = _Open(call=call, plan=plan)
        meta = {
            "call": self._keys,
            "url": plan.url,
            "headers": [list(h) for h in plan.headers],
            "stream": call.stream,
            "redact": plan.redactor is not None,
            "fast": fast_path(plan.redactor) if plan.redactor is not None else None,
            # Read per call, as the Python path reads them: a changed setting applies to the next call.
            "settings": call_settings(),
        }
        return frame(request_id, b"P", meta, plan.payload)

    async def _finish(
        self, open_call: _Open, request_id: int, header: dict[str, Any], body: bytes
    ) -> tuple[bytes, Call]:
        """A whole answer (or an upstream that failed before one): judged and
        scrubbed as on the Python path; the reply, and the call to settle once
        it is sent."""
        app, call = self.app, open_call.call
        captured = _Captured()
        error = header.get("error")
        try:
            if error == "client_gone":
                call.status, call.error_code = 499, "client_disconnected"
                call.latency_ms = (time.perf_counter() - call.t0) * 1000
            elif error in CONNECT_FAILURES:
                await app._error(captured, call, *CONNECT_FAILURES[error])
            else:
                headers = _attest(call, header)
                received = _Received(int(header.get("status") or 0), headers, body, error)
                await app._relay_whole(captured, call, received, open_call.plan.redactor, None)
        except BaseException:
            await app.conclude(call)
            raise
        return captured.reply(request_id), call

    def _lines(self, open_call: _Open, request_id: int, header: dict[str, Any], body: bytes) -> bytes:
        """Stream lines the plane's fast path left to the scanner of the Python path."""
        scanner = open_call.scanner
        if scanner is None:
            scanner = open_call.scanner = SseScanner(redactor=open_call.plan.redactor)
        scanner.events = int(header["events"])
        scanner._boundary = bool(header["boundary"])
        count = int(header.get("count", 0))
        out = scanner._scan(body.split(b"\n")) if count else b""
        if header.get("end"):
            out += scanner.end(failed=bool(header.get("failed")))
        buffered = scanner.scrub is not None and any(w.buffer for w in scanner.scrub.windows.values())
        meta = {
            "events": scanner.events,
            "boundary": scanner._boundary,
            "done": scanner.done,
            "buffered": buffered,
            "unreadable": scanner.unreadable,
        }
        return frame(request_id, b"O", meta, out)

    async def _recheck(self, open_call: _Open, request_id: int) -> bytes:
        withdrawn = await self.app._grant_withdrawn(open_call.call)
        if withdrawn is None:
            return frame(request_id, b"c", {"withdrawn": False})
        status, code, _message = withdrawn
        return frame(request_id, b"c", {"withdrawn": True, "status": status, "code": code}, _error_body(*withdrawn))

    async def _settle(self, open_call: _Open, request_id: int, header: dict[str, Any]) -> bytes:
        """A carried stream's end: its usage, outcome and digest into the access log."""
        app, call = self.app, open_call.call
        try:
            call.status = int(header.get("status") or 0)
            call.error_code = str(header.get("error_code") or "")
            call.read_partly = bool(header.get("read_partly"))
            call.final_sent = bool(header.get("final_sent"))
            call.latency_ms = float(header.get("latency_ms") or 0.0) or (time.perf_counter() - call.t0) * 1000
            call.response_hasher = _Digest(str(header.get("response_sha256", "")))
            _attest(call, header)
            scanner = open_call.scanner
            usage = scanner.usage if scanner is not None else None
            unreadable = bool(header.get("unreadable")) or (scanner is not None and scanner.unreadable)
            stream_usage(call, usage, int(header.get("events", 0)), unreadable, abandoned=call.status == 499)
            if call.status == 499:
                logger.warning("gateway call: client disconnected (token %s)", call.grant and call.grant.token_id)
            elif call.error_code:
                logger.warning(
                    "gateway stream failed: code=%s token=%s", call.error_code, call.grant and call.grant.token_id
                )
        finally:
            await app.conclude(call)
        return frame(request_id, b"z", {})

    async def _dial(self, request_id: int, header: dict[str, Any]) -> bytes:
        try:
            address = await upstream.public_address(
                str(header["host"]),
                int(header["port"]),
                settings.STAGEGATE_GATEWAY_CONNECT_TIMEOUT,
                # Where private upstreams are allowed the address is only
                # resolved here (the nginx plane has no resolver of its own).
                allow_private=settings.STAGEGATE_ALLOW_PRIVATE_UPSTREAMS,
            )
        except upstream.UpstreamAddressRefused:
            return frame(request_id, b"d", {"refused": True})
        except OSError as failed:
            return frame(request_id, b"d", {"error": type(failed).__name__})
        return frame(request_id, b"d", {"address": address})


def _attest(call: Call, header: dict[str, Any]) -> dict[str, str]:
    """The upstream headers the plane passed on (lower-cased), with what the
    endpoint claimed served the call judged against the audited digests."""
    headers = {str(k).lower(): str(v) for k, v in (header.get("headers") or {}).items()}
    call.attestation = attestation_outcome(headers.get(ATTESTATION_HEADER.lower()), call.grant.audited)  # type: ignore[union-attr]
    return headers


def call_settings() -> dict[str, Any]:
    """The settings a call's upstream request and stream go by."""
    return {
        "connect_timeout": settings.STAGEGATE_GATEWAY_CONNECT_TIMEOUT,
        "read_timeout": settings.STAGEGATE_GATEWAY_READ_TIMEOUT,
        "write_timeout": settings.STAGEGATE_GATEWAY_WRITE_TIMEOUT,
        "pool_timeout": settings.STAGEGATE_GATEWAY_POOL_TIMEOUT,
        "max_response_bytes": settings.STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES,
        "recheck_seconds": settings.STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS,
    }


def settings_for_plane() -> dict[str, Any]:
    """What the plane needs of the gateway's settings (its answer to ``H``)."""
    import certifi

    def failure(kind: str) -> dict[str, Any]:
        status, code, message = STREAM_FAILURES[kind]
        return {"status": status, "code": code, "body": _error_body(status, code, message).decode()}

    return {
        **call_settings(),
        "max_request_bytes": settings.STAGEGATE_GATEWAY_MAX_REQUEST_BYTES,
        "max_connections": settings.STAGEGATE_GATEWAY_MAX_CONNECTIONS,
        "allow_private": settings.STAGEGATE_ALLOW_PRIVATE_UPSTREAMS,
        "max_line": SseScanner.MAX_LINE,
        "ca_file": certifi.where(),
        "stream_failures": {"timeout": failure("timeout"), "error": failure("error")},
        # The plane's answer when its own Lua fails mid-call (settled as an
        # error escaping the Python path is: 500 internal_error).
        "plane_failure": {"status": 500, "code": "internal_error", "body": PLANE_FAILURE.decode()},
    }
