"""The lab's credential never reaches a caller, in any of its encodings,
whole or streamed, on every route (the reliability issue, item 5).

The scripted upstream plays an endpoint that echoes the credential it was
called with: plain, JSON-escaped, case-changed, reversed, percent-encoded, hex,
base64 and base64url at each byte alignment, HTML references, escapes left in
the text (tests/gateway/credential_forms.py). Whole answers carry it in the
text, an extra field and a tool call's arguments; streams carry one copy split
at every position of the encoded text, across events (and, with
``chunk_bytes``, across network chunks). ``leaks`` checks what the caller got
without the gateway's own code."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from gateway.models import GatewayCall
from gateway.services import access_log_drain
from tests.gateway.conftest import build
from tests.gateway.credential_forms import ENCODINGS, HARD_CREDENTIAL, leaks
from tests.gateway.upstream_double import split_everywhere

ALL = list(ENCODINGS)
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@pytest.fixture
def hard(reference_data: Any, upstream: Any, gateway_url: str) -> Any:
    """A system whose endpoint credential is HARD_CREDENTIAL, served by an
    upstream that echoes it."""
    upstream.reset()
    scene = build(upstream, gateway_url, credential=HARD_CREDENTIAL)
    upstream.mode, upstream.echo = "echo", HARD_CREDENTIAL
    yield scene
    upstream.reset()


def call(scene: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    body = {"model": scene.model, **body}
    return httpx.post(scene.base_url + path, headers=scene.headers(), json=body, timeout=30)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def chat_events(raw: bytes) -> list[dict[str, Any]]:
    lines = [line for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[6:]) for line in lines[:-1]]


def joined(events: list[dict[str, Any]], *path: str) -> str:
    """The text a client joins from the streamed deltas at ``path`` (choice 0)."""
    out = []
    for event in events:
        for choice in event.get("choices") or []:
            value: Any = choice.get("delta") or {}
            for key in path:
                if isinstance(value, list):
                    value = value[0] if value else {}
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, str):
                out.append(value)
    return "".join(out)


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        found = leaks(text, HARD_CREDENTIAL)
        assert not found, (found, text[:300])


@pytest.mark.parametrize("encoding", ALL)
def test_a_whole_chat_completion(hard, encoding):
    hard.upstream.encoding = encoding
    r = call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200
    data = r.json()
    assert_no_leak(r.text, *strings(data))
    text = data["choices"][0]["message"]["content"]
    assert text.startswith("Your key is ") and "[redacted]" in text
    assert "[redacted]" in data["system_fingerprint"]  # any field, not only the text


@pytest.mark.parametrize("encoding", ["plain", "json_unicode", "escaped_in_text", "base64_1", "percent"])
def test_a_whole_chat_completions_tool_call(hard, encoding):
    hard.upstream.encoding = encoding
    r = call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": TOOLS})
    assert r.status_code == 200
    [tool_call] = r.json()["choices"][0]["message"]["tool_calls"]
    assert_no_leak(r.text, tool_call["function"]["arguments"], *strings(r.json()))
    assert "[redacted]" in json.loads(tool_call["function"]["arguments"])["key"]


@pytest.mark.parametrize("encoding", ALL)
def test_a_streamed_chat_completion_split_at_every_position(hard, encoding):
    hard.upstream.encoding = encoding
    r = call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": True})
    assert r.status_code == 200
    events = chat_events(r.content)
    text = joined(events, "content")
    assert_no_leak(r.text, text, *[s for e in events for s in strings(e)])
    n = len(split_everywhere(hard.upstream.echoed()))
    assert text.count("Key: ") == n and text.count("[redacted]") == n  # one copy per split position
    assert text.endswith(".")  # the text after each copy went on
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("encoding", ["plain", "json_unicode", "json_solidus", "hex", "base64url_2", "percent"])
def test_streamed_tool_call_arguments_split_at_every_position(hard, encoding):
    hard.upstream.encoding = encoding
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True, "tools": TOOLS}
    r = call(hard, "/chat/completions", body)
    events = chat_events(r.content)
    arguments = joined(events, "tool_calls", "function", "arguments")
    assert_no_leak(r.text, arguments)
    assert arguments.count("[redacted]") == len(split_everywhere(hard.upstream.echoed()))


def test_a_stream_split_across_network_chunks_too(hard):
    """Seven bytes at a time: escapes, events and lines all cut."""
    hard.upstream.encoding, hard.upstream.chunk_bytes = "json_unicode", 7
    r = call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": True})
    text = joined(chat_events(r.content), "content")
    assert_no_leak(r.text, text)
    assert text.count("[redacted]") == len(split_everywhere(HARD_CREDENTIAL))


@pytest.mark.parametrize("encoding", ALL)
def test_a_whole_translated_response(hard, encoding):
    hard.upstream.encoding = encoding
    r = call(hard, "/responses", {"input": "x"})
    assert r.status_code == 200
    assert_no_leak(r.text, *strings(r.json()))
    assert "[redacted]" in r.json()["output"][0]["content"][0]["text"]


@pytest.mark.parametrize("encoding", ALL)
def test_a_translated_stream_split_at_every_position(hard, encoding):
    from tests.gateway.test_responses_api import sse

    hard.upstream.encoding = encoding
    r = call(hard, "/responses", {"input": "x", "stream": True})
    events = sse(r.content)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert_no_leak(r.text, deltas, *[s for e in events for s in strings(e)])
    assert deltas.count("[redacted]") == len(split_everywhere(hard.upstream.echoed()))
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == deltas
    assert len(events[-1]["response"]["output"]) == 1  # the held-back ends went into the one message


@pytest.mark.parametrize("encoding", ["plain", "json_unicode", "base64_0", "hex_upper"])
def test_translated_streamed_arguments(hard, encoding):
    from tests.gateway.test_responses_api import sse

    hard.upstream.encoding = encoding
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    r = call(hard, "/responses", {"input": "x", "stream": True, "tools": tools})
    events = sse(r.content)
    arguments = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert_no_leak(r.text, arguments)
    [item] = events[-1]["response"]["output"]
    assert item["arguments"] == arguments and "[redacted]" in arguments


def test_the_access_log_digests_the_bytes_the_caller_got(hard):
    hard.upstream.encoding = "base64_2"
    got = [
        call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}]}).content,
        call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": True}).content,
        call(hard, "/responses", {"input": "x", "stream": True}).content,
    ]
    import time

    deadline = time.monotonic() + 10
    while GatewayCall.objects.count() < 3 and time.monotonic() < deadline:
        access_log_drain()
        time.sleep(0.05)
    rows = list(GatewayCall.objects.order_by("created_at"))
    assert [row.response_sha256 for row in rows] == [hashlib.sha256(body).hexdigest() for body in got]
    assert all(row.status_code == 200 for row in rows)


def test_an_honest_answer_goes_on_byte_for_byte(hard):
    """Scrubbing an answer with nothing to scrub changes nothing: the caller
    gets the upstream's own bytes, whole or streamed."""
    from tests.gateway.upstream_double import chunks, completion

    hard.upstream.mode = "ok"
    r = call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}]})
    assert r.content == json.dumps(completion(hard.upstream.requests[-1]["json"])).encode()
    s = call(hard, "/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": True})
    assert s.content == b"".join(chunks(hard.upstream.requests[-1]["json"]))


# The stream scanner alone: every byte split, hostile framing


def _scanner(secret: str = HARD_CREDENTIAL, keep: bool = False) -> Any:
    from gateway.proxy.redact import Redactor
    from gateway.proxy.server import SseScanner

    return SseScanner(keep=keep, redactor=Redactor(secret))


def _event(content: str, finish: str | None = None) -> bytes:
    body = {"id": "c", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


@pytest.mark.parametrize("encoding", ["plain", "json_unicode", "percent", "base64_1"])
def test_the_scanner_catches_a_credential_cut_at_every_byte(encoding):
    from tests.gateway.upstream_double import raw_json

    secret = ENCODINGS[encoding](HARD_CREDENTIAL)
    half = len(secret) // 2
    stream = b"".join(
        b"data: " + raw_json({"choices": [{"index": 0, "delta": {"content": piece}}]}, encoding).encode() + b"\n\n"
        for piece in ("Key: " + secret[:half], secret[half:] + " end")
    )
    stream += b"data: [DONE]\n\n"
    for cut in range(len(stream) + 1):
        scanner = _scanner()
        out = scanner.feed(stream[:cut]) + scanner.feed(stream[cut:]) + scanner.end()
        text = joined(chat_events(out), "content")
        assert_no_leak(out.decode(), text)
        assert text.endswith(" end") and "[redacted]" in text, cut


def test_a_repeated_key_cannot_hide_the_credential():
    """A parser keeps the last of two equal keys; a caller reading the text
    sees both: the event goes on as parsed and scrubbed, not as sent."""
    scanner = _scanner()
    raw = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "'
        + HARD_CREDENTIAL.encode()
        + b'", "content": "ok"}}]}\n\n'
    )
    out = scanner.feed(raw)
    assert HARD_CREDENTIAL.encode() not in out and b'"ok"' in out


def test_carriage_returns_end_lines_for_the_scanner_as_for_the_caller():
    half = len(HARD_CREDENTIAL) // 2
    raw = (_event("Key: " + HARD_CREDENTIAL[:half]) + _event(HARD_CREDENTIAL[half:])).replace(b"\n", b"\r")
    scanner = _scanner()
    out = scanner.feed(raw[:7]) + scanner.feed(raw[7:]) + scanner.end()
    assert_no_leak(out.decode(), joined(chat_events(out + b"data: [DONE]\n\n"), "content"))


def test_nothing_after_done_goes_on():
    scanner = _scanner()
    out = scanner.feed(_event("hi") + b"data: [DONE]\n\n" + _event(HARD_CREDENTIAL) + b": " + HARD_CREDENTIAL.encode())
    assert out.endswith(b"data: [DONE]\n\n") and HARD_CREDENTIAL.encode() not in out
    assert scanner.feed(_event("more")) == b""


def test_comments_and_unparsable_lines_are_scrubbed_as_text():
    scanner = _scanner()
    out = scanner.feed(
        b": debug " + HARD_CREDENTIAL.encode() + b"\ndata: {not json " + HARD_CREDENTIAL.encode() + b"\n\n"
    )
    assert out == b": debug [redacted]\ndata: {not json [redacted]\n\n"


def test_held_text_goes_out_with_the_choices_end_and_at_a_tool_call():
    """What waits (it could begin the credential) goes on in the event that
    ends the choice, or that moves the choice from text to a tool call."""
    scanner = _scanner()
    out = scanner.feed(_event("the models") + _event("", "stop"))  # "s" could begin "sk-…"
    events = chat_events(out + b"data: [DONE]\n\n")
    assert [e["choices"][0]["delta"]["content"] for e in events] == ["the model", "s"]
    assert events[1]["choices"][0]["finish_reason"] == "stop"
    scanner = _scanner()
    call = {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}
    tool = b"data: " + json.dumps({"choices": [{"index": 0, "delta": call}]}).encode() + b"\n\n"
    events = chat_events(scanner.feed(_event("the models") + tool) + b"data: [DONE]\n\n")
    assert events[1]["choices"][0]["delta"]["content"] == "s"
    # A credential the upstream goes on with after the end is replaced where it goes on.
    out = scanner.feed(_event(HARD_CREDENTIAL[1:]))
    assert_no_leak(joined(chat_events(out + b"data: [DONE]\n\n"), "content"))


def test_a_line_too_long_to_check_does_not_go_on():
    """A line that grows past MAX_LINE before it ends is skipped, not relayed
    unchecked; the events after it go on."""
    from gateway.proxy.server import SseScanner

    scanner = _scanner()
    long = b"data: " + HARD_CREDENTIAL.encode() + b"x" * 2 * SseScanner.MAX_LINE + HARD_CREDENTIAL.encode() + b"\n\n"
    step = 1 << 16
    out = b"".join(scanner.feed(long[i : i + step]) for i in range(0, len(long), step))
    out += scanner.feed(_event("after"))
    assert HARD_CREDENTIAL.encode() not in out and b"after" in out and len(out) < 1000
    assert scanner.unreadable
    # A long line that arrives whole is checked like any other.
    scanner = _scanner()
    out = scanner.feed(long)
    assert HARD_CREDENTIAL.encode() not in out and out.count(b"[redacted]") == 2


def test_an_event_passed_on_unparsed_is_one_the_full_check_would_pass_as_sent():
    """The fast path (StreamScrub.passes) lets an event go on without parsing
    it only when parsing and scrubbing it would change and hold back nothing."""
    from gateway.proxy.redact import Redactor, StreamScrub

    redactor = Redactor(HARD_CREDENTIAL)
    texts = ["ok ", "the models", "100%", "R&D", "a\nb", '"q"', "7", "fedcba", "", HARD_CREDENTIAL, HARD_CREDENTIAL[:9]]
    texts += [encode(HARD_CREDENTIAL) for encode in ENCODINGS.values()]
    fast = 0
    for text in texts:
        for delta in (
            {"content": text},
            {"refusal": text},
            {"tool_calls": [{"index": 0, "function": {"arguments": text}}]},
        ):
            for envelope in ({"id": "c1", "model": "m"}, {"id": HARD_CREDENTIAL.upper(), "model": "m"}):
                event = {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                raw = json.dumps(event).encode()
                stream = StreamScrub(redactor)
                stream.passes(json.dumps({"id": "c1", "model": "m", "choices": []}).encode())  # an envelope seen clean
                if stream.passes(raw):
                    fast += 1
                    full = StreamScrub(redactor)
                    _, as_sent = full.event(json.loads(raw), raw)
                    assert as_sent and not full.holding, (text, delta, envelope)
    # The usual event does take it: text that ends in nothing that could begin a form.
    assert fast >= 6
    ok = json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hello world. "}}]}).encode()
    assert StreamScrub(redactor).passes(ok)
