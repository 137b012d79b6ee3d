"""Vetted customers: know-your-customer records that the regulator verifies,
their periodic re-review, and enrolments of customer organisations into a
release at stage 2 (at most the standard's cap active at once). Customers
reach the system only through gateway tokens, which the gateway re-checks
against these rows on every call (by relation name: it sits below this app)."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import AppendOnly, BaseModel, Organisation


class KycStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted, awaiting the regulator"
    VERIFIED = "verified", "Verified by the regulator"
    REJECTED = "rejected", "Rejected by the regulator"
    REVIEW_DUE = "review_due", "Periodic re-review due"


class KycRecordQuerySet(models.QuerySet["KycRecord"]):
    def visible_to(self, actor: Any, action: str = "view") -> KycRecordQuerySet:
        from customers.permissions import kyc_record_scope

        return kyc_record_scope(self, actor, action)

    def verified_at(self, when: datetime.datetime) -> KycRecordQuerySet:
        """Records that count as verified at ``when``: verified and not past
        their re-review date (one past it stops counting at once, before the
        periodic task marks it ``review_due``)."""
        return self.filter(status=KycStatus.VERIFIED, next_review_due__gt=when)

    def pending_review(self, when: datetime.datetime) -> KycRecordQuerySet:
        """Records waiting for the regulator: new or resubmitted, due for
        re-review, or verified but past their re-review date."""
        return self.filter(
            models.Q(status__in=[KycStatus.SUBMITTED, KycStatus.REVIEW_DUE])
            | models.Q(status=KycStatus.VERIFIED, next_review_due__lte=when)
        )


class KycRecord(BaseModel):
    """What a customer organisation declares about itself, and the regulator's
    decision on it. The regulator, not the lab, verifies identity: a lab has
    an incentive to widen the audience of its own system."""

    organisation = models.OneToOneField(Organisation, on_delete=models.PROTECT, related_name="kyc")
    legal_name = models.CharField(max_length=200)
    registration_number = models.CharField(max_length=64)
    jurisdiction = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    registered_address = models.CharField(max_length=1000)
    stated_purpose = models.TextField(max_length=5000, help_text="What the customer will use the system for")
    status = models.CharField(max_length=12, choices=KycStatus.choices, default=KycStatus.SUBMITTED)
    # SHA-256 of the canonical JSON of the submission (details and owners): a
    # decision binds exactly what was reviewed.
    submission_digest = models.CharField(max_length=64)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(default=timezone.now)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_note = models.TextField(blank=True, max_length=5000, help_text="What the regulator checked")
    next_review_due = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True, max_length=5000)
    log_index = models.PositiveBigIntegerField(null=True, blank=True, help_text="The last decision's log entry")

    objects = KycRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["submitted", "verified", "rejected", "review_due"]),
                name="kyc_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(jurisdiction__regex=r"^[A-Z]{2}$"), name="kyc_jurisdiction_iso"),
            models.CheckConstraint(
                condition=~models.Q(status="verified")
                | models.Q(verified_by__isnull=False, verified_at__isnull=False, next_review_due__isnull=False),
                name="kyc_verified_has_verifier",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="rejected") | ~models.Q(rejection_reason=""),
                name="kyc_rejected_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"KYC of {self.legal_name} ({self.status})"

    def is_verified_at(self, when: datetime.datetime | None = None) -> bool:
        when = when or timezone.now()
        return self.status == KycStatus.VERIFIED and self.next_review_due is not None and self.next_review_due > when


class BeneficialOwnerQuerySet(models.QuerySet["BeneficialOwner"]):
    def current(self) -> BeneficialOwnerQuerySet:
        return self.filter(superseded_at__isnull=True)


class BeneficialOwner(BaseModel):
    """A natural person who owns or controls the customer. A resubmission
    supersedes the previous owners; none is deleted."""

    record = models.ForeignKey(KycRecord, on_delete=models.PROTECT, related_name="owners")
    full_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    ownership_percent = models.DecimalField(max_digits=5, decimal_places=2)
    controls = models.BooleanField(default=False, help_text="Exercises control other than through ownership")
    superseded_at = models.DateTimeField(null=True, blank=True)

    objects = BeneficialOwnerQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "full_name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ownership_percent__gte=0, ownership_percent__lte=100),
                name="beneficial_owner_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="beneficial_owner_country_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.ownership_percent}%)"


class KycReviewOutcome(models.TextChoices):
    VERIFIED = "verified", "Verified (or re-verified)"
    REJECTED = "rejected", "Rejected"
    REVIEW_DUE = "review_due", "Re-review date passed"


class KycReview(AppendOnly, BaseModel):
    """One decision on a KYC record: who, when, the outcome and what was
    reviewed (the submission digest). Append-only: the ORM refuses updates and
    deletes, and on PostgreSQL a trigger refuses them too."""

    record = models.ForeignKey(KycRecord, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="None when the service itself recorded it (a re-review falling due)",
    )
    outcome = models.CharField(max_length=12, choices=KycReviewOutcome.choices)
    note = models.TextField(blank=True, max_length=5000)
    submission_digest = models.CharField(max_length=64)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["verified", "rejected", "review_due"]), name="kyc_review_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.created_at:%Y-%m-%d}"


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    WITHDRAWN = "withdrawn", "Withdrawn"


class EnrolmentConsentQuerySet(models.QuerySet["EnrolmentConsent"]):
    def visible_to(self, actor: Any, action: str = "view") -> EnrolmentConsentQuerySet:
        from customers.permissions import enrolment_scope

        return enrolment_scope(self, actor, action)

    def active(self) -> EnrolmentConsentQuerySet:
        return self.filter(withdrawn_at__isnull=True)


class EnrolmentConsent(BaseModel):
    """A customer organisation's consent to be enrolled in one system version's
    release by its lab. A lab enrols only a customer that consented, and
    withdrawing consent withdraws the enrolment: a lab cannot attach a
    customer (and so read its KYC summary) on the strength of an id alone."""

    customer = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="enrolment_consents")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="+")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = EnrolmentConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "system_version"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="enrolment_consent_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} consents to {self.system_version_id}"


class EnrolmentQuerySet(models.QuerySet["Enrolment"]):
    def visible_to(self, actor: Any, action: str = "view") -> EnrolmentQuerySet:
        from customers.permissions import enrolment_scope

        return enrolment_scope(self, actor, action)

    def active(self) -> EnrolmentQuerySet:
        return self.filter(status=EnrolmentStatus.ACTIVE)


class Enrolment(BaseModel):
    """A customer organisation admitted to a release at stage 2 by the lab.
    At most the standard's cap are active per release (enforced under a lock
    on the release row); withdrawal frees a place."""

    release = models.ForeignKey("releases.Release", on_delete=models.PROTECT, related_name="enrolments")
    customer = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="enrolments")
    status = models.CharField(max_length=12, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ACTIVE)
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    enrolled_at = models.DateTimeField(default=timezone.now)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True, max_length=2000)
    log_index = models.PositiveBigIntegerField(null=True, blank=True)
    withdrawal_log_index = models.PositiveBigIntegerField(null=True, blank=True)

    objects = EnrolmentQuerySet.as_manager()

    class Meta:
        ordering = ["-enrolled_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "customer"],
                condition=models.Q(status="active"),
                name="enrolment_one_active_per_customer",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "withdrawn"]), name="enrolment_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="withdrawn") | models.Q(withdrawn_at__isnull=False),
                name="enrolment_withdrawn_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.release_id} ({self.status})"
