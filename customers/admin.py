"""Operators see KYC records, reviews and enrolments; every change goes through
customers.services (audit trail and transparency log), so all is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from customers.models import BeneficialOwner, Enrolment, KycRecord, KycReview


class _ReadOnly(admin.ModelAdmin):
    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(KycRecord)
class KycRecordAdmin(_ReadOnly):
    list_display = ["legal_name", "organisation", "status", "verified_at", "next_review_due"]
    list_filter = ["status"]
    search_fields = ["legal_name", "registration_number"]


@admin.register(BeneficialOwner)
class BeneficialOwnerAdmin(_ReadOnly):
    list_display = ["full_name", "record", "ownership_percent", "controls", "superseded_at"]


@admin.register(KycReview)
class KycReviewAdmin(_ReadOnly):
    list_display = ["record", "outcome", "reviewer", "created_at"]
    list_filter = ["outcome"]


@admin.register(Enrolment)
class EnrolmentAdmin(_ReadOnly):
    list_display = ["customer", "release", "status", "enrolled_at", "withdrawn_at"]
    list_filter = ["status"]
