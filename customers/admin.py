"""Operators see KYC records, reviews and enrolments; every change goes through
customers.services (audit trail and transparency log), so all is read-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from customers.models import BeneficialOwner, Enrolment, KycRecord, KycReview


@admin.register(KycRecord)
class KycRecordAdmin(ReadOnlyModelAdmin):
    list_display = ["legal_name", "organisation", "status", "verified_at", "next_review_due"]
    list_filter = ["status"]
    search_fields = ["legal_name", "registration_number"]


@admin.register(BeneficialOwner)
class BeneficialOwnerAdmin(ReadOnlyModelAdmin):
    list_display = ["full_name", "record", "ownership_percent", "controls", "superseded_at"]


@admin.register(KycReview)
class KycReviewAdmin(ReadOnlyModelAdmin):
    list_display = ["record", "outcome", "reviewer", "created_at"]
    list_filter = ["outcome"]


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyModelAdmin):
    list_display = ["customer", "release", "status", "enrolled_at", "withdrawn_at"]
    list_filter = ["status"]
