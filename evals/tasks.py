"""Celery tasks of the evals app: they take ids and only call services."""

from __future__ import annotations

from celery import shared_task

from evals import services


@shared_task(name="stagegate.evals.run_sample", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_sample(sample_id: int) -> str:
    """One sample, exactly once: see evals.services.sample_execute."""
    return services.sample_execute(sample_id=sample_id)


@shared_task(name="stagegate.maintenance.evals_reconcile", ignore_result=True)
def evals_reconcile() -> int:
    """Re-queue samples whose task was lost (Redis restart, dead worker)."""
    return services.samples_reconcile()
