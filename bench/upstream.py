"""A minimal OpenAI-compatible upstream for the benchmark: answers every chat
completion after a fixed delay (BENCH_DELAY_MS), or streams BENCH_CHUNKS
events spread over that delay. Run with uvicorn: bench.upstream:app."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

DELAY = float(os.environ.get("BENCH_DELAY_MS", "50")) / 1000
CHUNKS = int(os.environ.get("BENCH_CHUNKS", "10"))
REPLY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok " * 20}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }
).encode()
CHUNK = (
    b"data: "
    + json.dumps(
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "ok "}}]}
    ).encode()
    + b"\n\n"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if b'"stream": true' in body or b'"stream":true' in body:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for _ in range(CHUNKS):
            await asyncio.sleep(DELAY / CHUNKS)
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        return
    await asyncio.sleep(DELAY)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(REPLY)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": REPLY})
