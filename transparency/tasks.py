"""Reporting to the regulator. The beat schedule (config/settings/celery.py)
drains the outbox every few seconds; a failed run retries with backoff, and
the next run picks up whatever is left, so delivery is at least once."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from transparency.services import outbox_deliver


@shared_task(
    bind=True,
    name="stagegate.transparency.deliver_outbox",
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
    acks_late=True,
)
def deliver_outbox(self: Any) -> int:
    return outbox_deliver()
