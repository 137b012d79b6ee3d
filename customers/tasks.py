"""Periodic work for customers. Tasks only call services; the beat schedule
lives in config/settings/celery.py and routes stagegate.maintenance.* to the
maintenance queue."""

from __future__ import annotations

from celery import shared_task

from customers.services import kyc_reviews_mark_due


@shared_task(name="stagegate.maintenance.kyc_reviews_due")
def kyc_reviews_due_task() -> int:
    """Mark verified KYC records past their re-review date ``review_due`` (idempotent)."""
    return kyc_reviews_mark_due()
