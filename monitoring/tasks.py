"""Periodic work for monitoring. Tasks only call services; the beat schedule
lives in config/settings/celery.py and routes stagegate.maintenance.* to the
maintenance queue."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import attestation_incidents_open, incidents_flag_overdue


@shared_task(name="stagegate.maintenance.incidents_flag_overdue")
def incidents_flag_overdue_task() -> int:
    """Flag, once each, incidents whose lab report is past due (idempotent)."""
    return incidents_flag_overdue()


@shared_task(name="stagegate.maintenance.attestation_incidents_open", acks_late=True, reject_on_worker_lost=True)
def attestation_incidents_open_task() -> int:
    """Open the gateway's incidents on endpoints that did not attest the audited
    system from stage 2 (reads the stored access log: a missed run loses nothing)."""
    return attestation_incidents_open()
