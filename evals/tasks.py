"""Celery tasks of the evals app: they take ids and only call services."""

from __future__ import annotations

from celery import shared_task

from evals import services


@shared_task(name="stagegate.evals.run_shard", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_shard(shard_id: int) -> str:
    """One shard of a run as one Inspect eval, each sample's result kept
    exactly once: see evals.services.shard_execute."""
    return services.shard_execute(shard_id=shard_id)


@shared_task(name="stagegate.maintenance.evals_reconcile", ignore_result=True)
def evals_reconcile() -> int:
    """Re-queue shards whose task was lost (Redis restart, dead worker)."""
    return services.shards_reconcile()
