"""Operators' view of standards. Standards are drafted and published through the
API (so each step is in the audit trail); here a draft's text can be corrected,
and a published standard is read-only: it is never edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from standards.models import IncidentKind, Standard, StandardStatus, SuiteRequirement

# Set only by standard_publish.
PUBLICATION_FIELDS = ["status", "in_force_from", "published_by", "content_digest"]


def _is_draft(obj: Any) -> bool:
    return obj is not None and obj.status == StandardStatus.DRAFT


class _RequirementInline(admin.TabularInline):
    extra = 0

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return _is_draft(obj)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return _is_draft(obj)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return _is_draft(obj)


class SuiteRequirementInline(_RequirementInline):
    model = SuiteRequirement
    raw_id_fields = ["affordance"]


class IncidentKindInline(_RequirementInline):
    model = IncidentKind


@admin.register(Standard)
class StandardAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "status", "in_force_from", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "version"]
    inlines = [SuiteRequirementInline, IncidentKindInline]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        if _is_draft(obj):
            return PUBLICATION_FIELDS
        if obj is None:
            return PUBLICATION_FIELDS
        return [f.name for f in Standard._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False  # drafted through the API: it validates and records the event

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return _is_draft(obj)
