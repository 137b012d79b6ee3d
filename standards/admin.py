"""Operators' view of standards, read-only: drafts are written and published
through the API (standards.services), so each step is in the audit trail, and
a published standard is never edited."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyInline, ReadOnlyModelAdmin
from standards.models import IncidentKind, Standard, SuiteRequirement


class SuiteRequirementInline(ReadOnlyInline):
    model = SuiteRequirement


class IncidentKindInline(ReadOnlyInline):
    model = IncidentKind


@admin.register(Standard)
class StandardAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "version", "status", "in_force_from", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "version"]
    inlines = [SuiteRequirementInline, IncidentKindInline]
