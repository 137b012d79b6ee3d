"""Periodic work for notifications (scheduled in config/settings/celery.py)."""

from __future__ import annotations

from celery import shared_task

from notifications.services import deadline_reminders_send


@shared_task(name="stagegate.maintenance.notifications_deadline_reminders")
def deadline_reminders_task() -> int:
    """Remind labs of incident reports due within 24 hours (idempotent)."""
    return deadline_reminders_send()
