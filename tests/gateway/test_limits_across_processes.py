"""The rate limit holds across gateway processes: two uvicorn processes
serving the same token let exactly the limit through, not limit × processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.db import connection

from tests.gateway.conftest import build
from tests.gateway.upstream_double import free_port


def serve(port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
        env=env,
    )  # fmt: skip


def test_two_gateway_processes_share_one_limit(reference_data, upstream, gateway_url):
    upstream.reset()  # the session's double, as an earlier test may have left it
    scene = build(upstream, gateway_url, requests_per_minute=10)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "STAGEGATE_ENV": "test",
    }
    ports = [free_port(), free_port()]
    servers = [serve(p, env) for p in ports]
    try:
        for port in ports:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/gateway/v1/models", timeout=1)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "gateway process did not start"
                    time.sleep(0.2)
        body = {"model": scene.model, "messages": [{"role": "user", "content": "x"}]}

        def call(i: int) -> int:
            url = f"http://127.0.0.1:{ports[i % 2]}/gateway/v1/chat/completions"
            return httpx.post(url, headers=scene.headers(), json=body, timeout=20).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(call, range(30)))
        assert statuses.count(200) == 10, statuses
        assert statuses.count(429) == 20
    finally:
        for s in servers:
            s.terminate()
            s.wait(10)
