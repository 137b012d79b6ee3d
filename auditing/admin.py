"""Operators' view of auditing. Every change with a rule or an audit event
(issuing, suspending, assigning, paying) goes through the API's services, so
here the lifecycle fields are read-only and nothing is added or deleted. Fees
are entirely read-only: amounts never change."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from auditing.models import Audit, AuditAssignment, Certification, ConflictOfInterest, Fee


class _ServiceOwnedAdmin(admin.ModelAdmin):
    editable: tuple[str, ...] = ()

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields if f.name not in self.editable]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Certification)
class CertificationAdmin(_ServiceOwnedAdmin):
    list_display = ["organisation", "status", "issued_at", "expires_at", "infosec_level", "expiry_recorded_at"]
    list_filter = ["status", "infosec_level"]
    search_fields = ["organisation__name"]


@admin.register(ConflictOfInterest)
class ConflictOfInterestAdmin(_ServiceOwnedAdmin):
    list_display = ["organisation", "lab", "kind", "created_at", "ended_at"]
    list_filter = ["kind"]
    search_fields = ["organisation__name", "lab__name"]


class AssignmentInline(admin.TabularInline):
    model = AuditAssignment
    extra = 0
    can_delete = False
    fields = ("organisation", "created_at", "ended_at", "end_reason")
    readonly_fields = ("organisation", "created_at", "ended_at", "end_reason")

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Audit)
class AuditAdmin(_ServiceOwnedAdmin):
    editable = ("scope_notes",)  # free text with no rule attached
    list_display = ["id", "lab", "system_version", "kind", "status", "created_at", "closed_at"]
    list_filter = ["status", "kind"]
    search_fields = ["lab__name", "system_version__name"]
    inlines = [AssignmentInline]


@admin.register(AuditAssignment)
class AuditAssignmentAdmin(_ServiceOwnedAdmin):
    list_display = ["audit", "organisation", "created_at", "ended_at"]
    search_fields = ["organisation__name"]


@admin.register(Fee)
class FeeAdmin(_ServiceOwnedAdmin):
    list_display = ["audit", "direction", "organisation", "amount", "currency", "paid_at"]
    list_filter = ["direction", "currency"]

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
