"""Operators see incidents and the whistleblower key register, read-only:
every change goes through monitoring.services (audit trail, transparency
log). Whistleblower reports are not in the admin at all: they are the
regulator's, sealed, and listed only through the regulator's API."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from monitoring.models import Incident, WhistleblowerKey


@admin.register(Incident)
class IncidentAdmin(ReadOnlyModelAdmin):
    list_display = ["title", "system_version", "reporter_kind", "serious", "status", "late", "overdue_flagged"]
    list_filter = ["status", "serious", "reporter_kind", "overdue_flagged"]
    exclude = ["whistleblower_report"]


@admin.register(WhistleblowerKey)
class WhistleblowerKeyAdmin(ReadOnlyModelAdmin):
    list_display = ["keyid", "status", "created_at", "retired_at"]
