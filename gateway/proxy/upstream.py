"""The upstream hop: one client path for http and https upstreams,
gateway/proxy/http1.py (a minimal keep-alive HTTP/1.1 client: httpx cost a third of
the gateway's CPU per call), over asyncio's TCP and TLS (certificates checked
against certifi's CAs and the host name, as httpx did). One pool per host and
event loop (per process in production), redirects never followed, timeouts from
settings, no proxy or netrc from the environment.

Unless private upstreams are allowed, every new connection resolves the host
itself and refuses to connect when any address is private, loopback,
link-local or otherwise not public, then connects to the address it checked.
Checking at registration is not enough: a name can resolve to a public address
then and to an internal one later (DNS rebinding).

``make_client`` (an httpx client with the same address check) is what other
code that must reach a lab's endpoint can use; the gateway's calls do not."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx
from django.conf import settings

from gateway.proxy import http1
from labs.endpoints import is_public_address


class UpstreamAddressRefused(Exception):
    """The upstream host resolves to an address the gateway must not call."""


async def public_address(host: str, port: int, timeout: float | None, allow_private: bool = False) -> str:
    """The address to connect to for ``host``, if every address it resolves to
    is public (or ``allow_private``: the first, whatever it is); else
    UpstreamAddressRefused. OSError when it does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except TimeoutError:
        raise OSError("upstream host did not resolve in time") from None
    addresses = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            raise UpstreamAddressRefused("unparseable address") from None
    if not addresses or not (allow_private or all(is_public_address(a) for a in addresses)):
        raise UpstreamAddressRefused("upstream resolves to a non-public address")
    return str(addresses[0])


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            address = await public_address(host, port, timeout)
        except OSError:
            raise httpcore.ConnectError("upstream host does not resolve") from None
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise UpstreamAddressRefused("unix sockets are not upstreams")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _limits() -> httpx.Limits:
    n = settings.STAGEGATE_GATEWAY_MAX_CONNECTIONS
    return httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=30.0)


def timeout() -> httpx.Timeout:
    """Read per request, so a changed setting applies without a new pool."""
    return httpx.Timeout(
        connect=settings.STAGEGATE_GATEWAY_CONNECT_TIMEOUT,
        read=settings.STAGEGATE_GATEWAY_READ_TIMEOUT,
        write=settings.STAGEGATE_GATEWAY_WRITE_TIMEOUT,
        pool=settings.STAGEGATE_GATEWAY_POOL_TIMEOUT,
    )


def make_client() -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(limits=_limits(), retries=0)
    if not settings.STAGEGATE_ALLOW_PRIVATE_UPSTREAMS:
        # httpx has no public hook for the network backend; its transport is a
        # thin wrapper over this pool, so we give it one built with ours.
        n = settings.STAGEGATE_GATEWAY_MAX_CONNECTIONS
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=n,
            max_keepalive_connections=n,
            keepalive_expiry=30.0,
            network_backend=PublicOnlyBackend(),
        )
    # trust_env=False: no proxy or netrc from the environment may see the credential.
    return httpx.AsyncClient(transport=transport, timeout=timeout(), follow_redirects=False, trust_env=False)


class UpstreamResponse(Protocol):
    """What the gateway uses of a response (http1.Response; httpx.Response has it too)."""

    status_code: int

    @property
    def headers(self) -> Any: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@functools.lru_cache(maxsize=256)
def _split(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), target


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, int, bool], http1.Pool]] = (
    weakref.WeakKeyDictionary()
)


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The TLS context of every https upstream: certifi's CAs, the host name checked."""
    return ssl.create_default_context(cafile=certifi.where())


def _pool(scheme: str, host: str, port: int) -> http1.Pool:
    public_only = not settings.STAGEGATE_ALLOW_PRIVATE_UPSTREAMS
    loop = asyncio.get_running_loop()
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    key = (scheme, host, port, public_only)
    pool = pools.get(key)
    if pool is None:
        tls = tls_context() if scheme == "https" else None

        async def connect(timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            address = await public_address(host, port, timeout) if public_only else host
            # TLS: the name checked against the certificate is the host's, not the address connected to.
            return await asyncio.open_connection(
                address, port, limit=http1.MAX_HEAD, ssl=tls, server_hostname=host if tls else None
            )

        pool = pools[key] = http1.Pool(connect, max_connections=settings.STAGEGATE_GATEWAY_MAX_CONNECTIONS)
    return pool


async def send(url: str, body: bytes, headers: list[tuple[str, str]]) -> UpstreamResponse:
    """POST ``body`` to ``url`` (http or https); the response with its body
    still to read (or close). Raises httpx's exceptions, or UpstreamAddressRefused."""
    scheme, host, port, target = _split(url)
    if scheme not in ("http", "https") or not host:
        raise httpx.UnsupportedProtocol("the upstream's URL is not http(s)://host/...")
    pool = _pool(scheme, host, port)
    timeouts = http1.Timeouts(
        connect=settings.STAGEGATE_GATEWAY_CONNECT_TIMEOUT,
        read=settings.STAGEGATE_GATEWAY_READ_TIMEOUT,
        write=settings.STAGEGATE_GATEWAY_WRITE_TIMEOUT,
        pool=settings.STAGEGATE_GATEWAY_POOL_TIMEOUT,
    )
    head = http1.request_head(
        host=host,
        port=port,
        target=target,
        headers=headers,
        length=len(body),
        default_port=443 if scheme == "https" else 80,
    )
    return await pool.request(head, body, timeouts)
