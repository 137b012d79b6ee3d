"""A real evaluation run on a real Celery worker, hit mid-run by a fault of
the services it stands on: Redis restarted without persistence (the queued and
unacknowledged tasks are gone), every database connection dropped. The rows
are the source of truth and the reconciler re-queues what was lost: each run
ends with exactly one result per sample, nothing lost, the counts adding up.

Each test prints what it measured (pytest -s shows it; docs/reliability.md
keeps the figures)."""

from __future__ import annotations

import datetime
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from core.actors import actor_for
from evals import services
from evals.models import EvalRun, EvalSample
from gateway.models import GatewayCall
from gateway.proxy.server import close_db_connections
from gateway.services import access_log_drain
from tests.chaos.conftest import Services, wait_for
from tests.evals.test_worker_kill import start_worker, stop

pytestmark = pytest.mark.celery_worker

SAMPLES = 8
CALLS_PER_SAMPLE = 3  # the insider-trading script: three turns


def run_through(scene: Any, tmp_path: Path, fault: Callable[[], object]) -> dict[str, Any]:
    """Start a run, let the worker finish some samples, inject the fault while
    others are in flight, then reconcile as the periodic task does until the
    run finishes. Returns the figures."""
    queue = f"evals-chaos-{uuid.uuid4().hex[:8]}"
    scene.model.delay = 0.2
    # The gateway's access-log spool as deployed (the test settings turn it off:
    # other tests' databases would receive its replays), in a directory of the test's own.
    with override_settings(
        STAGEGATE_EVALS_QUEUE=queue,
        STAGEGATE_EVALS_SHARD_SIZE=2,
        STAGEGATE_GATEWAY_SPOOL_DIR=str(tmp_path / "gateway-spool"),
    ):
        run = services.eval_run_start(
            actor=actor_for(scene.w.auditor),
            audit=scene.audit,
            suite="insider_trading_deception",
            conditions=["prompt=none;scratchpad;pressure=all;risk=low"],
            samples_per_condition=SAMPLES,
        )
        samples = EvalSample.objects.filter(run=run)
        worker = start_worker(queue, "chaos", tmp_path / "worker.log", settings.STAGEGATE_GATEWAY_URL)
        try:
            wait_for(lambda: samples.filter(status="done").count() >= 2, 180, "the first shard's results")
            wait_for(lambda: samples.filter(status="running").exists(), 60, "a shard in flight")
            in_flight = samples.filter(status="running").count()
            done_before = samples.filter(status="done").count()
            fault_at = time.monotonic()
            fault()

            def finished() -> bool:
                # The periodic reconciler, with a short staleness bound so the
                # test need not wait the production two minutes.
                services.shards_reconcile(stale_after=datetime.timedelta(seconds=3))
                return EvalRun.objects.get(pk=run.pk).finished_at is not None

            wait_for(finished, 240, "the run to finish", every=1.0)
            recovered_in = time.monotonic() - fault_at
        finally:
            stop(worker, signal.SIGTERM)
            close_db_connections()  # the in-process gateway's, so the test database can be dropped
    run.refresh_from_db()
    while access_log_drain():
        pass
    return {
        "run": run,
        "samples": list(samples.order_by("condition", "index")),
        "in_flight": in_flight,
        "done_before": done_before,
        "recovered_in": recovered_in,
        "upstream_calls": len(scene.model.requests),
        "logged_calls": GatewayCall.objects.filter(token__isnull=False).count(),
        "logged_answers": GatewayCall.objects.filter(status_code=200).count(),
        "log": (tmp_path / "worker.log").read_text(errors="replace"),
    }


def assert_exactly_one_result_each(figures: dict[str, Any]) -> None:
    run, samples = figures["run"], figures["samples"]
    assert len(samples) == SAMPLES
    assert [s.status for s in samples] == ["done"] * SAMPLES, [(s.index, s.status, s.error) for s in samples]
    # Every result is whole: one attempt's three calls, graded.
    # Every result is whole: one attempt's three answered calls, graded. A call
    # the gateway refused while Redis was away (503) was retried, and the
    # sample keeps the refusal beside the answer.
    whole = [
        (s.index, s.attempts, [c.get("status") for c in s.calls], s.labels.get("misaligned_action")) for s in samples
    ]
    assert all(
        sum(1 for c in s.calls if c.get("status") == 200) == CALLS_PER_SAMPLE
        and all(c.get("status") in (200, 503) for c in s.calls)
        and s.labels["misaligned_action"] == "yes"
        for s in samples
    ), whole
    assert run.results["overall"]["misaligned_rate"]["of"] == SAMPLES
    # Each sample's result was ingested exactly once, from one attempt's log.
    assert sum(log.ingested for log in run.logs.all()) == SAMPLES


def report(name: str, figures: dict[str, Any]) -> None:
    attempts = [s.attempts for s in figures["samples"]]
    retried = sum(1 for s in figures["samples"] for c in s.calls if c.get("status") != 200)
    print(
        f"\n[chaos] {name}: {SAMPLES} samples, {figures['done_before']} done and {figures['in_flight']} in flight "
        f"at the fault; run finished {figures['recovered_in']:.1f} s after it; attempts per sample "
        f"{min(attempts)}-{max(attempts)} (sum {sum(attempts)}); {retried} refused calls retried; upstream calls {figures['upstream_calls']}, "
        f"access-log rows {figures['logged_calls']} ({figures['logged_answers']} of them answered calls)"
    )


def test_redis_restarted_without_persistence_mid_run(scene: Any, services: Services, tmp_path: Path) -> None:
    figures = run_through(scene, tmp_path, services.redis_restart)
    report("Redis restarted without persistence", figures)
    assert_exactly_one_result_each(figures)
    # Nothing the gateway answered is missing from its access log: the entries
    # still in the Redis stream at the restart come back from the spool.
    assert figures["logged_answers"] == figures["upstream_calls"]


def test_database_connections_dropped_mid_run(scene: Any, services: Services, tmp_path: Path) -> None:
    dropped: list[int] = []
    figures = run_through(scene, tmp_path, lambda: dropped.append(services.pg_terminate_others()))
    report(f"{dropped[0]} database connections dropped", figures)
    assert dropped[0] >= 1  # the worker's at least
    assert_exactly_one_result_each(figures)
    assert figures["logged_answers"] == figures["upstream_calls"]
