"""A stream in progress ends when its grant is withdrawn (the red-team pass
found that a running stream went on after a revocation or a halt): within
STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS, with the refusal a new call would
get as its last event, and the access log records the call so."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from django.test import override_settings

from deploy.services import release_halt
from gateway.models import GatewayCall
from gateway.services import access_log_drain, gateway_token_revoke
from tests.gateway.conftest import fresh

RECHECK = 0.3


def _stream_while(scene, change: Callable[[], None]) -> tuple[list[bytes], float]:
    """Stream a slow answer, make ``change`` once the first events are in, and
    return the events read and how long after the change the stream ended."""
    events: list[bytes] = []
    changed_at: list[float] = []
    body = {"model": scene.model, "stream": True, "messages": [{"role": "user", "content": "Tell me a long story."}]}
    with httpx.stream(
        "POST", scene.base_url + "/chat/completions", headers=scene.headers(), json=body, timeout=30
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(line[6:].encode())
            if len(events) == 5:
                worker = threading.Thread(target=lambda: (change(), changed_at.append(time.monotonic())))
                worker.start()
                worker.join()
    return events, time.monotonic() - changed_at[0]


def _last_error(events: list[bytes]) -> dict:
    last = json.loads(events[-1])
    assert "error" in last, events[-3:]
    return last["error"]


@pytest.fixture
def trickle(scene):
    scene.upstream.mode = "trickle"
    yield scene
    scene.upstream.reset()


@override_settings(STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS=RECHECK)
def test_a_revoked_token_ends_its_stream(trickle):
    scene = trickle
    events, after = _stream_while(scene, lambda: gateway_token_revoke(actor=fresh(scene.w.auditor), token=scene.token))
    assert _last_error(events)["code"] == "token_revoked"
    # Well before the upstream's 10 s answer would have ended.
    assert after < RECHECK + 2.0
    assert len(events) < 150
    access_log_drain()
    call = GatewayCall.objects.get(token=scene.token, stream=True)
    assert (call.status_code, call.error_code) == (401, "token_revoked")
    assert call.completion_tokens > 0  # what the caller read counts against the quota


@override_settings(STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS=RECHECK)
def test_a_halt_ends_every_stream_of_the_release(trickle):
    scene = trickle
    reg = fresh(scene.w.regulator)
    events, after = _stream_while(
        scene, lambda: release_halt(actor=reg, system_version=scene.sv, reason="Incident under review.")
    )
    assert _last_error(events)["code"] == "release_halted"
    assert after < RECHECK + 2.0


@override_settings(STAGEGATE_GATEWAY_STREAM_RECHECK_SECONDS=RECHECK)
def test_an_unrelated_change_leaves_the_stream_alone(trickle):
    """Another token's revocation moves the epoch; the stream reads its grant
    again, finds it still holds, and runs to its end."""
    scene = trickle
    from tests.gateway.conftest import issue

    other, _ = issue(scene.sv, scene.w.academic, kind="academic")
    events, _ = _stream_while(scene, lambda: gateway_token_revoke(actor=fresh(scene.w.academic), token=other))
    assert events[-1] == b"[DONE]"
    assert not any(b'"error"' in e for e in events)
