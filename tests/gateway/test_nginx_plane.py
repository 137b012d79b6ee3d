"""What only the nginx plane's own upstream client does (gateway/nginx/
sg_upstream.lua): https upstreams, with the certificate checked against the
plane's CAs and the name the lab registered. The gateway's other tests run
through this plane as through the others (tests/gateway/planes.py); the
Python client's own TLS tests are in test_http1.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.models import GatewayCall
from gateway.services import access_log_drain
from tests.gateway.conftest import build
from tests.gateway.planes import HookThread, NginxServer, nginx_binary
from tests.gateway.test_http1 import self_signed
from tests.gateway.upstream_double import ScriptedUpstream, ThreadServer, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for the name ``localhost`` only."""
    return self_signed(tmp_path_factory.mktemp("tls"), "DNS:localhost")


@pytest.fixture(scope="module")
def tls_upstream(certificate: tuple[str, str]) -> Iterator[ScriptedUpstream]:
    """The scripted model behind TLS (uvicorn with the certificate)."""
    cert, key = certificate
    double = ScriptedUpstream()
    port = free_port()
    config = uvicorn.Config(
        double, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ssl_certfile=cert, ssl_keyfile=key
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    double.port = port  # type: ignore[attr-defined]
    yield double
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def python_plane() -> Iterator[str]:
    from config.asgi import application
    from gateway.proxy.server import close_db_connections

    server = ThreadServer(application).start()
    yield server.url
    server.stop()
    close_db_connections()


def plane(python_url: str, ca_file: str | None) -> NginxServer:
    nginx_binary()
    return NginxServer(python_url, ca_file=ca_file).start()


def call(reference_data: Any, upstream: ScriptedUpstream, url: str, host: str) -> tuple[httpx.Response, GatewayCall]:
    upstream.reset()
    scene = build(upstream, url, endpoint_base_url=f"https://{host}:{upstream.port}/v1")  # type: ignore[attr-defined]
    body = {"model": scene.model, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), json=body, timeout=20)
    return response, logged_row()


def logged_row() -> GatewayCall:
    """The one call's access-log row, once its settlement (which may follow
    the answer, as on the Python path) has been drained into the database."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        access_log_drain()
        if GatewayCall.objects.exists():
            break
        time.sleep(0.05)
    return GatewayCall.objects.get()


def test_an_https_upstream_whose_certificate_the_plane_trusts_answers(
    reference_data, tls_upstream, python_plane, certificate
):
    front = plane(python_plane, certificate[0])
    try:
        response, row = call(reference_data, tls_upstream, front.url, "localhost")
    finally:
        front.stop()
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    assert len(tls_upstream.requests) == 1 and row.status_code == 200


@pytest.mark.parametrize(
    ("trusted", "host"),
    [(False, "localhost"), (True, "127.0.0.1")],
    ids=["a-certificate-from-no-trusted-ca", "a-certificate-for-another-name"],
)
def test_an_https_upstream_that_fails_the_check_is_never_sent_the_call(
    reference_data, tls_upstream, python_plane, certificate, trusted, host
):
    # Untrusted: the plane checks against certifi's CAs (its default), which never signed this one.
    front = plane(python_plane, certificate[0] if trusted else None)
    try:
        response, row = call(reference_data, tls_upstream, front.url, host)
    finally:
        front.stop()
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unreachable"
    assert tls_upstream.requests == []  # the request (and the lab's credential) never went out
    assert (row.status_code, row.error_code) == (502, "upstream_unreachable")


def test_a_stopping_plane_finishes_its_open_streams_and_settles_them(reference_data, upstream, python_plane):
    """Stopped gracefully (SIGQUIT, as config.serve stops it), each nginx
    worker finishes the calls it holds and keeps its hook connection until
    every one has settled (a stream settles from a timer after its response),
    then exits."""
    front = plane(python_plane, None)
    upstream.reset()
    upstream.delay = 1.0  # the answer starts a second after the call
    try:
        scene = build(upstream, front.url)
        body = {"model": scene.model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        got: dict[str, Any] = {}

        def stream() -> None:
            with httpx.stream(
                "POST", scene.base_url + "/chat/completions", headers=scene.headers(), json=body, timeout=20
            ) as r:
                got["status"], got["text"] = r.status_code, r.read().decode()

        caller = threading.Thread(target=stream)
        caller.start()
        deadline = time.monotonic() + 5
        while not upstream.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert upstream.requests  # the call is open upstream
        started = time.monotonic()
        front.stop()  # SIGQUIT, then waits for nginx to exit
        stopped_in = time.monotonic() - started
        caller.join(10)
    finally:
        upstream.reset()
        front.stop()
    assert got["status"] == 200 and got["text"].endswith("data: [DONE]\n\n")
    assert stopped_in < 10  # not the 60 s worker_shutdown_timeout: the workers left once their calls settled
    row = logged_row()
    assert row.status_code == 200 and row.stream and row.response_sha256


class FaultyPlane(NginxServer):
    """The plane with tests/gateway/nginx_fault/sg_fault.lua loaded: its Lua
    fails where a call's X-Lua-Fault header says (as a bug would)."""

    def configured(self, conf: Path) -> None:
        fault = Path(__file__).resolve().parent / "nginx_fault"
        text = conf.read_text()
        text = text.replace('lua_package_path "', f'lua_package_path "{fault}/?.lua;', 1)
        text = text.replace("init_worker_by_lua_block {", 'init_worker_by_lua_block { require("sg_fault")', 1)
        conf.write_text(text)


@pytest.mark.parametrize("fault", ["before-upstream", "mid-stream"])
def test_a_call_the_planes_own_lua_fails_is_answered_settled_and_let_go(reference_data, upstream, python_plane, fault):
    """A Lua error mid-call (a bug in the plane, not a rule) is settled as an
    error escaping the Python path is (500 internal_error, the reservation
    given back), the caller gets a 500 (or, a stream under way, the stream
    cut short), and nothing of the call stays open: a graceful stop right
    after is quick, not the 60 s worker_shutdown_timeout."""
    nginx_binary()
    front = FaultyPlane(python_plane).start()
    upstream.reset()
    try:
        scene = build(upstream, front.url)
        body = {"model": scene.model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        headers = {**scene.headers(), "X-Lua-Fault": fault}
        with httpx.stream("POST", scene.base_url + "/chat/completions", headers=headers, json=body, timeout=20) as r:
            status = r.status_code
            try:
                text = r.read().decode()
            except httpx.HTTPError:  # the stream cut short
                text = ""
        row = logged_row()
        errors, sent = front.errors(), len(upstream.requests)
        started = time.monotonic()
        front.stop()
        stopped_in = time.monotonic() - started
    finally:
        upstream.reset()
        front.stop()
    assert (row.status_code, row.error_code, row.stream) == (500, "internal_error", True)
    assert "injected fault" in errors  # the plane logs what failed
    assert stopped_in < 10
    if fault == "before-upstream":
        assert status == 500 and "internal_error" in text
        assert sent == 0
        assert row.total_tokens == 0
    else:
        assert status == 200 and "[DONE]" not in text  # the caller sees it broken off, not complete
        assert sent == 1


MALFORMED = "sgw_malformed-reply"


class MalformedHookThread(HookThread):
    """The hook, but its reply to the admission of a call whose token is
    ``MALFORMED`` is a frame too short to read (as a bug would make one)."""

    def make(self) -> Any:
        from gateway.proxy.hook import Hook
        from gateway.proxy.server import GatewayApp

        class Malformed(Hook):
            async def _dispatch(self, calls, request_id, kind, header, body):  # type: ignore[no-untyped-def]
                if kind == b"A" and MALFORMED in str(header.get("authorization")):
                    return b"\x00\x00\x00\x02ok"  # a length, then two bytes where nine at least belong
                return await super()._dispatch(calls, request_id, kind, header, body)

        return Malformed(GatewayApp())


def test_a_reply_the_plane_cannot_read_drops_the_hook_connection_and_a_new_one_serves(
    reference_data, upstream, python_plane
):
    """A hook reply the Lua cannot parse fails the calls waiting on that
    connection at once (503) and the worker connects again, so the next
    call is answered: it is not left waiting on a connection whose reader
    died (HOOK_WAIT, two minutes)."""
    nginx_binary()
    front = NginxServer(python_plane, workers=1)
    front.hook = MalformedHookThread(front.hook.path)
    front.start()
    upstream.reset()
    try:
        scene = build(upstream, front.url)
        body = {"model": scene.model, "messages": [{"role": "user", "content": "hi"}]}
        url = scene.base_url + "/chat/completions"
        broken = httpx.post(url, headers=scene.headers(MALFORMED), json=body, timeout=10)
        deadline, answered = time.monotonic() + 5, None
        while time.monotonic() < deadline:
            answered = httpx.post(url, headers=scene.headers(), json=body, timeout=10)
            if answered.status_code == 200:
                break
            time.sleep(0.1)  # the connection is being made again (503 meanwhile)
        errors = front.errors()
    finally:
        upstream.reset()
        front.stop()
    assert broken.status_code == 503 and broken.json()["error"]["code"] == "gateway_unavailable"
    assert answered is not None and answered.status_code == 200, answered and answered.text
    assert "connection lost" in errors
