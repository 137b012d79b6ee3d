"""Tasks of the core app."""

from __future__ import annotations

from typing import Any

from celery import shared_task


# Queue: "default", by CELERY_TASK_DEFAULT_QUEUE (config/settings/celery.py).
# Celery 5.7 deprecates the `queue=` task attribute in favour of task_routes.
@shared_task(bind=True, name="stagegate.ping", ignore_result=False)
def ping(self: Any) -> dict[str, str]:
    """Prove that a worker is consuming the default queue: the reply names it."""
    return {"reply": "pong", "worker": str(self.request.hostname or "")}
