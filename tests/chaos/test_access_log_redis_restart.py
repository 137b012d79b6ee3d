"""The gateway's access log across a Redis that restarts empty (fast: a Redis
of the test's own, the gateway in-process). Calls are recorded in a Redis
stream and drained into PostgreSQL every few seconds; each gateway process
also keeps its entries in a spool on local disk (gateway/proxy/spool.py) and
replays them when it sees that Redis lost its data, so none is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from django.test import override_settings

from gateway.models import GatewayCall
from gateway.proxy.server import GatewayApp
from gateway.services import access_log_drain
from tests.gateway.conftest import build
from tests.gateway.test_redis_down import start_redis
from tests.gateway.upstream_double import free_port


def test_every_answered_call_survives_a_redis_restart(
    reference_data: Any, upstream: Any, gateway_url: str, tmp_path: Path
) -> None:
    upstream.reset()
    scene = build(upstream, gateway_url)
    port = free_port()
    server = start_redis(port, tmp_path)
    app = GatewayApp()
    body = {"model": scene.model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
    answered = 0
    spool = tmp_path / "spool"
    try:
        with override_settings(
            STAGEGATE_GATEWAY_REDIS_URL=f"redis://127.0.0.1:{port}/0",
            STAGEGATE_GATEWAY_BREAKER_SECONDS=0.2,
            STAGEGATE_GATEWAY_SPOOL_DIR=str(spool),
        ):

            async def calls(n: int) -> int:
                transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                    statuses = [
                        (
                            await client.post("/gateway/v1/chat/completions", json=body, headers=scene.headers())
                        ).status_code
                        for _ in range(n)
                    ]
                return statuses.count(200)

            answered += asyncio.run(calls(3))
            assert list(spool.glob("*.jsonl"))  # the entries are on disk as well as in Redis
            server.kill()  # as a crash does: no save, no persistence to come back from
            server.wait()
            server = start_redis(port, tmp_path)
            asyncio.run(asyncio.sleep(0.3))  # the breaker's pause
            answered += asyncio.run(calls(3))
            while access_log_drain():
                pass
    finally:
        server.kill()
        server.wait()
    assert answered == 6
    assert GatewayCall.objects.filter(status_code=200).count() == answered
    assert GatewayCall.objects.values("call_id").distinct().count() == answered
