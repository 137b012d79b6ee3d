"""A message to one person about something that concerns them: a decision,
a finding, a halted release, a deadline. Made only by notifications.services
(from audit events, after they commit, and by the reminder task)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class NotificationKind(models.TextChoices):
    GATE_REQUEST_DECIDED = "gate_request_decided", "Stage request decided"
    FINDING_FILED = "finding_filed", "Finding filed"
    FINDING_ANSWERED = "finding_answered", "Finding answered by the lab"
    RELEASE_HALTED = "release_halted", "Release halted"
    RELEASE_SUSPENDED = "release_suspended", "Release suspended"
    DEADLINE_NEAR = "deadline_near", "Deadline near"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True, help_text="A portal path")
    # The object it is about, as the audit trail names it (app_label.model, primary key).
    target_type = models.CharField(max_length=80)
    target_id = models.CharField(max_length=64)
    event = models.ForeignKey(
        "core.AuditEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=True
    )
    # One notification per recipient and cause: "event:<id>" or "deadline:<what>:<pk>:<due>".
    dedupe_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "dedupe_key"], name="notification_once_per_cause"),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in NotificationKind]), name="notification_kind_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["recipient", "created_at"], condition=models.Q(read_at__isnull=True), name="notification_unread"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}: {self.title}"
