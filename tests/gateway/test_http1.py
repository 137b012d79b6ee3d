"""The gateway's minimal HTTP/1.1 client (gateway/proxy/http1.py) against raw
servers that do what uvicorn never does: close idle connections, stall, send
interim responses, frame bodies every allowed way, or send garbage."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx
import pytest
from django.test import override_settings

from gateway.proxy import http1, upstream

TIMEOUTS = http1.Timeouts(connect=2, read=0.3, write=2, pool=2)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    return head + await reader.readexactly(length)


def run(handler: Handler, client: Callable[[http1.Pool, list[int]], Awaitable[None]]) -> list[int]:
    """Serve ``handler`` (given each connection's number) on a raw socket and
    run ``client`` with a pool to it; the connection numbers the server saw."""
    accepted: list[int] = []

    async def main() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(len(accepted))
            try:
                await handler(reader, writer, accepted[-1])
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = http1.Pool(lambda t: asyncio.open_connection("127.0.0.1", port), max_connections=4)
        try:
            await client(pool, accepted)
        finally:
            server.close()

    asyncio.run(main())
    return accepted


def head(length: int) -> bytes:
    return http1.request_head(host="127.0.0.1", port=80, target="/v1/x", headers=[], length=length)


async def post(pool: http1.Pool, body: bytes = b"{}") -> tuple[int, bytes]:
    response = await pool.request(head(len(body)), body, TIMEOUTS)
    try:
        data = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response.status_code, data


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_keep_alive_reuses_one_connection():
    async def handler(reader, writer, n):
        while True:
            await read_request(reader)
            writer.write(OK)

    async def client(pool, accepted):
        for _ in range(3):
            assert await post(pool) == (200, b"ok")

    assert run(handler, client) == [0]


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async def handler(reader, writer, n):
        await read_request(reader)
        writer.write(OK)  # keep-alive by default, then closed anyway

    async def client(pool, accepted):
        assert await post(pool) == (200, b"ok")
        await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert await post(pool) == (200, b"ok")

    assert run(handler, client) == [0, 1]


def test_a_reused_connection_dropped_before_any_answer_is_retried_once():
    async def handler(reader, writer, n):
        await read_request(reader)
        writer.write(OK)
        if n == 0:
            await read_request(reader)  # the second request on this connection: no answer, just the end
            return
        while True:
            await read_request(reader)
            writer.write(OK)

    async def client(pool, accepted):
        assert await post(pool) == (200, b"ok")
        assert await post(pool) == (200, b"ok")

    assert run(handler, client) == [0, 1]


@pytest.mark.parametrize(
    ("response", "status", "body"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3;x=1\r\n!!!\r\n0\r\nX-T: 1\r\n\r\n",
            200,
            b"ok!!!",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, b"until the end"),  # no framing: ends with the connection
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nyes", 201, b"yes"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
    ],
)
def test_response_framing(response, status, body):
    async def handler(reader, writer, n):
        await read_request(reader)
        writer.write(response)
        if b"until the end" in response:
            writer.close()

    async def client(pool, accepted):
        assert await post(pool) == (status, body)

    run(handler, client)


@pytest.mark.parametrize(
    "response",
    [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then the connection ends
    ],
)
def test_malformed_responses_are_protocol_errors(response):
    async def handler(reader, writer, n):
        await read_request(reader)
        writer.write(response)
        writer.close()

    async def client(pool, accepted):
        with pytest.raises(httpx.RemoteProtocolError):
            await post(pool)

    run(handler, client)


@pytest.mark.parametrize("stall", ["head", "body"])
def test_read_timeout_is_the_longest_gap(stall):
    async def handler(reader, writer, n):
        await read_request(reader)
        if stall == "body":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
            for _ in range(3):  # bytes keep coming within the timeout: fine
                await asyncio.sleep(0.2)
                writer.write(b"1\r\n.\r\n")
        await asyncio.sleep(5)

    async def client(pool, accepted):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(httpx.ReadTimeout):
            await post(pool)
        took = loop.time() - started
        assert (0.9 if stall == "body" else 0.3) <= took < 2

    run(handler, client)


def test_dechunker_on_every_split():
    rng = random.Random(7)
    for _ in range(500):
        chunks = [rng.randbytes(rng.randrange(1, 40)) for _ in range(rng.randrange(0, 5))]
        trailers = rng.choice([b"", b"X-A: 1\r\n"])
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailers + b"\r\n"
        raw = body + rng.choice([b"", b"extra"])
        dechunker, out, i = http1.Dechunker(), b"", 0
        while not dechunker.done:
            step = rng.randrange(1, 8)
            out += dechunker.feed(raw[i : i + step])
            i += step
        assert out == b"".join(chunks)
        assert dechunker.leftover == (min(i, len(raw)) > len(body))


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b"])
def test_no_header_can_write_another(value):
    with pytest.raises(httpx.UnsupportedProtocol):
        http1.request_head(host="h", port=80, target="/", headers=[("Authorization", f"Bearer {value}")], length=0)
    with pytest.raises(httpx.UnsupportedProtocol):
        http1.request_head(host="h", port=80, target=f"/{value}", headers=[], length=0)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]"])
def test_private_upstreams_are_refused_at_connect_time(host):
    async def go() -> None:
        with pytest.raises(upstream.UpstreamAddressRefused):
            await upstream.send(f"http://{host}:9/v1/chat/completions", b"{}", [])

    with override_settings(STAGEGATE_ALLOW_PRIVATE_UPSTREAMS=False):
        asyncio.run(go())


def self_signed(tmp_path, name: str = "IP:127.0.0.1") -> tuple[str, str]:
    """A self-signed certificate (and its key) for ``name``, a subjectAltName
    such as ``IP:127.0.0.1`` or ``DNS:localhost``; (cert path, key path)."""
    import subprocess

    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         f"/CN={name.split(':', 1)[1]}", "-addext", f"subjectAltName={name}", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def https_call(tmp_path, monkeypatch, trusted: bool) -> tuple[int, bytes, bytes]:
    """One call through upstream.send to a TLS server; (status, body, request head the server read)."""
    import ssl

    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=cert if trusted else None)
    monkeypatch.setattr(upstream, "tls_context", lambda: client_tls)
    seen: list[bytes] = []

    async def main() -> tuple[int, bytes]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                seen.append(await read_request(reader))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
            except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        try:
            response = await upstream.send(f"https://127.0.0.1:{port}/v1/chat/completions", b"{}", [])
            body = b"".join([chunk async for chunk in response.aiter_raw()])
            await response.aclose()
            return response.status_code, body
        finally:
            server.close()

    with override_settings(STAGEGATE_ALLOW_PRIVATE_UPSTREAMS=True):
        status, body = asyncio.run(main())
    return status, body, seen[0] if seen else b""


def test_https_upstreams_take_the_same_client(tmp_path, monkeypatch):
    status, body, request = https_call(tmp_path, monkeypatch, trusted=True)
    assert (status, body) == (200, b"ok")
    assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")


def test_an_https_upstream_whose_certificate_is_not_trusted_is_refused(tmp_path, monkeypatch):
    with pytest.raises(httpx.ConnectError):
        https_call(tmp_path, monkeypatch, trusted=False)
