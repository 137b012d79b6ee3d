"""A scripted OpenAI-compatible upstream for the gateway tests: a small ASGI
app served by uvicorn in a thread. Tests set ``mode`` and read ``requests``.

It can also be hostile, as a lab's endpoint may be: ``usage`` is the usage
object it reports (any JSON: huge counts, negatives, bools, floats, strings);
modes ``deep`` and ``deep_stream`` answer with JSON nested deeper than a
parser's recursion limit; ``rate429`` answers 429 with ``retry_after`` as the
raw Retry-After header; ``leak`` answers (and streams, split across chunks)
text holding ``echo``, ``leak_escaped`` the same with every character of the
text JSON-escaped; ``echo`` echoes ``echo`` in the encoding ``encoding``
(tests/gateway/credential_forms.py): whole, in the text, an extra field and a
tool call's arguments; streamed, in text (or arguments, when the request has
tools) split at every position, one copy per position, and with
``chunk_bytes`` the stream's bytes sent that many at a time; ``delay`` holds
every answer back that many seconds (calls in flight together); ``length`` stops
at the length limit; ``not_a_completion``
answers 200 with JSON that has usage but no choices (to a streamed request
too); ``stream_error`` reports an error in the middle of a stream; ``trickle``
streams a long answer slowly (a stream still running when a test changes
something).

A request whose last message is a tool result is answered with text naming
that result (the end of a function-call round trip)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from typing import Any

import uvicorn

from tests.gateway.credential_forms import ENCODINGS

USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nested(depth: int) -> bytes:
    """A JSON array nested ``depth`` levels deep (deeper than json's recursion limit at 100,000)."""
    return b"[" * depth + b"]" * depth


def tool_result(request: dict[str, Any]) -> str | None:
    """The tool result the request ends with, if it does."""
    messages = request.get("messages") or [{}]
    return messages[-1].get("content") if messages[-1].get("role") == "tool" else None


def completion(request: dict[str, Any], usage: Any = USAGE, text: str = "Hello from upstream.") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = "stop"
    result = tool_result(request)
    if result is not None:
        message["content"] = f"The tool said: {result}"
    elif request.get("tools"):
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": request["tools"][0]["function"]["name"], "arguments": '{"ticker": "LING"}'},
                }
            ],
        }
        finish = "tool_calls"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": request.get("model", "?"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def raw_json(value: Any, encoding: str = "plain") -> str:
    """JSON text for ``value``; with ``json_unicode`` every character of every
    string escaped (\\uXXXX), with ``json_solidus`` every '/' (\\/)."""
    text = json.dumps(value)
    if encoding == "json_unicode":
        return re.sub(
            r'"((?:[^"\\]|\\.)*)"',
            lambda m: '"' + "".join(f"\\u{ord(c):04x}" for c in json.loads(m.group(0))) + '"',
            text,
        )
    if encoding == "json_solidus":
        return text.replace("/", "\\/")
    return text


def split_everywhere(text: str) -> list[str]:
    """Pieces that hold ``text`` once whole and then once split at each position."""
    pieces = ["Key: " + text + ". Key: " + text[:1]]
    for i in range(1, len(text) - 1):
        pieces.append(text[i:] + ". Key: " + text[: i + 1])
    pieces.append(text[len(text) - 1 :] + ".")
    return pieces


def chunks(
    request: dict[str, Any],
    usage: Any = USAGE,
    pieces: tuple[str, ...] = ("Hello", " world"),
    encoding: str = "plain",
    arguments: tuple[str, ...] = ('{"ticker": "LING"}',),
) -> list[bytes]:
    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": request.get("model", "?"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + raw_json(body, encoding).encode() + b"\n\n"

    result = tool_result(request)
    if result is not None:
        pieces = ("The tool said: ", result)
    if request.get("tools") and result is None:
        name = request["tools"][0]["function"]["name"]
        out = [
            event({"role": "assistant", "content": None}),
            event(
                {
                    "tool_calls": [
                        {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
                    ]
                }
            ),
            *[event({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in arguments],
            event({}, "tool_calls"),
        ]
    else:
        out = [event({"role": "assistant", "content": ""}), *[event({"content": piece}) for piece in pieces]]
        out.append(event({}, "stop"))
    if (request.get("stream_options") or {}).get("include_usage"):
        out.append(
            b"data: "
            + json.dumps(
                {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage}
            ).encode()
            + b"\n\n"
        )
    out.append(b"data: [DONE]\n\n")
    return out


class ScriptedUpstream:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.echo = ""  # what error modes echo back (the tests put the credential here)
        self.open_streams = 0
        self.closed_streams = 0
        self.usage: Any = USAGE  # what it reports as usage
        self.retry_after = b"1"  # the raw Retry-After of mode rate429
        self.encoding = "plain"  # how mode echo writes ``echo`` (credential_forms.ENCODINGS)
        self.chunk_bytes = 0  # mode echo, streamed: send the stream this many bytes at a time
        self.delay = 0.0  # seconds every answer waits first (calls in flight together)
        self.attestation: str | None = None  # the Stagegate-Attestation header on every answer

    def reset(self) -> None:
        self.mode = "ok"
        self.requests.clear()
        self.echo = ""
        self.open_streams = self.closed_streams = 0
        self.usage = USAGE
        self.retry_after = b"1"
        self.encoding = "plain"
        self.chunk_bytes = 0
        self.delay = 0.0
        self.attestation = None

    def echoed(self) -> str:
        return ENCODINGS[self.encoding](self.echo)

    def echo_whole(self, request: dict[str, Any]) -> bytes:
        """Mode echo: a whole answer with the echo in its text, an extra field
        and (when the request has tools) a tool call's arguments."""
        answer = completion(request, self.usage, f"Your key is {self.echoed()}.")
        answer["system_fingerprint"] = self.echoed()
        for call in answer["choices"][0]["message"].get("tool_calls") or []:
            call["function"]["arguments"] = json.dumps({"key": self.echoed()})
        return raw_json(answer, self.encoding).encode()

    def echo_stream(self, request: dict[str, Any]) -> list[bytes]:
        pieces = split_everywhere(self.echoed())
        if request.get("tools"):
            return chunks(request, self.usage, encoding=self.encoding, arguments=tuple(pieces))
        return chunks(request, self.usage, tuple(pieces), encoding=self.encoding)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            m = await receive()
            raw += m.get("body", b"")
            if not m.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        request = json.loads(raw) if raw else {}
        self.requests.append({"path": scope["path"], "headers": headers, "json": request, "raw": raw})
        mode = self.mode
        if self.delay:
            await asyncio.sleep(self.delay)

        attested = [] if self.attestation is None else [(b"stagegate-attestation", self.attestation.encode())]

        async def reply(status: int, body: bytes, ctype: bytes = b"application/json", extra: Any = ()) -> None:
            headers = [(b"content-type", ctype), *attested, *extra]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        if mode == "hang":  # answer nothing until the gateway goes away
            self.open_streams += 1
            try:
                while (await asyncio.wait_for(receive(), 30))["type"] != "http.disconnect":
                    pass
            finally:
                self.closed_streams += 1
            return
        if mode == "slow":
            await asyncio.sleep(3)
            await reply(200, json.dumps(completion(request, self.usage)).encode())
        elif mode == "error500":
            await reply(500, f"internal error; key={self.echo}".encode(), b"text/plain")
        elif mode == "auth401":
            await reply(401, json.dumps({"error": {"message": f"Incorrect API key provided: {self.echo}"}}).encode())
        elif mode == "bad400":
            await reply(400, json.dumps({"error": {"message": f"bad temperature (key {self.echo})"}}).encode())
        elif mode == "malformed":
            await reply(200, b"{not json")
        elif mode == "deep":
            await reply(200, b'{"id": "chatcmpl-1", "choices": ' + nested(100_000) + b', "usage": {"total_tokens": 1}}')
        elif mode == "rate429":
            await reply(429, b'{"error": {"message": "slow down"}}', extra=[(b"retry-after", self.retry_after)])
        elif mode == "not_a_completion":
            await reply(200, json.dumps({"object": "chat.completion", "usage": self.usage}).encode())
        elif mode == "echo" and not request.get("stream"):
            await reply(200, self.echo_whole(request))
        elif mode == "leak_escaped":
            text = "".join(f"\\u{ord(c):04x}" for c in f"Your key is {self.echo}.")
            body = json.dumps(completion(request, self.usage)).replace("Hello from upstream.", text)
            await reply(200, body.encode())
        elif request.get("stream"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), *attested],
                }
            )
            self.open_streams += 1
            try:
                if mode == "leak":  # the secret split across two chunks
                    half = len(self.echo) // 2
                    events = chunks(request, self.usage, ("Your key is ", self.echo[:half], self.echo[half:], "."))
                elif mode == "echo":
                    events = self.echo_stream(request)
                    if self.chunk_bytes:
                        whole, size = b"".join(events), self.chunk_bytes
                        events = [whole[i : i + size] for i in range(0, len(whole), size)]
                else:
                    events = chunks(request, self.usage)
                if mode == "length":
                    events = [e.replace(b'"finish_reason": "stop"', b'"finish_reason": "length"') for e in events]
                if mode == "stream_error":
                    events.insert(2, b'data: {"error": {"message": "overloaded"}}\n\n')
                if mode == "deep_stream":  # a usage event nested too deep to parse, then the end
                    events.insert(-1, b'data: {"usage": {"prompt_tokens": ' + nested(100_000) + b"}}\n\n")
                if mode == "stream_cut":
                    await send({"type": "http.response.body", "body": events[0], "more_body": True})
                    raise RuntimeError("upstream dies mid-stream")
                if mode == "stream_hang":
                    await send({"type": "http.response.body", "body": events[0], "more_body": True})
                    # Hang until the gateway goes away (uvicorn reports that as http.disconnect).
                    while (await asyncio.wait_for(receive(), 30))["type"] != "http.disconnect":
                        pass
                    return
                if mode == "trickle":  # a long answer, one word every 50 ms (about 10 s in all)
                    events = chunks(request, self.usage, tuple(f" word{i}" for i in range(200)))
                for e in events:
                    await send({"type": "http.response.body", "body": e, "more_body": True})
                    await asyncio.sleep(0.05 if mode == "trickle" else 0.001 if mode == "echo" else 0.005)
                if mode == "linger_after_done":  # [DONE] sent, the connection held open a while (llama.cpp does)
                    await asyncio.sleep(1.0)
                await send({"type": "http.response.body", "body": b""})
            finally:
                self.closed_streams += 1
        else:
            answer = completion(
                request, self.usage, f"Your key is {self.echo}." if mode == "leak" else "Hello from upstream."
            )
            if mode == "length":
                answer["choices"][0]["finish_reason"] = "length"
            await reply(200, json.dumps(answer).encode())


class ThreadServer:
    """uvicorn serving an ASGI app in a background thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
