"""Operators see incidents and the whistleblower key register, read-only:
every change goes through monitoring.services (audit trail, transparency
log). Whistleblower reports are not in the admin at all: they are the
regulator's, sealed, and listed only through the regulator's API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from monitoring.models import Incident, WhistleblowerKey


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["title", "system_version", "reporter_kind", "serious", "status", "late", "overdue_flagged"]
    list_filter = ["status", "serious", "reporter_kind", "overdue_flagged"]
    exclude = ["whistleblower_report"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields if f.name != "whistleblower_report"]


@admin.register(WhistleblowerKey)
class WhistleblowerKeyAdmin(ReadOnlyAdmin):
    list_display = ["keyid", "status", "created_at", "retired_at"]
