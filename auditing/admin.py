"""Operators' view of auditing, read-only: issuing, suspending, assigning,
paying and scoping an audit go through the API's services, which check the
rules and record the audit event (core/admin.py says why)."""

from __future__ import annotations

from django.contrib import admin

from auditing.models import (
    AcademicSummary,
    Audit,
    AuditAssignment,
    Certification,
    ConflictOfInterest,
    Fee,
    OrganisationRelationship,
)
from core.admin import ReadOnlyInline, ReadOnlyModelAdmin


@admin.register(Certification)
class CertificationAdmin(ReadOnlyModelAdmin):
    list_display = ["organisation", "status", "issued_at", "expires_at", "infosec_level", "expiry_recorded_at"]
    list_filter = ["status", "infosec_level"]
    search_fields = ["organisation__name"]


@admin.register(ConflictOfInterest)
class ConflictOfInterestAdmin(ReadOnlyModelAdmin):
    list_display = ["organisation", "lab", "kind", "created_at", "ended_at"]
    list_filter = ["kind"]
    search_fields = ["organisation__name", "lab__name"]


class AssignmentInline(ReadOnlyInline):
    model = AuditAssignment
    fields = ("organisation", "created_at", "ended_at", "end_reason")


@admin.register(Audit)
class AuditAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "lab", "system_version", "kind", "status", "created_at", "closed_at"]
    list_filter = ["status", "kind"]
    search_fields = ["lab__name", "system_version__name"]
    inlines = [AssignmentInline]


@admin.register(AuditAssignment)
class AuditAssignmentAdmin(ReadOnlyModelAdmin):
    list_display = ["audit", "organisation", "created_at", "ended_at"]
    search_fields = ["organisation__name"]


@admin.register(Fee)
class FeeAdmin(ReadOnlyModelAdmin):
    list_display = ["audit", "direction", "organisation", "amount", "currency", "paid_at"]
    list_filter = ["direction", "currency"]


@admin.register(OrganisationRelationship)
class OrganisationRelationshipAdmin(ReadOnlyModelAdmin):
    list_display = ["organisation", "counterparty", "kind", "starts_on", "ends_on"]
    list_filter = ["kind"]
    search_fields = ["organisation__name", "counterparty__name"]


@admin.register(AcademicSummary)
class AcademicSummaryAdmin(ReadOnlyModelAdmin):
    list_display = ["title", "organisation", "audit", "status", "published_at"]
    list_filter = ["status"]
    search_fields = ["title", "organisation__name"]
