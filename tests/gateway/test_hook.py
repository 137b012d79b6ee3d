"""The hook the nginx plane asks (gateway/proxy/hook.py), spoken to directly
as the plane speaks to it: what it is told, and what happens when a worker
goes away mid-call. The gateway's other tests run through the plane as well
(tests/gateway/planes.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from typing import Any

import pytest

from gateway.proxy import redact
from gateway.proxy.hook import fast_path, frame, read_frame
from gateway.proxy.server import close_db_connections
from tests.gateway.conftest import CREDENTIAL, build
from tests.gateway.planes import HookThread
from tests.gateway.test_quotas import charged, logged

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook() -> Any:
    server = HookThread(os.path.join(tempfile.mkdtemp(prefix="stagegate-hook-test-"), "hook.sock")).start()
    yield server
    server.stop()
    close_db_connections()


@pytest.fixture
def scene(reference_data: Any, upstream: Any) -> Any:
    upstream.reset()
    return build(upstream, "http://plane.invalid", tokens_per_day=10_000)


def talk(path: str, messages: list[tuple[bytes, dict[str, Any], bytes]]) -> list[tuple[bytes, dict[str, Any], bytes]]:
    """Send each message in turn on one connection, as the plane does; the replies."""

    async def run() -> list[tuple[bytes, dict[str, Any], bytes]]:
        reader, writer = await asyncio.open_unix_connection(path)
        replies = []
        for n, (kind, header, body) in enumerate(messages, start=1):
            writer.write(frame(n, kind, header, body))
            request_id, reply_kind, reply, reply_body = await read_frame(reader)
            assert request_id == n
            replies.append((reply_kind, reply, reply_body))
        writer.close()
        await writer.wait_closed()
        return replies

    return asyncio.run(run())


def admit(scene: Any, **extra: Any) -> tuple[bytes, dict[str, Any], bytes]:
    body = {"model": scene.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, **extra}
    return (
        b"A",
        {"method": "POST", "path": "/gateway/v1/chat/completions", "authorization": scene.headers()["Authorization"]},
        json.dumps(body).encode(),
    )


def test_a_refusal_is_the_answer_to_give(scene, hook):
    ((kind, header, body),) = talk(
        hook.path,
        [(b"A", {"method": "POST", "path": "/gateway/v1/chat/completions", "authorization": "Bearer nope"}, b"{}")],
    )
    assert kind == b"R" and header["status"] == 401
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
    assert ["www-authenticate", 'Bearer realm="stagegate-gateway"'] in header["headers"]


def test_a_plan_carries_the_upstream_request_and_the_credentials_forms(scene, hook):
    ((kind, header, body),) = talk(hook.path, [admit(scene, stream=True)])
    assert kind == b"P"
    assert header["url"] == scene.upstream.url + "/v1/chat/completions"
    assert ["Authorization", f"Bearer {CREDENTIAL}"] in header["headers"]
    assert header["stream"] is True and header["redact"] is True
    assert json.loads(body)["model"] == "upstream-model-7b"  # the endpoint's model, not the gateway's name
    assert set(header["fast"]["forms"]) == set(redact.Redactor(CREDENTIAL).forms)


def test_a_plane_worker_that_goes_away_mid_call_leaves_it_settled_as_failed(scene, hook):
    ((kind, _, _),) = talk(hook.path, [admit(scene)])  # admitted, then the connection closes
    assert kind == b"P"
    (call,) = logged(1)
    assert (call.status_code, call.error_code) == (500, "internal_error")
    assert charged(scene) == 0  # the reservation came back


def test_lines_the_fast_path_leaves_are_scrubbed_and_the_stream_settled(scene, hook):
    leak = b'data: {"choices":[{"index":0,"delta":{"content":"key ' + CREDENTIAL.encode() + b'"}}]}'
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}'
    sent = hashlib.sha256(b"whatever the plane sent").hexdigest()
    replies = talk(
        hook.path,
        [
            admit(scene, stream=True),
            (b"L", {"call": 1, "events": 2, "boundary": False, "count": 2}, leak + b"\n" + usage),
            (b"L", {"call": 1, "events": 4, "boundary": True, "count": 1}, b"data: [DONE]"),
            (
                b"Z",
                {
                    "call": 1,
                    "status": 200,
                    "error_code": "",
                    "events": 4,
                    "read_partly": False,
                    "final_sent": True,
                    "unreadable": False,
                    "latency_ms": 12.5,
                    "response_sha256": sent,
                    "headers": {},
                },
                b"",
            ),
        ],
    )
    (_, _, _), (kind, state, out), (_, done, tail), (settled, _, _) = replies
    assert kind == b"O" and state["events"] == 4 and not state["done"]
    assert CREDENTIAL.encode() not in out and b"[redacted]" in out
    assert done["done"] is True and tail.endswith(b"data: [DONE]\n\n")
    assert settled == b"z"
    (call,) = logged(1)
    assert (call.status_code, call.total_tokens, call.response_sha256) == (200, 7, sent)
    assert charged(scene) == 7


def test_the_fast_path_is_withheld_where_json_would_not_show_the_credential_as_it_is():
    assert fast_path(redact.Redactor('sk-with"quote-0123456789')) is None
    assert fast_path(redact.Redactor("sk-ascii-0123456789abcdef")) is not None


@pytest.mark.parametrize(("allowed", "reply"), [(False, {"refused": True}), (True, {"address": "127.0.0.1"})])
def test_an_upstream_name_is_resolved_by_the_hook_and_refused_unless_private_addresses_are_allowed(
    scene, hook, allowed, reply
):
    """The nginx plane has no resolver of its own: it asks 'D' for every new
    connection to a name, and the hook resolves it, refusing a private address
    unless the settings allow private upstreams."""
    from django.test import override_settings

    with override_settings(STAGEGATE_ALLOW_PRIVATE_UPSTREAMS=allowed):
        ((kind, header, _),) = talk(hook.path, [(b"D", {"host": "localhost", "port": 80}, b"")])
    assert kind == b"d"
    assert header == reply or (allowed and header == {"address": "::1"})
