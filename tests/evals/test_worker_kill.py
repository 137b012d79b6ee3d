"""A real Celery worker is killed mid-shard; another takes over; every sample
ends with exactly one result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from core.actors import actor_for
from evals import services
from evals.models import EvalRun, EvalSample

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")

pytestmark = pytest.mark.celery_worker


def start_worker(queue: str, name: str, log: Path, gateway_url: str) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "STAGEGATE_GATEWAY_URL": gateway_url,
        "STAGEGATE_EVALS_QUEUE": queue,
        "STAGEGATE_EVALS_LEASE_SECONDS": "3",
        "STAGEGATE_EVALS_SHARD_SIZE": "4",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{name}-{queue}@%h",
        "-c",
        "2",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)


def test_killing_a_worker_mid_run_loses_and_duplicates_nothing(scene, tmp_path):
    queue = f"evals-test-{uuid.uuid4().hex[:8]}"
    gateway = settings.STAGEGATE_GATEWAY_URL
    scene.model.delay = 1.0  # three calls per sample: a shard takes a few seconds
    with override_settings(STAGEGATE_EVALS_QUEUE=queue, STAGEGATE_EVALS_SHARD_SIZE=4):
        run = services.eval_run_start(
            actor=actor_for(scene.w.auditor),
            audit=scene.audit,
            suite="insider_trading_deception",
            conditions=["prompt=none;scratchpad;pressure=all;risk=low"],
            samples_per_condition=10,
        )
        samples = EvalSample.objects.filter(run=run)
        first = start_worker(queue, "a", tmp_path / "a.log", gateway)
        second = None
        try:
            wait_for(lambda: samples.filter(status="done").count() >= 4, 120, "the first shard's results")
            wait_for(lambda: samples.filter(status="running").exists(), 30, "a shard in flight")
            stop(first, signal.SIGKILL)  # the whole worker, mid-shard
            in_flight = set(samples.filter(status="running").values_list("pk", flat=True))
            assert in_flight
            second = start_worker(queue, "b", tmp_path / "b.log", gateway)

            def finished() -> bool:
                services.shards_reconcile()  # what the periodic task does
                return EvalRun.objects.get(pk=run.pk).finished_at is not None

            wait_for(finished, 120, "the run to finish")
        finally:
            for p in (first, second):
                if p is not None:
                    stop(p, signal.SIGTERM)
    statuses = list(samples.values_list("status", flat=True))
    assert statuses == ["done"] * 10
    # The samples cut off mid-flight were taken up again and finished once,
    # each in a shard of its own; every result came from one attempt's log.
    again = samples.filter(pk__in=in_flight)
    assert all(s.attempts == 2 and len(s.calls) == 3 and s.labels["misaligned_action"] == "yes" for s in again)
    assert all(s.shard.number >= 3 for s in again)
    run.refresh_from_db()
    assert run.results["overall"]["misaligned_rate"]["of"] == 10
    assert sum(log.ingested for log in run.logs.all()) == 10
