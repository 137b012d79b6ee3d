"""Periodic work for auditing. Tasks only call services; the beat schedule
lives in config/settings/celery.py and routes stagegate.maintenance.* to the
maintenance queue."""

from __future__ import annotations

from celery import shared_task

from auditing.services import certifications_expire


@shared_task(name="stagegate.maintenance.certifications_expire")
def certifications_expire_task() -> int:
    """Record the expiry of every certification whose expiry has passed (idempotent)."""
    return certifications_expire()
