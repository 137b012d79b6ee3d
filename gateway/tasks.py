"""The access-log drain, run every few seconds by beat (config/settings/celery.py)."""

from __future__ import annotations

from celery import shared_task

from gateway.services import access_log_drain


@shared_task(name="stagegate.gateway.drain_access_log", acks_late=True, reject_on_worker_lost=True)
def drain_access_log() -> int:
    """Move the gateway's access log from Redis into PostgreSQL (idempotent)."""
    return access_log_drain()
