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


@shared_task(name="stagegate.transparency.witness_pull", acks_late=True)
def witness_pull() -> int:
    """Read the independent witness's cosignatures and split-view alarms
    (docs/witness.md); nothing to do when no witness is configured. Returns the
    split views newly recorded."""
    from django.conf import settings

    from transparency.witness_log import WitnessUnavailable
    from transparency.witness_log import witness_pull as pull

    if not (settings.STAGEGATE_WITNESS_URL and settings.STAGEGATE_WITNESS_PUBLIC_KEY):
        return 0
    try:
        report = pull()
    except WitnessUnavailable:
        return 0  # logged by the pull; the next run tries again
    return len(report.new_alarms)
