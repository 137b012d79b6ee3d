"""Reads on KYC records and enrolments, scoped to the actor."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from core.actors import Actor
from core.errors import NotFound
from core.models import Organisation, OrganisationKind
from core.permissions import VIEW, get_for
from customers.models import (
    BeneficialOwner,
    Enrolment,
    EnrolmentConsent,
    EnrolmentQuerySet,
    KycRecord,
    KycRecordQuerySet,
)
from labs.models import SystemVersion
from releases.models import Release
from standards.models import Stage
from standards.selectors import standard_in_force

# KYC records


def _records() -> KycRecordQuerySet:
    return KycRecord.objects.select_related("organisation", "submitted_by", "verified_by").prefetch_related(
        Prefetch("owners", queryset=BeneficialOwner.objects.current(), to_attr="current_owners"),
        "reviews__reviewer",
    )


def kyc_customer_get(*, actor: Actor, organisation_pk: Any) -> Organisation:
    """The customer organisation whose KYC record the actor reads or writes:
    its own members', the regulator's, or (for reading) a lab's where the
    customer is enrolled in one of its releases. Anything else is not found."""
    qs = Organisation.objects.filter(kind=OrganisationKind.CUSTOMER)
    if not actor.is_regulator:
        visible = KycRecord.objects.visible_to(actor, VIEW).values("organisation_id")
        qs = qs.filter(Q(pk__in=actor.customer_ids) | Q(pk__in=visible))
    if not actor.is_authenticated:
        qs = qs.none()
    try:
        found = qs.filter(pk=organisation_pk).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise NotFound("customer organisation not found")
    return found


def kyc_record_get(*, actor: Actor, organisation: Organisation) -> KycRecord:
    record = _records().visible_to(actor, VIEW).filter(organisation=organisation).first()
    if record is None:
        raise NotFound("KYC record not found")
    return record


def kyc_full_view(*, actor: Actor, record: KycRecord) -> bool:
    """Whether the actor sees the identity data and owners (the customer's own
    members and the regulator) or only the summary (a lab)."""
    return actor.is_regulator or record.organisation_id in actor.customer_ids


def kyc_pending_list(*, actor: Actor, due_within_days: int = 0) -> QuerySet[KycRecord]:
    """Records waiting for the regulator, oldest first: new or resubmitted,
    due for re-review (or past the date), and, with ``due_within_days``,
    verified ones whose re-review falls due within that many days."""
    from core.permissions import require_regulator

    require_regulator(actor)
    now = timezone.now()
    horizon = now + datetime.timedelta(days=due_within_days)
    return (
        _records()
        .visible_to(actor, VIEW)
        .filter(
            Q(pk__in=KycRecord.objects.pending_review(now).values("pk"))
            | Q(status="verified", next_review_due__lte=horizon)
        )
        .order_by("submitted_at")
    )


# Enrolments


def release_system_version_get(*, actor: Actor, system_version_pk: Any) -> SystemVersion:
    """The system version whose enrolments the actor reads or changes: one they
    may see (the lab's, the regulator's, an assigned auditor's) or one their
    customer organisation is enrolled in. Anything else is not found."""
    qs = SystemVersion.objects.visible_to(actor, VIEW)
    if actor.customer_ids:
        enrolled = SystemVersion.objects.filter(release__enrolments__customer_id__in=actor.customer_ids)
        qs = SystemVersion.objects.filter(Q(pk__in=qs.values("pk")) | Q(pk__in=enrolled.values("pk")))
    try:
        found = qs.filter(pk=system_version_pk).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise NotFound("system version not found")
    return found


def consent_system_version_get(*, actor: Actor, system_version_pk: Any) -> SystemVersion:
    """A system version a customer may consent to be enrolled in: one whose
    release is at stage 2 (a public fact: the log records every stage), or one
    it already consented to or is enrolled in. Anything else is not found."""
    if not actor.customer_ids:
        raise NotFound("system version not found")
    open_ = Q(release__stage=Stage.LIMITED)
    mine = Q(release__enrolments__customer_id__in=actor.customer_ids)
    consented = EnrolmentConsent.objects.filter(customer_id__in=actor.customer_ids).values("system_version_id")
    try:
        found = (
            SystemVersion.objects.filter(open_ | mine | Q(pk__in=consented))
            .filter(pk=system_version_pk)
            .distinct()
            .first()
        )
    except (ValueError, TypeError, ValidationError):
        found = None
    if found is None:
        raise NotFound("system version not found")
    return found


def enrolment_consent_list(*, actor: Actor, system_version: SystemVersion | None = None) -> QuerySet[EnrolmentConsent]:
    qs = EnrolmentConsent.objects.visible_to(actor).select_related("system_version")
    if system_version is not None:
        qs = qs.filter(system_version=system_version)
    return qs


def _enrolments() -> EnrolmentQuerySet:
    return Enrolment.objects.select_related("customer", "enrolled_by", "withdrawn_by", "release__system_version__lab")


def enrolment_list(
    *, actor: Actor, system_version: SystemVersion | None = None, status: str | None = None
) -> QuerySet[Enrolment]:
    qs = _enrolments().visible_to(actor, VIEW)
    if system_version is not None:
        qs = qs.filter(release__system_version=system_version)
    if status:
        qs = qs.filter(status=status)
    return qs


def enrolment_get(*, actor: Actor, system_version: SystemVersion, pk: Any) -> Enrolment:
    return get_for(_enrolments().filter(release__system_version=system_version), actor, pk, VIEW)


@dataclass(frozen=True)
class Places:
    stage: int
    status: str
    cap: int
    active: int

    @property
    def remaining(self) -> int:
        return max(self.cap - self.active, 0)


def enrolment_places(*, system_version: SystemVersion) -> Places:
    """The standard's cap, the active enrolments and the places left (the
    cap applies at stage 2; a lowered cap leaves existing enrolments and
    admits none until there are fewer)."""
    release = Release.objects.filter(system_version=system_version).first()
    active = Enrolment.objects.active().filter(release=release).count() if release is not None else 0
    return Places(
        stage=release.stage if release is not None else 0,
        status=release.status if release is not None else "active",
        cap=standard_in_force().stage2_customer_cap,
        active=active,
    )
