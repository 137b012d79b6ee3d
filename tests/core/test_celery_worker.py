"""A real Celery worker process answers stagegate.ping through Redis.

The worker consumes a queue named for this test run only, so parallel runs
against the same Redis never take each other's messages."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings

from config.celery import app
from core.tasks import ping

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")

pytestmark = pytest.mark.celery_worker


@dataclass
class Worker:
    queue: str
    node: str
    log: Path


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    """A worker process started for this test on its own queue, always stopped afterwards."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    started = Worker(queue=queue, node=f"{queue}@", log=tmp_path / "worker.log")
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
    # fmt: off
    command = [
        str(CELERY), "-A", "config", "worker", "-Q", queue, "-n", f"{queue}@%h", "--pool", "solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
    ]
    # fmt: on
    with started.log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        # The Redis transport keeps binding keys per queue: drop ours.
        redis.Redis.from_url(settings.REDIS_URL).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )


def test_a_real_worker_answers_ping(worker: Worker) -> None:
    result = app.send_task(ping.name, queue=worker.queue)
    try:
        reply = result.get(timeout=60)
    except CeleryTimeoutError:
        pytest.fail("no reply from the worker within 60 s; its log:\n" + worker.log.read_text()[-4000:])
    finally:
        result.forget()
    assert reply["reply"] == "pong"
    assert reply["worker"].startswith(worker.node)


def test_ping_is_named_and_routed_to_the_default_queue() -> None:
    assert ping.name == "stagegate.ping"
    assert app.amqp.router.route({}, ping.name)["queue"].name == "default"
