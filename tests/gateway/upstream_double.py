"""A scripted OpenAI-compatible upstream for the gateway tests: a small ASGI
app served by uvicorn in a thread. Tests set ``mode`` and read ``requests``.

It can also be hostile, as a lab's endpoint may be: ``usage`` is the usage
object it reports (any JSON: huge counts, negatives, bools, floats, strings);
modes ``deep`` and ``deep_stream`` answer with JSON nested deeper than a
parser's recursion limit; ``rate429`` answers 429 with ``retry_after`` as the
raw Retry-After header."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import uvicorn

USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nested(depth: int) -> bytes:
    """A JSON array nested ``depth`` levels deep (deeper than json's recursion limit at 100,000)."""
    return b"[" * depth + b"]" * depth


def completion(request: dict[str, Any], usage: Any = USAGE) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "Hello from upstream."}
    finish = "stop"
    if request.get("tools"):
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


def chunks(request: dict[str, Any], usage: Any = USAGE) -> list[bytes]:
    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": request.get("model", "?"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    if request.get("tools"):
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
            event({"tool_calls": [{"index": 0, "function": {"arguments": '{"ticker": "LING"}'}}]}),
            event({}, "tool_calls"),
        ]
    else:
        out = [event({"role": "assistant", "content": ""}), event({"content": "Hello"}), event({"content": " world"})]
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

    def reset(self) -> None:
        self.mode = "ok"
        self.requests.clear()
        self.echo = ""
        self.open_streams = self.closed_streams = 0
        self.usage = USAGE
        self.retry_after = b"1"

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

        async def reply(status: int, body: bytes, ctype: bytes = b"application/json", extra: Any = ()) -> None:
            headers = [(b"content-type", ctype), *extra]
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
        elif request.get("stream"):
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            self.open_streams += 1
            try:
                events = chunks(request, self.usage)
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
                for e in events:
                    await send({"type": "http.response.body", "body": e, "more_body": True})
                    await asyncio.sleep(0.005)
                if mode == "linger_after_done":  # [DONE] sent, the connection held open a while (llama.cpp does)
                    await asyncio.sleep(1.0)
                await send({"type": "http.response.body", "body": b""})
            finally:
                self.closed_streams += 1
        else:
            await reply(200, json.dumps(completion(request, self.usage)).encode())


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
