"""Operators see releases; stage and status change only through deploy.services
(which write the audit trail), so everything here is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from deploy.models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["system_version", "stage", "status", "stage_changed_at", "status_changed_at"]
    list_filter = ["stage", "status"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
