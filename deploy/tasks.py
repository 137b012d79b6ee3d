"""Periodic work of the staged release."""

from __future__ import annotations

from celery import shared_task

from deploy.services import online_learning_expire


@shared_task(name="stagegate.maintenance.online_learning_expire")
def online_learning_expire_task() -> int:
    """Suspend releases of online-learning systems whose sign-offs expired (rule 15)."""
    return online_learning_expire()
