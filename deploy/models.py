"""The staged release of a system version. Issue 3 seeds it with the release
state the gateway enforces (stage and status); issue 6 adds gates, customers
and incidents on top."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.models import BaseModel
from standards.models import Stage


class ReleaseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    HALTED = "halted", "Halted by the regulator"
    SUSPENDED = "suspended", "Suspended (e.g. after a serious incident)"


class ReleaseQuerySet(models.QuerySet["Release"]):
    def visible_to(self, actor: Any, action: str = "view") -> ReleaseQuerySet:
        from deploy.permissions import release_scope

        return release_scope(self, actor, action)


class Release(BaseModel):
    """Where a system version stands in the staged release. A system version
    without a row is at stage 0 (internal). Only deploy.services changes
    ``stage`` and ``status``."""

    system_version = models.OneToOneField("labs.SystemVersion", on_delete=models.PROTECT, related_name="release")
    stage = models.PositiveSmallIntegerField(choices=Stage.choices, default=Stage.INTERNAL)
    status = models.CharField(max_length=12, choices=ReleaseStatus.choices, default=ReleaseStatus.ACTIVE)
    reason = models.TextField(blank=True, help_text="Why the last change was made")
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(stage__gte=0, stage__lte=3), name="release_stage_range"),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "halted", "suspended"]), name="release_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system_version_id}: stage {self.stage} ({self.status})"
