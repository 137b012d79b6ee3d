"""Upstream failures become clear OpenAI-style errors, are logged, leave no
hung request or open upstream stream, and never reveal the credential."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from django.test import override_settings

from gateway.models import GatewayCall
from gateway.services import access_log_drain
from tests.gateway.conftest import CREDENTIAL
from tests.gateway.upstream_double import free_port


def chat(scene, **extra) -> httpx.Response:
    body = {"model": scene.model, "messages": [{"role": "user", "content": "x"}], **extra}
    return httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), json=body, timeout=20)


def error_of(response: httpx.Response) -> dict:
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    return error


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("error500", 502, "upstream_error"),
        ("auth401", 502, "upstream_auth_failed"),
        ("malformed", 502, "upstream_malformed"),
        ("bad400", 400, "upstream_rejected"),
    ],
)
def test_upstream_errors(scene, all_logs, mode, status, code):
    scene.upstream.mode = mode
    scene.upstream.echo = CREDENTIAL  # the upstream echoes the key back in its error
    r = chat(scene)
    assert r.status_code == status
    if mode != "bad400":
        assert error_of(r)["code"] == code
    assert CREDENTIAL not in r.text
    access_log_drain()
    row = GatewayCall.objects.get()
    assert row.status_code == status and row.error_code == code


def test_upstream_timeout_is_504_and_quick(scene):
    scene.upstream.mode = "slow"
    with override_settings(STAGEGATE_GATEWAY_READ_TIMEOUT=0.3):
        started = time.monotonic()
        r = chat(scene)
    assert r.status_code == 504
    assert error_of(r)["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2


def test_refused_connection_is_502(scene):
    from labs.models import SystemVersion

    # A system whose endpoint nobody listens on (set directly: the service would re-check the URL).
    SystemVersion.objects.filter(pk=scene.sv.pk).update(endpoint_base_url=f"http://127.0.0.1:{free_port()}/v1")
    r = chat(scene)
    assert r.status_code == 502
    assert error_of(r)["code"] == "upstream_unreachable"


def test_private_upstreams_are_refused_at_connect_time_when_not_allowed(scene):
    with override_settings(STAGEGATE_ALLOW_PRIVATE_UPSTREAMS=False):
        from gateway.proxy import upstream

        async def go() -> int:
            client = upstream.make_client()
            try:
                await client.get(scene.upstream.url + "/v1/models")
            except upstream.UpstreamAddressRefused:
                return 1
            finally:
                await client.aclose()
            return 0

        import asyncio

        assert asyncio.run(go()) == 1
    assert scene.upstream.requests == []


def test_stream_cut_mid_way_ends_with_an_error_event(scene):
    scene.upstream.mode = "stream_cut"
    client = openai.OpenAI(base_url=scene.base_url, api_key=scene.secret, max_retries=0, timeout=10)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=scene.model, messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    access_log_drain()
    row = GatewayCall.objects.get()
    assert row.status_code == 502 and row.error_code == "upstream_error"


def test_client_disconnect_mid_stream_closes_the_upstream_stream(scene):
    scene.upstream.mode = "stream_hang"
    body = {"model": scene.model, "messages": [{"role": "user", "content": "x"}], "stream": True}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", scene.base_url + "/chat/completions", headers=scene.headers(), json=body) as r,
    ):
        assert r.status_code == 200
        next(r.iter_raw())  # the first event arrives; then the caller goes away
    deadline = time.monotonic() + 5
    while scene.upstream.closed_streams < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scene.upstream.closed_streams == 1  # the gateway let go of the upstream at once
    while not access_log_drain() and time.monotonic() < deadline:
        time.sleep(0.05)
    row = GatewayCall.objects.get()
    assert row.status_code == 499 and row.error_code == "client_disconnected"


def test_client_gone_while_the_model_thinks_frees_the_upstream_and_is_logged(scene):
    """A non-streaming call runs in the request's own task: the caller going
    away cancels it there, lets go of the upstream, and leaves the gateway fit
    for the next call."""
    scene.upstream.mode = "hang"
    body = {"model": scene.model, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), json=body, timeout=0.5)
    deadline = time.monotonic() + 5
    while scene.upstream.closed_streams < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scene.upstream.closed_streams == 1
    while not access_log_drain() and time.monotonic() < deadline:
        time.sleep(0.05)
    row = GatewayCall.objects.get()
    assert row.status_code == 499 and row.error_code == "client_disconnected" and not row.stream
    scene.upstream.mode = "ok"
    again = httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), json=body, timeout=10)
    assert again.status_code == 200


def test_the_credential_appears_nowhere(scene, all_logs):
    """Responses, errors, logs and the access log, across every kind of outcome."""
    seen = []
    for mode in ("ok", "error500", "auth401", "bad400", "malformed"):
        scene.upstream.mode = mode
        scene.upstream.echo = CREDENTIAL
        seen.append(chat(scene).text)
        scene.upstream.mode = "ok" if mode == "ok" else mode
    scene.upstream.mode = "ok"
    seen.append(chat(scene, stream=True).text)
    seen.append(httpx.get(scene.base_url + "/models", headers=scene.headers()).text)
    access_log_drain()
    rows = json.dumps(list(GatewayCall.objects.values()), default=str)
    assert GatewayCall.objects.count() == 7
    for text in [*seen, all_logs.text, rows]:
        assert CREDENTIAL not in text
    assert scene.upstream.requests[0]["headers"]["authorization"] == f"Bearer {CREDENTIAL}"
