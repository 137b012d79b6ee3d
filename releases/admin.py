"""Operators see releases; stage and status change only through deploy.services
(which write the audit trail), so everything here is read-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from releases.models import Release


@admin.register(Release)
class ReleaseAdmin(ReadOnlyModelAdmin):
    list_display = ["system_version", "stage", "status", "stage_changed_at", "status_changed_at"]
    list_filter = ["stage", "status"]
