"""The gateway's OpenAI-compatible surface, as a lean ASGI application.

config/asgi.py sends every ``/gateway/`` request here before Django's request
machinery (middleware, URL resolution, DRF): a call then costs one Redis
script (the limits, the grant epoch, and the usage and access-log entries of
earlier calls: gateway/proxy/limits.py) and the upstream call. The grant (does the
token still grant this call) comes from a per-process cache that the epoch
invalidates (gateway/proxy/grantcache.py), or else from one database query: on
PostgreSQL on psycopg's async connections (gateway/proxy/grantdb.py), elsewhere
through the ORM in a small thread pool. Everything else is async, so an
in-flight model call holds no thread.

Routes: ``POST /gateway/v1/chat/completions`` (non-streaming, and ``stream:
true`` passed through as server-sent events chunk by chunk), ``POST
/gateway/v1/responses`` (the Responses API, translated to and from one chat
completion by gateway/proxy/responses_api.py, on the same path through admission,
limits, the upstream and the access log), ``GET /gateway/v1/models`` and ``GET
/gateway/v1/models/{id}``.

The caller's headers are never forwarded upstream; the upstream gets the lab's
decrypted credential as ``Authorization: Bearer``. The credential appears in
no response, log line or error: errors use fixed messages, and whatever the
upstream sends on to the caller, whole or streamed, is scrubbed of it in every
encoding gateway/proxy/redact.py knows."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from gateway.proxy import limits as limits_mod
from gateway.proxy import redact, responses_api, upstream
from gateway.proxy.audited import (
    ATTESTATION_HEADER,
    NotAudited,
    apply_audited_configuration,
    attestation_outcome,
    deployed_as_audited,
    responses_param,
)
from gateway.proxy.entry import AccessEntry, new_call_id
from gateway.proxy.grantcache import GrantCache
from gateway.proxy.grantdb import GrantDbUnavailable, grant_check_async
from gateway.proxy.limits import RedisUnavailable, Refusal
from gateway.proxy.spool import spool_for
from gateway.proxy.usage import USAGE_CEILING, Usage, usage_of
from gateway.selectors import Grant, GrantRefused
from labs.credentials import CredentialUnreadable, decrypt_credential

logger = logging.getLogger("stagegate.gateway")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/gateway/v1"
# The routes that call the model: chat completions pass through; the
# Responses API is translated (True).
_GENERATE = {PREFIX + "/chat/completions": False, PREFIX + "/responses": True}
TOKEN_PREFIX = "sgw_"
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gateway-db")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ClientGone(Exception):
    pass


class BodyTooLarge(Exception):
    pass


@dataclass
class Call:
    """What the access log records about one call."""

    method: str
    path: str
    started_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    t0: float = field(default_factory=time.perf_counter)
    grant: Grant | None = None
    stream: bool = False
    upstream_model: str = ""
    status: int = 0
    error_code: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    usage_clamped: bool = False  # the upstream's usage was not plausible (gateway/proxy/usage.py)
    request_sha256: str = hashlib.sha256(b"").hexdigest()
    response_hasher: Any = field(default_factory=hashlib.sha256)
    final_sent: bool = False
    sequence: int = 0  # how many calls this process had started before this one
    reserved: int = 0  # the tokens admission reserved of the daily quota (given back at settlement)
    quota_key: str = ""  # the day's quota key the reservation went to
    read_partly: bool = False  # the caller went away mid-stream, after reading some of it
    digest: str = ""  # the token's digest, to read its grant again mid-stream
    epoch: bytes | None = None  # the grant epoch admission saw
    call_id: str = field(default_factory=new_call_id)  # names the call's access-log entry wherever it goes
    # What the lab's endpoint claimed served the call, against the audited
    # digests (gateway/proxy/audited.py): "" when no upstream answered.
    attestation: str = ""

    def charge(self) -> int:
        """The tokens the quota counts for this call: what it used when it was
        answered, or as much of a stream as the caller read before it went
        away; nothing for a call refused or failed upstream."""
        return self.total_tokens if self.status == 200 or self.read_partly else 0

    def entry(self, g: Grant) -> AccessEntry:
        return AccessEntry(
            call_id=self.call_id,
            token=g.token_id,
            kind=g.kind,
            holder=g.holder_id,
            organisation=g.organisation_id or "",
            lab=g.lab_id,
            system_version=g.system_version_id,
            started_at=self.started_at.isoformat(),
            method=self.method,
            path=self.path,
            upstream_model=self.upstream_model,
            stream=self.stream,
            status=self.status,
            error_code=self.error_code,
            latency_ms=self.latency_ms,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            usage_clamped=self.usage_clamped,
            request_sha256=self.request_sha256,
            response_sha256=self.response_hasher.hexdigest(),
            stage=g.stage,
            attestation=self.attestation,
        )

    def set_usage(self, usage: Usage) -> None:
        self.prompt_tokens, self.completion_tokens, self.total_tokens, self.usage_clamped = usage


def _in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    return asyncio.get_running_loop().run_in_executor(_executor, functools.partial(fn, *args, **kwargs))


def _check_grant(digest: str) -> Grant:
    from django.db import connection

    from gateway.selectors import grant_check

    connection.close_if_unusable_or_obsolete()
    return grant_check(digest=digest)


def _store_direct(stream_id: str, line: bytes) -> None:
    from django.db import connection

    from gateway.services import gateway_calls_store

    connection.close_if_unusable_or_obsolete()
    gateway_calls_store(entries=[(stream_id, {"e": line.decode()})])


@functools.lru_cache(maxsize=256)
def _credential(ciphertext: str) -> str:
    return decrypt_credential(ciphertext) if ciphertext else ""


def _error_body(status: int, code: str, message: str, param: str | None = None) -> bytes:
    kind = _ERROR_TYPES.get(status, "api_error")
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}}).encode()


def _encode(body: Any) -> bytes:
    """The request as sent upstream (RecursionError if it nests too deeply)."""
    return json.dumps(body).encode()


# JSON nested deeper than the parser's recursion limit raises RecursionError,
# which is not a ValueError: caught with it wherever the gateway parses.
_UNPARSABLE = (ValueError, RecursionError)


def _retry_after(value: str) -> int:
    """An upstream's Retry-After in seconds, bounded (1 unless plain digits)."""
    if not (value.isascii() and value.isdigit()):
        return 1
    return min(int(value), 86400) if len(value) <= 6 else 86400


@dataclass
class _Prepared:
    """A model call's request, checked against the grant before admission:
    the chat-completions body to send upstream (and the translation, for the
    Responses API) and the tokens it reserves, or why it is refused."""

    body: dict[str, Any] | None = None
    translation: responses_api.Translation | None = None
    reserve: int = 0
    error: tuple[int, str, str, str | None] | None = None  # status, code, message, param


@dataclass
class Plan:
    """An admitted model call's upstream request: where it goes, the body and
    headers it goes with (the lab's credential among them), what keeps that
    credential out of the answer, and the Responses API translation, if any."""

    url: str
    payload: bytes
    headers: list[tuple[str, str]]
    redactor: redact.Redactor | None
    translation: responses_api.Translation | None = None


# How a failure to get a response head from the upstream is answered, by its
# kind (the nginx plane names its failures with these kinds: gateway/proxy/hook.py).
CONNECT_FAILURES: dict[str, tuple[int, str, str]] = {
    "timeout": (504, "upstream_timeout", "The model did not answer in time."),
    "address_refused": (502, "upstream_address_refused", "The model's address is not allowed."),
    "unreachable": (502, "upstream_unreachable", "The model could not be reached."),
}
# How a stream that breaks off after it started ends, by its kind.
STREAM_FAILURES: dict[str, tuple[int, str, str]] = {
    "timeout": (504, "upstream_timeout", "The model stopped answering."),
    "error": (502, "upstream_error", "The connection to the model failed mid-stream."),
}


def stream_usage(call: Call, usage: Usage | None, events: int, unreadable: bool, abandoned: bool = False) -> None:
    """Set a relayed stream's usage on ``call``: what the upstream reported, if
    any of it was readable, else the data events as the estimate (marked as
    such when a report was there but unreadable). ``abandoned``: the caller
    went away mid-stream; the quota counts what it read."""
    if usage is not None and (usage[0] or usage[1] or usage[2]):
        call.set_usage(usage)
    else:
        call.completion_tokens = call.total_tokens = min(events, USAGE_CEILING)
        if not abandoned:
            call.usage_clamped = usage is not None
    if unreadable and not abandoned:
        call.usage_clamped = True


def _prepare(raw: bytes, translate: bool, grant: Grant) -> _Prepared:
    """Parse and check a model call's request for ``grant``: its JSON, its
    model, its translation, the audited configuration (customers and the
    public from stage 2, gateway/proxy/audited.py: the audited system prompt first,
    caller instructions and undeclared tools refused), and the bounds on
    max_tokens and n, which give its reservation (gateway/proxy/limits.py)."""
    try:
        body = json.loads(raw)
    except RecursionError:
        return _Prepared(error=(400, "invalid_json", "The request body's JSON nests too deeply.", None))
    except ValueError:
        return _Prepared(error=(400, "invalid_json", "The request body is not valid JSON.", None))
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return _Prepared(error=(400, "invalid_request", "The body must be a JSON object with a model.", None))
    if body["model"] not in (grant.model_id, grant.system_version_id):
        return _Prepared(error=(404, "model_not_found", "This token does not grant that model.", None))
    translation = None
    if translate:
        try:
            translation = responses_api.translate_request(body, endpoint_model=grant.endpoint_model)
        except responses_api.Unsupported as refused:
            return _Prepared(error=(400, refused.code, refused.message, refused.param))
        body = translation.upstream
    added = 0
    if deployed_as_audited(kind=grant.kind, stage=grant.stage):
        try:
            body = apply_audited_configuration(body, grant.audited)
        except NotAudited as refused:
            param = responses_param(refused.param, translation.request) if translation is not None else refused.param
            return _Prepared(error=(400, refused.code, refused.message, param))
        added = len(grant.audited.system_prompt.encode())
        if translation is not None:
            translation.upstream = body
    try:
        reserve = limits_mod.reservation(
            body,
            request_bytes=len(raw) + added,
            max_output_tokens=grant.max_output_tokens,
            max_n=grant.max_n,
            names={"max_tokens": "max_output_tokens"} if translate else None,
        )
    except limits_mod.BoundRefused as refused:
        return _Prepared(error=(400, refused.code, refused.message, refused.param))
    return _Prepared(body=body, translation=translation, reserve=reserve)


class SseScanner:
    """Watches a passing event stream for a usage object and counts the data
    events (the token estimate when the upstream reports no usage). Usage is
    checked as for a whole answer (gateway/proxy/usage.py); an event that claims
    usage but cannot be parsed marks the call's usage ``unreadable``.

    Only the line in progress is kept, and at most MAX_LINE bytes of it: a
    hostile upstream that sends one endless line would otherwise make every
    chunk re-split the whole buffer (quadratic CPU) and grow it without bound.
    Such a line is skipped to its end and the call's usage marked unreadable.

    With a ``redactor`` (the lab's credential is to be kept out), the stream
    goes on line by line as ``feed`` returns it: every data event parsed and
    scrubbed (gateway/proxy/redact.py; passed on as sent when that changed nothing),
    other lines scrubbed as text, line ends made ``\n``, nothing after
    ``[DONE]``, and a line too long to check not at all. Without one, ``feed``
    returns each chunk as it came.

    With ``keep`` (a stream the gateway translates), every data event is
    parsed (and scrubbed) and kept in ``kept`` for the translation to take; an
    event that does not parse is skipped (and marks usage unreadable if it
    claimed some)."""

    MAX_LINE = 1 << 20

    def __init__(self, keep: bool = False, redactor: redact.Redactor | None = None) -> None:
        self.buffer = b""
        self.skipping = False  # inside a line longer than MAX_LINE
        self.done = False  # the stream's own end marker, "data: [DONE]", has passed
        self.events = 0
        self.usage: Usage | None = None
        self.unreadable = False
        self.keep = keep
        self.kept: list[Any] = []
        self.scrub = redact.StreamScrub(redactor) if redactor else None
        self.relay = self.scrub is not None and not keep  # feed builds the bytes to pass on
        self._cr = False  # the last chunk ended in \r (scrubbing: its \n may open the next)
        self._boundary = True  # what went on ends between events

    @property
    def between_events(self) -> bool:
        """Whether what went on so far ends between two events (relaying)."""
        return self._boundary or not self.relay

    def take(self) -> list[Any]:
        """The data events kept since the last take."""
        kept, self.kept = self.kept, []
        return kept

    def feed(self, chunk: bytes) -> bytes:
        """Scan a chunk; the bytes to pass on now."""
        if self.scrub is None:
            self._scan(self._lines(chunk))
            return chunk
        if self.done:
            return b""
        if self._cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._cr = chunk.endswith(b"\r")
        if b"\r" in chunk:  # SSE ends lines in \r\n, \n or \r: one line to us is one line to the caller
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return self._scan(self._lines(chunk))

    def end(self, failed: bool = False) -> bytes:
        """The stream has ended (``failed``: broken off): what is left to pass
        on, the unfinished last line (unless it failed) and whatever the
        redaction still holds back."""
        if self.scrub is None or self.done:
            return b""
        out = b""
        if self.buffer and not self.skipping and not failed:
            out = self._line(self.buffer)
        self.buffer = b""
        if not self.done:
            out += self._flushed()
        return out

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The lines this chunk completes."""
        head, newline, tail = chunk.rpartition(b"\n")
        if not newline:  # no line ends in this chunk
            if not self.skipping:
                self.buffer += tail
                self._bound()
            return []
        lines = head.split(b"\n")
        if self.skipping:
            lines = lines[1:]  # the rest of the over-long line
        else:
            lines[0] = self.buffer + lines[0]
        self.skipping, self.buffer = False, tail
        self._bound()
        return lines

    def _bound(self) -> None:
        if len(self.buffer) > self.MAX_LINE:
            self.buffer, self.skipping, self.unreadable = b"", True, True

    def _scan(self, lines: list[bytes]) -> bytes:
        out = []
        for line in lines:
            if self.done and self.scrub is not None:
                break  # nothing after the end marker goes on
            piece = self._line(line)
            if piece:
                out.append(piece)
        return b"".join(out)

    def _line(self, line: bytes) -> bytes:
        """Scan one line; what of it to pass on (relaying only)."""
        scrub = self.scrub
        if not line.startswith(b"data:"):
            if not self.relay:
                return b""
            if not line.strip():
                self._boundary = True
                return b"\n"
            return self._as_text(line)
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.done = True
            if scrub is None:
                return b""
            return self._flushed() + (b"data: [DONE]\n\n" if self.relay else b"")
        if not payload.startswith(b"{"):
            return self._as_text(line)
        self.events += 1
        claims_usage = b'"usage"' in payload
        if not (claims_usage or self.keep or scrub is not None):
            return b""
        if self.relay and scrub is not None and not claims_usage and scrub.passes(payload):
            self._boundary = False
            return line + b"\n"  # nothing in it to scrub or hold back: as it came, unparsed
        try:
            data = json.loads(payload)
        except _UNPARSABLE:
            self.unreadable = self.unreadable or claims_usage
            return self._as_text(line)
        if scrub is not None:  # parsed anyway: the parse says whether it claims usage
            claims_usage = type(data) is dict and "usage" in data
        if claims_usage:
            found = usage_of(data)
            if any(found):
                self.usage = found
        if scrub is not None:
            try:
                data, as_sent = scrub.event(data, payload)
                if self.relay:
                    self._boundary = False
                    return line + b"\n" if as_sent else b"data: " + json.dumps(data).encode() + b"\n"
            except RecursionError:  # too deep to walk: as text
                return self._as_text(line)
        if self.keep:
            self.kept.append(data)
        return b""

    def _as_text(self, line: bytes) -> bytes:
        if not self.relay or self.scrub is None:
            return b""
        self._boundary = False
        return self.scrub.r.scrub_bytes(line) + b"\n"

    def _flushed(self) -> bytes:
        """The events that carry what the windows hold at the stream's end."""
        if self.scrub is None:
            return b""
        events = self.scrub.flush()
        if not self.relay:
            self.kept.extend(events)
            return b""
        if not events:
            return b""
        opening = b"" if self._boundary else b"\n"
        self._boundary = True
        return opening + b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def _prepare_grant_query() -> str:
    from django.db import connection

    from gateway.selectors import _grant_sql

    if connection.vendor == "postgresql":
        _grant_sql()
    return connection.vendor


class GatewayApp:
    def __init__(self) -> None:
        self._vendor: str | None = None
        self._grants = GrantCache()
        self._started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        call = self.new_call(method, path)
        try:
            if path in _GENERATE:
                if method != "POST":
                    await self._error(send, call, 405, "method_not_allowed", "Use POST.")
                    return
                await self._chat(scope, receive, send, call, translate=_GENERATE[path])
            elif path == PREFIX + "/models" or path.startswith(PREFIX + "/models/"):
                if method != "GET":
                    await self._error(send, call, 405, "method_not_allowed", "Use GET.")
                    return
                await self._models(scope, send, call, path[len(PREFIX + "/models/") :] or None)
            else:
                await self._error(send, call, 404, "not_found", "No such endpoint on this gateway.")
                return
        except ClientGone:
            call.status, call.error_code = 499, "client_disconnected"
        finally:
            await self.conclude(call)

    def new_call(self, method: str, path: str) -> Call:
        self._started += 1
        return Call(method=method, path=path, sequence=self._started)

    async def conclude(self, call: Call) -> None:
        """Settle a call that is over, however it ended (an error that escaped
        included: its reservation is still given back)."""
        if call.grant is not None:
            if not call.status and call.reserved:
                call.status, call.error_code = 500, "internal_error"
            if call.status:
                await self._settle(call)

    # Responses

    async def _respond(
        self, send: Send, call: Call, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        call.status = status
        call.response_hasher.update(body)
        call.final_sent = True
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        call.latency_ms = (time.perf_counter() - call.t0) * 1000

    async def _error(
        self,
        send: Send,
        call: Call,
        status: int,
        code: str,
        message: str,
        retry_after: int | None = None,
        param: str | None = None,
    ) -> None:
        call.error_code = code
        headers = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="stagegate-gateway"'))
        if status >= 500 or status == 429:
            logger.warning(
                "gateway call refused: status=%s code=%s token=%s", status, code, call.grant and call.grant.token_id
            )
        await self._respond(send, call, status, _error_body(status, code, message, param), headers)

    # Admission: the token, the grant, the limits

    async def _admit(
        self, scope: Scope, send: Send, call: Call, prepare: Callable[[Grant], _Prepared] | None = None
    ) -> tuple[Grant, _Prepared | None] | None:
        """The grant (and, for a model call, its request as ``prepare`` checked
        it against the grant) if the call may go ahead; else None, the refusal
        sent."""
        auth = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        scheme, _, secret = auth.decode("latin-1").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX):
            await self._error(send, call, 401, "invalid_api_key", "A gateway token (sgw_…) is required as Bearer.")
            return None
        digest = call.digest = hashlib.sha256(secret.encode()).hexdigest()
        try:
            grant, refusal, prepared = await self._grant_and_limits(digest, call, prepare)
        except GrantDbUnavailable:
            await self._error(send, call, 503, "grants_unavailable", "The gateway cannot check grants; try again.", 1)
            return None
        except GrantRefused as refused:
            call.grant = refused.grant
            await self._error(send, call, refused.status, refused.code, refused.message)
            return None
        except RedisUnavailable:
            self._grants.clear()  # an epoch bump may be lost while Redis is down
            await self._error(
                send, call, 503, "limits_unavailable", "The gateway cannot check rate limits; try again shortly.", 1
            )
            return None
        if refusal is not None:
            await self._error(send, call, refusal.status, refusal.code, refusal.message, refusal.retry_after)
            return None
        if prepared is not None and prepared.error is not None:
            status, code, message, param = prepared.error
            await self._error(send, call, status, code, message, param=param)
            return None
        return grant, prepared

    async def _grant_and_limits(
        self, digest: str, call: Call, prepare: Callable[[Grant], _Prepared] | None = None
    ) -> tuple[Grant, Refusal | None, _Prepared | None]:
        """Set ``call.grant`` (or raise GrantRefused), check the request against
        it (``prepare``: what it reserves, or why it is refused) and run the
        admission script, which reserves that much of the daily quota; the
        grant, what the script refuses, if anything, and the prepared request. One Redis
        round trip, and a database query only when the cache
        (gateway/proxy/grantcache.py) cannot answer: the admission script returns the
        grant epoch, and a cached grant read under another epoch is read again."""
        limits = limits_mod.limits()
        cache = self._grants
        cached = cache.get(digest)
        if cached is None:
            # The epoch seen before the query: any write the query misses bumps it later.
            before, generation, read_at = limits.epoch, cache.generation, time.monotonic()
            grant = call.grant = await self._grant(digest)
        else:
            grant = call.grant = cached.grant
        prepared = prepare(grant) if prepare is not None else None
        reserve = prepared.reserve if prepared is not None and prepared.error is None else 0
        refusal, epoch, call.quota_key = await limits.admit(
            token_id=grant.token_id,
            requests_per_minute=grant.requests_per_minute,
            tokens_per_day=grant.tokens_per_day,
            reserve=reserve,
        )
        call.epoch = epoch
        if refusal is None:
            call.reserved = reserve  # from here on the settlement gives back what the call does not use
        if cached is None:
            if epoch == before:
                cache.put(digest, grant, epoch, read_at, generation)
        elif epoch == cached.epoch:
            cache.hits += 1
        else:
            # Something that can change a grant was written since: read it again.
            cache.drop(digest)
            generation, read_at = cache.generation, time.monotonic()
            call.grant = None
            fresh = call.grant = await self._grant(digest)
            cache.put(digest, fresh, epoch, read_at, generation)
            if prepare is not None and (fresh.max_output_tokens, fresh.max_n, fresh.stage, fresh.audited) != (
                grant.max_output_tokens,
                grant.max_n,
                grant.stage,
                grant.audited,
            ):
                prepared = prepare(fresh)  # checked again against the bounds and the configuration now in force
            grant = fresh
        return grant, refusal, prepared

    async def _grant(self, digest: str) -> Grant:
        if self._vendor is None:
            # Compile the grant query once, off the loop (it may ask the server its version).
            self._vendor = await _in_thread(_prepare_grant_query)
        if self._vendor == "postgresql":
            return await grant_check_async(digest=digest, now=datetime.datetime.now(datetime.UTC))
        grant: Grant = await _in_thread(_check_grant, digest)
        return grant

    async def _grant_withdrawn(self, call: Call) -> tuple[int, str, str] | None:
        """Whether a stream's grant has been withdrawn since admission (a token
        revoked, a release halted, a certification suspended, ...): the refusal
        a new call would get, or None. Cheap while nothing that can change a
        grant was written (the epoch in Redis is the one admission saw); else
        the grant is read again. Fails closed: when it cannot tell, the stream
        ends as a new call would be refused."""
        try:
            epoch = await limits_mod.limits().epoch_now()
        except RedisUnavailable:
            epoch = None  # cannot tell from the epoch: read the grant itself
        if epoch is not None and epoch == call.epoch:
            return None
        self._grants.drop(call.digest)
        try:
            await self._grant(call.digest)
        except GrantRefused as refused:
            return refused.status, refused.code, refused.message
        except GrantDbUnavailable:
            return 503, "grants_unavailable", "The gateway cannot check grants; try again."
        if epoch is not None:
            call.epoch = epoch
        return None

    async def _settle(self, call: Call) -> None:
        """Hand the access-log entry off (the caller already has the response)."""
        grant = call.grant
        if grant is None:
            return
        if not call.latency_ms:
            call.latency_ms = (time.perf_counter() - call.t0) * 1000
        busy = self._started != call.sequence  # more calls came: one will carry this
        # Bookkeeping waits its turn: the calls whose answers arrived with this
        # one's are answered first.
        await asyncio.sleep(0)
        line = call.entry(grant).encode()
        # On local disk first (gateway/proxy/spool.py): a Redis that loses the
        # entry before the drain has it does not lose it from the log.
        spool = spool_for(settings.STAGEGATE_GATEWAY_SPOOL_DIR)
        spooled = spool.append(line) if spool is not None else None
        try:
            await limits_mod.limits().settle(
                quota_key=call.quota_key or limits_mod.quota_key(grant.token_id),
                tokens_used=call.charge(),
                reserved=call.reserved,
                entry=line,
                busy=busy,
                spooled=spooled,
            )
        except RedisUnavailable:
            self._grants.clear()
            # Lose nothing: write this one straight to the database.
            stored = False
            try:
                await _in_thread(_store_direct, f"direct-{call.call_id}", line)
                stored = True
            except Exception:
                logger.exception("gateway access log: could not store call of token %s", grant.token_id)
            finally:
                if spooled is not None:
                    # Not stored (or cancelled meanwhile): the spool replays it once Redis is back.
                    (spooled.spool.stored if stored else spooled.spool.lost)(spooled)

    # Routes

    async def _models(self, scope: Scope, send: Send, call: Call, model_id: str | None) -> None:
        admitted = await self._admit(scope, send, call)
        if admitted is None:
            return
        grant = admitted[0]
        card = {"id": grant.model_id, "object": "model", "created": grant.created, "owned_by": grant.lab_id}
        if model_id is None:
            body = json.dumps({"object": "list", "data": [card]}).encode()
        elif model_id in (grant.model_id, grant.system_version_id):
            body = json.dumps(card).encode()
        else:
            await self._error(send, call, 404, "model_not_found", "This token does not grant that model.")
            return
        await self._respond(send, call, 200, body)

    async def _chat(self, scope: Scope, receive: Receive, send: Send, call: Call, translate: bool = False) -> None:
        """A call to the model: a chat completion passed through, or (``translate``)
        a Responses API request made into one (gateway/proxy/responses_api.py)."""
        try:
            raw = await self._read_body(receive)
        except BodyTooLarge:
            await self._error(send, call, 413, "request_too_large", "The request body is too large.")
            return
        call.request_sha256 = hashlib.sha256(raw).hexdigest()
        plan = await self._plan(scope, raw, send, call, translate)
        if plan is None:
            return
        # The call runs in this task: a task of its own would put every call
        # of a burst behind the whole burst once more before its upstream
        # request went out. The watcher cancels this task if the caller goes;
        # it can only run while this task waits inside the try block, so the
        # cancellation lands there.
        task = asyncio.current_task()
        if task is None:  # pragma: no cover (an ASGI app always runs in a task)
            raise RuntimeError("the gateway runs in a task")
        watcher = asyncio.ensure_future(self._watch_disconnect(receive, call, task))
        try:
            await self._forward(send, call, plan.url, plan.payload, plan.headers, plan.redactor, plan.translation)
        except asyncio.CancelledError:
            if call.error_code != "client_disconnected" or not watcher.done():
                raise
            task.uncancel()
        finally:
            watcher.cancel()

    async def _plan(self, scope: Scope, raw: bytes, send: Send, call: Call, translate: bool) -> Plan | None:
        """Admit a model call whose body is ``raw`` and make its upstream
        request; None when it is refused (the refusal sent). The Python data
        plane and the nginx plane's hook (gateway/proxy/hook.py) both come
        through here, so every rule up to the upstream call has one home."""
        admitted = await self._admit(scope, send, call, functools.partial(_prepare, raw, translate))
        if admitted is None:
            return None
        grant, prepared = admitted
        if prepared is None or prepared.body is None:  # pragma: no cover (admission refuses what it cannot prepare)
            raise RuntimeError("an admitted model call has its request")
        body, translation = prepared.body, prepared.translation
        try:
            credential = _credential(grant.credential_ciphertext)
        except CredentialUnreadable:
            await self._error(send, call, 502, "upstream_credential_unavailable", "The lab's credential is unusable.")
            return None
        body["model"] = grant.endpoint_model
        call.upstream_model = grant.endpoint_model
        call.stream = body.get("stream") is True
        try:
            payload = _encode(body)
        except RecursionError:
            await self._error(send, call, 400, "invalid_json", "The request body's JSON nests too deeply.")
            return None
        headers = [("Content-Type", "application/json"), ("Accept-Encoding", "identity")]
        if credential:
            headers.append(("Authorization", f"Bearer {credential}"))
        return Plan(
            url=grant.endpoint_base_url.rstrip("/") + "/chat/completions",
            payload=payload,
            headers=headers,
            redactor=redact.redactor_for(credential) if credential else None,
            translation=translation,
        )

    async def _watch_disconnect(self, receive: Receive, call: Call, task: asyncio.Task[Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not call.final_sent:
                    call.status, call.error_code = 499, "client_disconnected"
                    call.latency_ms = (time.perf_counter() - call.t0) * 1000
                    logger.warning("gateway call: client disconnected (token %s)", call.grant and call.grant.token_id)
                    task.cancel()
                return

    async def _read_body(self, receive: Receive) -> bytes:
        limit = settings.STAGEGATE_GATEWAY_MAX_REQUEST_BYTES
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _forward(
        self,
        send: Send,
        call: Call,
        url: str,
        payload: bytes,
        headers: list[tuple[str, str]],
        redactor: redact.Redactor | None,
        translation: responses_api.Translation | None = None,
    ) -> None:
        try:
            response = await upstream.send(url, payload, headers)
        except httpx.TimeoutException:
            await self._error(send, call, *CONNECT_FAILURES["timeout"])
            return
        except upstream.UpstreamAddressRefused:
            await self._error(send, call, *CONNECT_FAILURES["address_refused"])
            return
        except httpx.HTTPError:
            await self._error(send, call, *CONNECT_FAILURES["unreachable"])
            return
        if call.grant is not None:
            # What the endpoint claims served this answer, against the audited digests.
            call.attestation = attestation_outcome(response.headers.get(ATTESTATION_HEADER), call.grant.audited)
        try:
            if call.stream and response.status_code == 200:
                await self._relay_stream(send, call, response, redactor, translation)
            else:
                await self._relay_whole(send, call, response, redactor, translation)
        finally:
            await response.aclose()

    async def _read_limited(self, response: upstream.UpstreamResponse) -> bytes:
        limit = settings.STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def _relay_whole(
        self,
        send: Send,
        call: Call,
        response: upstream.UpstreamResponse,
        redactor: redact.Redactor | None,
        translation: responses_api.Translation | None = None,
    ) -> None:
        try:
            raw = await self._read_limited(response)
        except BodyTooLarge:
            await self._error(send, call, 502, "upstream_response_too_large", "The model's answer is too large.")
            return
        except httpx.TimeoutException:
            await self._error(send, call, 504, "upstream_timeout", "The model did not answer in time.")
            return
        except httpx.HTTPError:
            await self._error(send, call, 502, "upstream_error", "The connection to the model failed.")
            return
        status = response.status_code
        if status in (401, 403):
            await self._error(send, call, 502, "upstream_auth_failed", "The model's endpoint refused the lab's key.")
            return
        if status == 429:
            retry = response.headers.get("retry-after", "")
            await self._error(
                send, call, 429, "upstream_rate_limited", "The model's endpoint is rate limiting.", _retry_after(retry)
            )
            return
        if status >= 500 or status < 200 or 300 <= status < 400:
            await self._error(send, call, 502, "upstream_error", f"The model's endpoint failed (HTTP {status}).")
            return
        try:
            data = json.loads(raw)
            if redactor is not None:  # every string the caller could read (gateway/proxy/redact.py)
                data, raw = redact.scrub_document(redactor, data, raw)
        except _UNPARSABLE:  # nested too deeply included: a logged 502, never a 500
            await self._error(send, call, 502, "upstream_malformed", "The model's endpoint sent malformed JSON.")
            return
        if status >= 400:
            # The upstream's own complaint about the request (bad parameters): pass it on.
            if not isinstance(data, dict) or "error" not in data:
                raw = _error_body(status, "upstream_rejected", "The model's endpoint rejected the request.")
            call.error_code = "upstream_rejected"
            await self._respond(send, call, status, raw)
            return
        usage = usage_of(data)
        call.set_usage(usage)
        if translation is not None:
            try:
                reported = type(data) is dict and data.get("usage") is not None
                raw = translation.whole(data, usage if reported else None)
            except responses_api.UpstreamMalformed:
                await self._error(
                    send, call, 502, "upstream_malformed", "The model's endpoint sent no chat completion."
                )
                return
        await self._respond(send, call, 200, raw)

    async def _relay_stream(
        self,
        send: Send,
        call: Call,
        response: upstream.UpstreamResponse,
        redactor: redact.Redactor | None,
        translation: responses_api.Translation | None = None,
    ) -> None:
        """Relay an event stream as it comes: the upstream's own events
        (scrubbed of the credential, SseScanner), or (``translation``) the
        Responses events made from them, which end as soon as the upstream's
        [DONE] has passed. A translation keeps the answer for its final event,
        so its stream is bounded like a whole answer
        (STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES)."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        call.status = 200
        scanner = SseScanner(keep=translation is not None, redactor=redactor)
        events = translation.stream() if translation is not None else None
        if events is not None:
            opening = events.start()
            call.response_hasher.update(opening)
            await send({"type": "http.response.body", "body": opening, "more_body": True})
        failure: tuple[int, str, str] | None = None
        held = b""  # translated events that go out with the terminal one
        left = settings.STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES
        every = settings.STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS
        recheck_at = time.monotonic() + every
        chunks = aiter(response.aiter_raw())  # one iterator: read to its end after [DONE], below
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if time.monotonic() >= recheck_at:
                    # A grant withdrawn mid-stream ends the stream, as it refuses new calls.
                    withdrawn = await self._grant_withdrawn(call)
                    recheck_at = time.monotonic() + every
                    if withdrawn is not None:
                        failure = withdrawn
                        call.read_partly = True  # the caller had the events so far: the quota counts them
                        break
                out = scanner.feed(chunk)
                if scanner.done and scanner.relay:
                    # Nothing after [DONE] goes on: it ends the caller's body at
                    # once, in one write with the body's end (not one more).
                    held = out
                    break
                if events is not None:
                    left -= len(chunk)
                    if left < 0:
                        failure = (502, "upstream_response_too_large", "The model's answer is too large.")
                        break
                    out = events.feed(scanner.take())
                    if scanner.done or events.finished:
                        # The terminal event follows at once: the SDK reads a
                        # Responses stream until the body ends, not to [DONE].
                        held = out
                        break
                if not out:
                    continue
                call.response_hasher.update(out)
                await send({"type": "http.response.body", "body": out, "more_body": True})
                if scanner.done:
                    # The caller has the whole answer: a client that hangs up
                    # now (the openai SDK does) has not abandoned the call.
                    call.final_sent = True
        except httpx.TimeoutException:
            failure = STREAM_FAILURES["timeout"]
        except httpx.HTTPError:
            failure = STREAM_FAILURES["error"]
        except asyncio.CancelledError:
            # The caller went away (the disconnect watcher): it read the events
            # relayed so far, which the quota counts.
            stream_usage(call, scanner.usage, scanner.events, scanner.unreadable, abandoned=True)
            call.read_partly = True
            raise
        # What the redaction still held back (the stream ended without [DONE], or broke off).
        rest = scanner.end(failed=failure is not None)
        if events is not None and not events.finished:
            rest = events.feed(scanner.take())
        if events is not None and failure is None and not (scanner.events or scanner.done):
            failure = (502, "upstream_malformed", "The model's endpoint sent no event stream.")
        usage = scanner.usage
        stream_usage(call, usage, scanner.events, scanner.unreadable)
        tail = held + rest
        if failure is not None:
            call.status, call.error_code = failure[0], failure[1]
            logger.warning("gateway stream failed: code=%s token=%s", failure[1], call.grant and call.grant.token_id)
            if events is None:
                tail += (b"" if scanner.between_events else b"\n") + b"data: " + _error_body(*failure) + b"\n\n"
            else:
                tail += events.fail(*failure[1:], usage)
        elif events is not None:
            if events.upstream_failed:
                call.status, call.error_code = 502, "upstream_error"
                logger.warning(
                    "gateway stream failed: code=upstream_error token=%s", call.grant and call.grant.token_id
                )
            tail += events.finish(usage)
        call.response_hasher.update(tail)
        call.final_sent = True
        await send({"type": "http.response.body", "body": tail, "more_body": False})
        call.latency_ms = (time.perf_counter() - call.t0) * 1000
        if failure is None and events is None and scanner.done:
            # The caller has its answer; read the upstream's body to its end so
            # that its connection can serve another call (what follows [DONE] is dropped).
            with contextlib.suppress(httpx.HTTPError):
                async for _ in chunks:
                    pass


application = GatewayApp()


def close_db_connections() -> None:
    """Close the database connections the gateway's threads hold (tests that
    drop their database call this; a server process just exits)."""
    import threading

    from django.db import connections

    from gateway.proxy.grantdb import close_all_sync

    close_all_sync()
    alive = len(getattr(_executor, "_threads", ()))
    if not alive:
        return
    barrier = threading.Barrier(alive)

    def close() -> None:
        connections.close_all()
        barrier.wait(timeout=5)  # one task per thread: each waits for the others

    for future in [_executor.submit(close) for _ in range(alive)]:
        future.result(timeout=10)
