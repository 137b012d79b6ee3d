"""PostgreSQL stopped and started again while callers keep the gateway busy.
The gateway answers from its grant cache and Redis while the database is
away, refuses quickly (503 problem) what it cannot check, never hangs, comes
back by itself, and every call it answered is in the access log exactly once
after the drain: nothing lost, the counts adding up."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from django.db import connections

from gateway.models import GatewayCall
from gateway.proxy.server import close_db_connections
from gateway.services import access_log_drain
from tests.chaos.conftest import Services, wait_for
from tests.gateway.conftest import build

CALLERS = 4
DOWN_FOR = 3.0  # seconds the database is away
TIMEOUT = 15.0


@pytest.mark.django_db(transaction=True)
def test_postgres_restarted_under_gateway_load(
    reference_data: Any, upstream: Any, gateway_url: str, services: Services
) -> None:
    upstream.reset()
    # Limits well above the load: what is measured is the database, not the rate limit.
    scene = build(upstream, gateway_url, requests_per_minute=100_000, tokens_per_day=10_000_000)
    body = {"model": scene.model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
    answers: list[tuple[float, float, int, str]] = []  # (sent at, took, status, problem code)
    failures: list[str] = []
    stop = threading.Event()
    started = time.monotonic()

    def caller() -> None:
        with httpx.Client(base_url=scene.base_url, headers=scene.headers(), timeout=TIMEOUT) as client:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    r = client.post("/chat/completions", json=body)
                except httpx.HTTPError as exc:  # a hang or a dropped connection: what must not happen
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                code = "" if r.status_code == 200 else r.json().get("error", {}).get("code", r.text[:80])
                answers.append((sent - started, time.monotonic() - sent, r.status_code, code))

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    try:
        time.sleep(2.0)
        down_at = time.monotonic() - started
        services.pg_stop()
        time.sleep(DOWN_FOR)
        services.pg_start()
        up_at = time.monotonic() - started
        connections.close_all()  # this thread's connection died with the server

        def fresh_successes() -> bool:
            return sum(1 for a in answers if a[0] > up_at and a[2] == 200) >= 20

        recovered_in = wait_for(fresh_successes, 60, "twenty answered calls after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=TIMEOUT + 5)
    while access_log_drain():
        pass

    statuses = Counter((status, code) for _, _, status, code in answers)
    during = [a for a in answers if down_at <= a[0] <= up_at]
    print(
        f"\n[chaos] PostgreSQL down {up_at - down_at:.1f} s under {CALLERS} callers: {len(answers)} calls, "
        f"{dict(statuses)}; {len(during)} sent while it was down (slowest {max((a[1] for a in during), default=0):.2f} s); "
        f"20 answered calls {recovered_in:.1f} s after it was back; access-log rows {GatewayCall.objects.count()}"
    )
    assert not failures, failures[:5]
    # Only answers or quick, documented refusals: no 500, nothing else.
    assert set(statuses) <= {(200, ""), (503, "grants_unavailable")}, statuses
    assert max(took for _, took, _, _ in answers) < 10
    # Every call the gateway could tie to its token is in the access log once:
    # all the answered ones. A call refused because the grant could not be read
    # (token unknown, the cache cold and the database away) is in the server's
    # log only, as are calls with an unknown token.
    assert GatewayCall.objects.filter(status_code=200).count() == statuses[(200, "")]
    assert GatewayCall.objects.count() == len(answers) - statuses[(503, "grants_unavailable")]
    close_db_connections()
