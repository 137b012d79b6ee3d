"""The pooled upstream client. One ``httpx.AsyncClient`` per event loop (per
process in production), redirects never followed, timeouts from settings.

Unless private upstreams are allowed, every new connection resolves the host
itself and refuses to connect when any address is private, loopback,
link-local or otherwise not public, then connects to the address it checked.
Checking at registration is not enough: a name can resolve to a public address
then and to an internal one later (DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import weakref
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from django.conf import settings

from labs.endpoints import is_public_address


class UpstreamAddressRefused(Exception):
    """The upstream host resolves to an address the gateway must not call."""


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
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (OSError, TimeoutError):
            raise httpcore.ConnectError("upstream host does not resolve") from None
        addresses = []
        for info in infos:
            try:
                addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
            except ValueError:
                raise UpstreamAddressRefused("unparseable address") from None
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise UpstreamAddressRefused("upstream resolves to a non-public address")
        return await self._inner.connect_tcp(
            str(addresses[0]), port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise UpstreamAddressRefused("unix sockets are not upstreams")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore's pool scans every connection it holds (with a readability syscall
# each) whenever a request starts or ends, so one big pool costs a busy gateway
# milliseconds per call. Several small pools, taken in turn, keep each scan short.
SHARDS = 16


def _per_shard() -> int:
    return max(4, settings.STAGEGATE_GATEWAY_MAX_CONNECTIONS // SHARDS)


def _limits() -> httpx.Limits:
    n = _per_shard()
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
        n = _per_shard()
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=n,
            max_keepalive_connections=n,
            keepalive_expiry=30.0,
            network_backend=PublicOnlyBackend(),
        )
    # trust_env=False: no proxy or netrc from the environment may see the credential.
    return httpx.AsyncClient(transport=transport, timeout=timeout(), follow_redirects=False, trust_env=False)


class _Shards:
    def __init__(self) -> None:
        self.clients = [make_client() for _ in range(SHARDS)]
        self.turn = itertools.cycle(self.clients)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shards] = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    """One of this event loop's pooled clients, in turn."""
    loop = asyncio.get_running_loop()
    shards = _by_loop.get(loop)
    if shards is None:
        shards = _by_loop[loop] = _Shards()
    return next(shards.turn)
