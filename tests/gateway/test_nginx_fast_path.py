"""The nginx plane's fast path (gateway/nginx/sg_sse.lua) held to the Python
scanner's rule, line by line: whatever the fast path lets through as it came,
the Python path (SseScanner with the call's Redactor) must pass unchanged too,
holding nothing back. The gateway's redaction tests reach the fast path only
through the streams they happen to send; this runs a corpus of lines built to
sit on its edges (every form of the credential, in any case, in every field,
split, escaped, ending in a form's beginning) and a seeded random one,
through the Lua itself, in nginx."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.proxy import redact
from gateway.proxy.hook import fast_path
from gateway.proxy.server import SseScanner
from tests.gateway.conftest import CREDENTIAL
from tests.gateway.planes import nginx_binary
from tests.gateway.upstream_double import free_port

ENDPOINT = """
content_by_lua_block {
  local cjson = require "cjson.safe"
  local sse = require "sg_sse"
  ngx.req.read_body()
  local req = cjson.decode(ngx.req.get_body_data())
  local f = sse.fast(req.fast)
  local out = {}
  for i, line in ipairs(req.lines) do
    out[i] = sse.passes(f, line) or false
  end
  ngx.print(cjson.encode(out))
}
"""


@pytest.fixture(scope="module")
def lua() -> Iterator[str]:
    """nginx running the plane's Lua behind one test location; its URL."""
    from gateway.proxy import nginx

    binary = nginx_binary()
    state = Path(tempfile.mkdtemp(prefix="stagegate-fastpath-"))
    port = free_port()
    (state / "nginx.conf").write_text(
        f"""{nginx.preamble()}daemon off; master_process off; pid {state}/nginx.pid; error_log {state}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {state};
  lua_package_path "{nginx.LUA}/?.lua;/usr/share/lua/5.1/?.lua;;";
  server {{
    listen 127.0.0.1:{port};
    location = /passes {{ client_max_body_size 0; client_body_buffer_size 16m; {ENDPOINT} }}
  }}
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-p", str(state), "-c", str(state / "nginx.conf"), "-e", str(state / "error.log")]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/passes"
    process.terminate()
    process.wait(10)
    shutil.rmtree(state, ignore_errors=True)


def event(**fields: object) -> str:
    return "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [{"delta": fields}]})


def corpus(forms: list[str]) -> list[str]:
    benign = [event(content=text) for text in ("hello", "ok ", "The answer is 42.", "")]
    lines = [*benign, ": keep-alive", "event: message", "id: 7", "data: plain text", "data: 42"]
    lines += [event(content=text) for text in (" s", "skate", "k-lab", "s", "S")]
    for form in forms:
        for shown in {form, form.upper(), form.title(), form.swapcase()}:
            lines += [
                event(content=shown),
                event(content=f"Your key is {shown}."),
                event(role="assistant", content="x", name=shown),
                event(reasoning_content=shown),
                event(tool_calls=[{"function": {"arguments": json.dumps({"key": shown})}}]),
                event(refusal=shown[: len(shown) // 2]),  # a form's beginning at the value's end
                event(content=shown[:-1]),
                event(content=shown[:3]),
                "data: " + json.dumps({"id": shown, "choices": []}),
                f"data: {shown}",
                f": {shown}",
                f"event: {shown}",
                event(content=json.dumps(shown)[1:-1].replace("-", "\\u002d")),  # escaped in JSON
                event(content=shown.replace("-", "%2D")),  # percent-encoded
                event(content=shown.replace("-", "&#45;")),  # an HTML entity
            ]
            half = len(shown) // 2
            lines.append(
                "data: " + json.dumps({"choices": [{"delta": {"content": shown[:half], "refusal": shown[half:]}}]})
            )
    return lines


def fuzz(forms: list[str], n: int, seed: int) -> list[str]:
    """Lines assembled from pieces of the forms, words and JSON punctuation."""
    rng = random.Random(seed)
    pieces = [
        *(f[: rng.randint(1, len(f))] for f in forms for _ in range(3)),
        *(f[rng.randint(0, len(f) - 1) :] for f in forms),
    ]
    pieces += ["hello ", "sk", "-", " ", "\u00e9", "\\", '"', "%", "&", "lab", "KEY", "0123", "{", "}"]
    lines = []
    for _ in range(n):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        field = rng.choice(["content", "refusal", "reasoning", "arguments", "name", "text"])
        if rng.random() < 0.2:
            lines.append(f"data: {text}")
        else:
            lines.append(event(**{field: text}))
    return lines


def python_passes(redactor: redact.Redactor, line: str) -> bool:
    """Whether the Python path passes ``line`` unchanged, holding nothing back."""
    scanner = SseScanner(redactor=redactor)
    out = scanner._scan([line.encode()])
    held = scanner.scrub is not None and any(w.buffer for w in scanner.scrub.windows.values())
    return out == line.encode() + b"\n" and not held


@pytest.mark.parametrize("credential", [CREDENTIAL, "sk-Short-9", "Bearer-token.with.dots_and_underscores-42"])
def test_what_the_fast_path_passes_the_python_scanner_passes_unchanged(lua, credential):
    redactor = redact.Redactor(credential)
    spec = fast_path(redactor)
    assert spec is not None  # these credentials have forms JSON shows as they are
    lines = corpus(spec["forms"]) + fuzz(spec["forms"], 400, seed=len(credential))
    verdicts = httpx.post(lua, json={"fast": spec, "lines": lines}, timeout=30).json()
    assert len(verdicts) == len(lines)
    wrong = [
        line for line, verdict in zip(lines, verdicts, strict=True) if verdict and not python_passes(redactor, line)
    ]
    assert wrong == []
    # And it is a fast path: plain answers pass it without the hook.
    assert verdicts[:4] == ["event"] * 4
    assert verdicts[4:9] == ["text"] * 5
    passed = sum(bool(v) for v in verdicts)
    assert 0 < passed < len(lines)
