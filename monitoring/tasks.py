"""Periodic work for monitoring. Tasks only call services; the beat schedule
lives in config/settings/celery.py and routes stagegate.maintenance.* to the
maintenance queue."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import incidents_flag_overdue


@shared_task(name="stagegate.maintenance.incidents_flag_overdue")
def incidents_flag_overdue_task() -> int:
    """Flag, once each, incidents whose lab report is past due (idempotent)."""
    return incidents_flag_overdue()
