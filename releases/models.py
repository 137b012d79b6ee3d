"""Where each system version stands in the staged release: its stage (0–3)
and status (active / halted / suspended). A low app (above labs and
standards, below auditing) so that every app that enforces the release
state — the gateway, customers' enrolments, the public record, monitoring —
imports it openly; the rules that change it (gates, the regulator's
decisions, halts) live in ``deploy``, whose ``deploy.services`` is the only
writer of ``stage`` and ``status``.

The model moved here from ``deploy`` without moving its table
(``deploy_release``; ``releases/migrations/0001_initial.py``)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from core.models import BaseModel
from standards.models import Stage


class ReleaseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    HALTED = "halted", "Halted by the regulator"
    SUSPENDED = "suspended", "Suspended (e.g. after a serious incident)"


class ReleaseQuerySet(models.QuerySet["Release"]):
    def visible_to(self, actor: Any, action: str = "view") -> ReleaseQuerySet:
        from releases.permissions import release_scope

        return release_scope(self, actor, action)


class Release(BaseModel):
    """Where a system version stands in the staged release. A system version
    without a row is at stage 0 (internal). Only deploy.services changes
    ``stage`` and ``status``."""

    # The name log entries and audit events give a release: the one they
    # had before the model moved here, so the public record's history of a
    # release stays under one (type, id) (core.models.record_type).
    RECORD_TYPE: ClassVar[str] = "deploy.release"

    system_version = models.OneToOneField("labs.SystemVersion", on_delete=models.PROTECT, related_name="release")
    stage = models.PositiveSmallIntegerField(choices=Stage.choices, default=Stage.INTERNAL)
    status = models.CharField(max_length=12, choices=ReleaseStatus.choices, default=ReleaseStatus.ACTIVE)
    reason = models.TextField(blank=True, help_text="Why the last change was made")
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        db_table = "deploy_release"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(stage__gte=0, stage__lte=3), name="release_stage_range"),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "halted", "suspended"]), name="release_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system_version_id}: stage {self.stage} ({self.status})"
