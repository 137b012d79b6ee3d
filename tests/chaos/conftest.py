"""Fault injection. The fast scenarios run in the normal suite; the slow ones
(SLOW below) only under tests/chaos/run, which gives them a PostgreSQL cluster
and a Redis of their own to restart and cut off: never the shared services
that other tests (and other people) use."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.db import connection

from tests.evals.conftest import gateway_server, model, scene  # noqa: F401  (fixtures)
from tests.gateway.conftest import gateway_url, upstream  # noqa: F401  (fixtures)

SLOW = ["test_worker_faults.py", "test_gateway_postgres_restart.py"]
CHAOS = os.environ.get("STAGEGATE_CHAOS") == "1"
collect_ignore = [] if CHAOS else SLOW


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> float:
    """Seconds it took until ``predicate()`` was true; fails after ``timeout``."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):  # the service under test may be down meanwhile: ask again
            if predicate():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Services:
    """The chaos run's own PostgreSQL and Redis (see tests/chaos/run)."""

    def __init__(self) -> None:
        env = os.environ
        self.pg_bin = env["STAGEGATE_CHAOS_PG_BIN"]
        self.pgdata = env["STAGEGATE_CHAOS_PGDATA"]
        self.pg_opts = env["STAGEGATE_CHAOS_PG_OPTS"]
        self.pg_log = env["STAGEGATE_CHAOS_PG_LOG"]
        self.redis_args = env["STAGEGATE_CHAOS_REDIS_ARGS"]
        self.redis_port = int(env["STAGEGATE_CHAOS_REDIS_PORT"])
        self.as_pg = ["runuser", "-u", "postgres", "--"] if env.get("STAGEGATE_CHAOS_AS_ROOT") == "1" else []

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_pg, f"{self.pg_bin}/pg_ctl", "-D", self.pgdata, *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def pg_stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast", "-w")

    def pg_start(self) -> None:
        self._pg_ctl("start", "-w", "-o", self.pg_opts, "-l", self.pg_log)

    def pg_terminate_others(self) -> int:
        """Drop every other connection to the test database (workers, the
        gateway's threads): what a failover or a network cut does to them."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return int(cursor.fetchone()[0])

    def redis(self) -> redis.Redis:
        return redis.Redis(port=self.redis_port, socket_connect_timeout=0.5, socket_timeout=2)

    def redis_restart(self) -> None:
        """Shut Redis down without saving and start it again: empty, as a
        Redis without persistence comes back after a crash."""
        try:
            self.redis().shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # it closes the connection as it goes
        wait_for(lambda: not _pings(self.redis()), 10, "Redis to stop")
        subprocess.run(["bash", "-c", f"redis-server {self.redis_args}"], check=True, timeout=30)
        wait_for(lambda: _pings(self.redis()), 10, "Redis to start")


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def services() -> Services:
    if not CHAOS:
        pytest.skip("needs tests/chaos/run (services of its own)")
    return Services()
