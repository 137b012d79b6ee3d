"""Writes on KYC records and enrolments.

- A customer's member submits the KYC record (and resubmits it: any change
  needs verifying again).
- The regulator verifies it (again, for a periodic re-review) or rejects it;
  ``kyc_reviews_mark_due`` (a periodic task) marks verified records past their
  re-review date. Each decision is a KycReview row, an audit event and a
  transparency-log entry, in one transaction.
- An admin of the system's lab enrols a verified customer into a release at
  stage 2, at most the standard's cap at once, and withdraws it.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.actors import Actor, system_actor
from core.audit import audit_event_record, snapshot
from core.canonical import digest_of
from core.db import save_or_conflict
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Organisation, OrganisationKind, Role
from core.permissions import require, require_regulator
from core.validation import clean_text, full_clean_or_invalid
from customers.countries import ISO_3166_ALPHA2
from customers.models import (
    BeneficialOwner,
    Enrolment,
    EnrolmentConsent,
    EnrolmentStatus,
    KycRecord,
    KycReview,
    KycReviewOutcome,
    KycStatus,
)
from labs.models import SystemVersion
from releases.models import Release, ReleaseStatus
from standards.models import Stage
from standards.selectors import standard_in_force
from transparency.records import private_ref
from transparency.services import log_append

MAX_OWNERS = 50
MAX_NOTE = 5000
MAX_REASON = 2000


# Validation


def _country(value: Any, field: str, errors: dict[str, list[str]]) -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in ISO_3166_ALPHA2:
        errors[field] = ["An ISO 3166-1 alpha-2 country code, such as GB or US."]
    return code


def _percent(value: Any, field: str, errors: dict[str, list[str]]) -> decimal.Decimal:
    try:
        if isinstance(value, bool):
            raise TypeError
        pct = decimal.Decimal(str(value))
    except (decimal.InvalidOperation, TypeError, ValueError):
        pct = decimal.Decimal("NaN")
    if not pct.is_finite() or pct < 0 or pct > 100 or pct != pct.quantize(decimal.Decimal("0.01")):
        errors[field] = ["A percentage from 0 to 100 with at most two decimal places."]
        return decimal.Decimal(0)
    return pct.quantize(decimal.Decimal("0.01"))


def _owners(value: Any) -> list[dict[str, Any]]:
    """Beneficial owners: at least one; each owns a share or controls (or
    both); together they own at most 100%."""
    if not isinstance(value, list) or not value or len(value) > MAX_OWNERS:
        raise InvalidInput(
            "The beneficial owners are not valid.",
            errors={"beneficial_owners": [f"A list of 1 to {MAX_OWNERS} owners."]},
        )
    errors: dict[str, list[str]] = {}
    owners = []
    for i, item in enumerate(value):
        at = f"beneficial_owners.{i}."
        if not isinstance(item, dict) or set(item) - {"full_name", "country", "ownership_percent", "controls"}:
            errors[f"beneficial_owners.{i}"] = ["An object with full_name, country, ownership_percent and controls."]
            continue
        name = item.get("full_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            errors[at + "full_name"] = ["Required, up to 200 characters."]
        country = _country(item.get("country"), at + "country", errors)
        pct = _percent(item.get("ownership_percent"), at + "ownership_percent", errors)
        controls = item.get("controls", False)
        if not isinstance(controls, bool):
            errors[at + "controls"] = ["Must be true or false."]
        elif pct == 0 and not controls:
            errors[at + "ownership_percent"] = ["A beneficial owner owns a share or controls the customer."]
        owners.append(
            {
                "full_name": name.strip() if isinstance(name, str) else "",
                "country": country,
                "ownership_percent": pct,
                "controls": controls,
            }
        )
    if not errors and sum(o["ownership_percent"] for o in owners) > 100:
        errors["beneficial_owners"] = ["Together the owners own at most 100%."]
    if errors:
        raise InvalidInput("The beneficial owners are not valid.", errors=errors)
    return owners


def submission_digest(details: dict[str, str], owners: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON (RFC 8785) of a submission: what a
    verification binds."""
    return digest_of(
        {
            **details,
            "beneficial_owners": [
                {**o, "ownership_percent": f"{o['ownership_percent']:.2f}"}
                for o in sorted(owners, key=lambda o: (o["full_name"], o["country"]))
            ],
        }
    )


def _customer_member(actor: Actor, organisation: Organisation) -> None:
    require(
        organisation.kind == OrganisationKind.CUSTOMER and actor.has_role(organisation.pk, Role.CUSTOMER_MEMBER),
        "Only a member of the customer organisation submits its KYC record.",
        code="customer_member_only",
    )


def _locked_record(organisation: Organisation) -> KycRecord:
    record = KycRecord.objects.select_for_update().filter(organisation_id=organisation.pk).first()
    if record is None:
        raise NotFound("KYC record not found")
    return record


def _log_kyc(kind: str, record: KycRecord, review: KycReview) -> int:
    return log_append(
        kind=kind,
        subject=record,
        record={
            "kyc": str(record.pk),
            "customer_ref": private_ref("organisation", record.organisation_id),
            "status": record.status,
            "submission_digest": record.submission_digest,
            "review": str(review.pk),
            "next_review_due": record.next_review_due.isoformat() if record.next_review_due else None,
        },
    ).index


def _review(kind: str, record: KycRecord, *, reviewer: Any, outcome: str, note: str) -> KycReview:
    """Log the decision, then write its append-only review row with the index."""
    review = KycReview(
        record=record, reviewer=reviewer, outcome=outcome, note=note, submission_digest=record.submission_digest
    )
    review.log_index = _log_kyc(kind, record, review)
    review.save(force_insert=True)
    record.log_index = review.log_index
    record.save(update_fields=["log_index", "updated_at"])
    return review


# KYC records


@transaction.atomic
def kyc_submit(
    *,
    actor: Actor,
    organisation: Organisation,
    legal_name: str,
    registration_number: str,
    jurisdiction: str,
    registered_address: str,
    stated_purpose: str,
    beneficial_owners: list[dict[str, Any]],
) -> tuple[KycRecord, bool]:
    """Submit the organisation's KYC record, or resubmit it. A resubmission
    supersedes the owners and goes back to ``submitted`` even if the record
    was verified: the regulator verifies what is declared now, and until then
    the customer's gateway tokens stop. Returns the record and whether it was
    created."""
    _customer_member(actor, organisation)
    errors: dict[str, list[str]] = {}
    details = {
        "legal_name": clean_text(legal_name, "legal_name", 200),
        "registration_number": clean_text(registration_number, "registration_number", 64),
        "jurisdiction": _country(jurisdiction, "jurisdiction", errors),
        "registered_address": clean_text(registered_address, "registered_address", 1000),
        "stated_purpose": clean_text(stated_purpose, "stated_purpose", 5000),
    }
    if errors:
        raise InvalidInput("The KYC record is not valid.", errors=errors)
    owners = _owners(beneficial_owners)
    digest = submission_digest(details, owners)
    now = timezone.now()

    # Lock the organisation: two first submissions must not both create a record.
    # NO KEY UPDATE: rows that refer to it (an enrolment being inserted) need not wait.
    Organisation.objects.select_for_update(no_key=True).filter(pk=organisation.pk).values_list("pk", flat=True).get()
    record = KycRecord.objects.select_for_update().filter(organisation_id=organisation.pk).first()
    created = record is None
    before = None if record is None else {**snapshot(record), "owners": _owner_snapshot(record)}
    if record is None:
        record = KycRecord(organisation=organisation)
    for field, value in details.items():
        setattr(record, field, value)
    record.status = KycStatus.SUBMITTED
    record.submission_digest = digest
    record.submitted_by = actor.user
    record.submitted_at = now
    # The last decision (verifier, note, rejection) stays for the record's
    # history until the next one replaces it; KycReview keeps every one.
    full_clean_or_invalid(record, exclude=["organisation", "submitted_by", "verified_by"])
    record.save()
    record.owners.current().update(superseded_at=now, updated_at=now)
    for i, owner in enumerate(owners):
        row = BeneficialOwner(record=record, **owner)
        full_clean_or_invalid(row, exclude=["record"], prefix=f"beneficial_owners.{i}.")
        row.save()
    audit_event_record(
        actor=actor,
        action="kyc.submit" if created else "kyc.resubmit",
        target=record,
        before=before,
        after={**snapshot(record), "owners": _owner_snapshot(record)},
        organisations=[organisation.pk],
    )
    return record, created


def _owner_snapshot(record: KycRecord) -> list[dict[str, Any]]:
    return [snapshot(o) for o in record.owners.current()]


@transaction.atomic
def kyc_verify(
    *, actor: Actor, organisation: Organisation, note: str, submission_digest: str | None = None
) -> KycRecord:
    """The regulator verifies the record (a periodic re-review is a verification
    again): it counts as verified until ``next_review_due``, set
    STAGEGATE_KYC_REVIEW_DAYS ahead. ``submission_digest``, when given, must
    match the record (the customer may have resubmitted since it was read)."""
    require_regulator(actor)
    note = clean_text(note, "note", MAX_NOTE)
    record = _locked_record(organisation)
    if record.status == KycStatus.REJECTED:
        raise Conflict("A rejected record is verified only after the customer resubmits it.", code="kyc_rejected")
    if submission_digest is not None and submission_digest != record.submission_digest:
        raise Conflict(
            "The record changed since it was reviewed; review the new submission.", code="kyc_submission_changed"
        )
    before = snapshot(record)
    now = timezone.now()
    record.status = KycStatus.VERIFIED
    record.verified_by = actor.user
    record.verified_at = now
    record.verification_note = note
    record.next_review_due = now + datetime.timedelta(days=settings.STAGEGATE_KYC_REVIEW_DAYS)
    record.rejection_reason = ""
    full_clean_or_invalid(record, exclude=["organisation", "submitted_by", "verified_by"])
    record.save()
    review = _review("kyc.verify", record, reviewer=actor.user, outcome=KycReviewOutcome.VERIFIED, note=note)
    audit_event_record(
        actor=actor,
        action="kyc.verify",
        target=record,
        before=before,
        after={**snapshot(record), "review": str(review.pk)},
        organisations=[record.organisation_id],
    )
    return record


@transaction.atomic
def kyc_reject(*, actor: Actor, organisation: Organisation, reason: str) -> KycRecord:
    """The regulator rejects the record (new, resubmitted, due for re-review or
    verified). The customer's active enrolments are withdrawn in the same
    transaction: a customer that does not qualify holds no place."""
    require_regulator(actor)
    reason = clean_text(reason, "reason", MAX_REASON)
    record = _locked_record(organisation)
    if record.status == KycStatus.REJECTED:
        raise Conflict("The record is already rejected.", code="kyc_already_rejected")
    before = snapshot(record)
    record.status = KycStatus.REJECTED
    record.rejection_reason = reason
    record.next_review_due = None
    full_clean_or_invalid(record, exclude=["organisation", "submitted_by", "verified_by"])
    record.save()
    review = _review("kyc.reject", record, reviewer=actor.user, outcome=KycReviewOutcome.REJECTED, note=reason)
    audit_event_record(
        actor=actor,
        action="kyc.reject",
        target=record,
        before=before,
        after={**snapshot(record), "review": str(review.pk)},
        organisations=[record.organisation_id],
    )
    # Locked here: one withdrawn concurrently is re-checked and skipped, not withdrawn twice.
    active = Enrolment.objects.select_for_update().active().filter(customer_id=record.organisation_id).order_by("pk")
    for enrolment in active:
        _withdraw(actor=actor, enrolment=enrolment, reason="The customer's KYC record was rejected.")
    return record


def kyc_reviews_mark_due(*, now: datetime.datetime | None = None) -> int:
    """Mark every verified record past its re-review date ``review_due``, with
    a review row, an audit event and a log entry, once. (Such a record already
    stopped counting as verified when the date passed; this records it and
    puts it on the regulator's pending list.) Returns how many were marked."""
    now = now or timezone.now()
    actor = system_actor("kyc_reviews_due")
    count = 0
    with transaction.atomic():
        # skip_locked: a concurrent run takes the rows this one holds, never twice.
        due = (
            KycRecord.objects.select_for_update(skip_locked=True)
            .filter(status=KycStatus.VERIFIED, next_review_due__lte=now)
            .order_by("next_review_due")
        )
        for record in due:
            before = snapshot(record)
            record.status = KycStatus.REVIEW_DUE
            record.save(update_fields=["status", "updated_at"])
            review = _review(
                "kyc.review_due",
                record,
                reviewer=None,
                outcome=KycReviewOutcome.REVIEW_DUE,
                note="The periodic re-review date passed.",
            )
            audit_event_record(
                actor=actor,
                action="kyc.review_due",
                target=record,
                before=before,
                after={**snapshot(record), "review": str(review.pk)},
                organisations=[record.organisation_id],
            )
            count += 1
    return count


# Enrolments


def _log_enrolment(kind: str, enrolment: Enrolment, lab_id: Any, **extra: Any) -> int:
    return log_append(
        kind=kind,
        subject=enrolment,
        record={
            "enrolment": str(enrolment.pk),
            "release": str(enrolment.release_id),
            "system_version": str(enrolment.release.system_version_id),
            "lab": str(lab_id),
            "customer_ref": private_ref("organisation", enrolment.customer_id),
            "status": enrolment.status,
            **extra,
        },
    ).index


NO_CONSENT = "No customer organisation with this id has consented to enrolment in this system."


def _customer(value: Any) -> Organisation:
    org = None
    try:
        org = Organisation.objects.filter(pk=value, kind=OrganisationKind.CUSTOMER).first()
    except (ValidationError, ValueError, TypeError):
        pass
    if org is None:
        raise InvalidInput("No such customer organisation.", errors={"customer": [NO_CONSENT]})
    return org


def _acting_customer(actor: Actor, customer: Any) -> Organisation:
    """The customer organisation the actor acts for: the one named, or its only one."""
    ids = sorted(actor.customer_ids, key=str)
    if customer is None and len(ids) == 1:
        customer = ids[0]
    try:
        org = Organisation.objects.filter(pk=customer, pk__in=ids).first() if customer is not None else None
    except (ValidationError, ValueError, TypeError):
        org = None
    if org is None:
        raise InvalidInput(
            "Name the customer organisation you act for.", errors={"customer": ["One of your customer organisations."]}
        )
    return org


@transaction.atomic
def enrolment_consent_grant(*, actor: Actor, system_version: SystemVersion, customer: Any = None) -> EnrolmentConsent:
    """A member of a customer organisation consents to its enrolment in this
    system's release by the system's lab (which then decides whether to enrol
    it). Idempotent while the consent stands."""
    org = _acting_customer(actor, customer)
    existing = EnrolmentConsent.objects.active().filter(customer=org, system_version_id=system_version.pk).first()
    if existing is not None:
        return existing
    consent = EnrolmentConsent(customer=org, system_version=system_version, granted_by=actor.user)
    save_or_conflict(
        consent,
        Conflict("The consent already stands.", code="consent_exists"),
        constraints=["enrolment_consent_one_active"],
    )
    audit_event_record(
        actor=actor,
        action="enrolment_consent.grant",
        target=consent,
        after=snapshot(consent),
        organisations=[system_version.lab_id, org.pk],
    )
    return consent


@transaction.atomic
def enrolment_consent_withdraw(*, actor: Actor, system_version: SystemVersion, customer: Any = None) -> None:
    """The customer withdraws its consent: the lab can no longer enrol it, and
    an active enrolment in the system's release is withdrawn with it."""
    org = _acting_customer(actor, customer)
    now = timezone.now()
    consent = (
        EnrolmentConsent.objects.select_for_update()
        .active()
        .filter(customer=org, system_version_id=system_version.pk)
        .first()
    )
    enrolment = Enrolment.objects.active().filter(customer=org, release__system_version_id=system_version.pk).first()
    if consent is None and enrolment is None:
        raise NotFound("No consent or enrolment to withdraw.")
    if consent is not None:
        before = snapshot(consent)
        consent.withdrawn_by, consent.withdrawn_at = actor.user, now
        consent.save(update_fields=["withdrawn_by", "withdrawn_at", "updated_at"])
        audit_event_record(
            actor=actor,
            action="enrolment_consent.withdraw",
            target=consent,
            before=before,
            after=snapshot(consent),
            organisations=[system_version.lab_id, org.pk],
        )
    if enrolment is not None:
        _withdraw(actor=actor, enrolment=enrolment, reason="The customer withdrew its consent.")


@transaction.atomic
def enrolment_create(*, actor: Actor, system_version: SystemVersion, customer: Any) -> Enrolment:
    """An admin of the system's lab enrols a KYC-verified customer organisation
    (by id) into the release at stage 2, active (neither halted nor
    suspended). At most the standard's ``stage2_customer_cap`` enrolments are
    active at once: the release row is locked (FOR UPDATE) before the active
    ones are counted, so concurrent enrolments into one release queue there
    and each counts the others that committed before it."""
    require(
        actor.has_role(system_version.lab_id, Role.LAB_ADMIN),
        "Only an admin of the system's lab enrols customers.",
        code="lab_admin_only",
    )
    org = customer if isinstance(customer, Organisation) else _customer(customer)
    if org.kind != OrganisationKind.CUSTOMER:
        raise InvalidInput("No such customer organisation.", errors={"customer": ["Not a customer organisation."]})
    consent = (
        EnrolmentConsent.objects.select_for_update()
        .active()
        .filter(customer=org, system_version_id=system_version.pk)
        .first()
    )
    if consent is None:
        # The same answer as for an id that is no customer: a lab learns nothing by trying ids.
        raise InvalidInput("No such customer organisation.", errors={"customer": [NO_CONSENT]})
    release = Release.objects.select_for_update().filter(system_version_id=system_version.pk).first()
    stage = release.stage if release is not None else Stage.INTERNAL
    if release is None or release.stage != Stage.LIMITED:
        raise Conflict(f"Customers are enrolled at stage 2; the release is at stage {stage}.", code="stage_not_open")
    if release.status != ReleaseStatus.ACTIVE:
        raise Conflict(f"The release is {release.status}.", code=f"release_{release.status}")
    now = timezone.now()
    kyc = KycRecord.objects.select_for_update().filter(organisation_id=org.pk).first()
    if kyc is None or not kyc.is_verified_at(now):
        raise Conflict("The customer's KYC record is not verified (or is due for re-review).", code="kyc_not_verified")
    if Enrolment.objects.active().filter(release=release, customer=org).exists():
        raise Conflict("The customer is already enrolled in this release.", code="already_enrolled")
    cap = standard_in_force().stage2_customer_cap
    active = Enrolment.objects.active().filter(release=release).count()
    if active >= cap:
        raise Conflict(
            f"The release has its {cap} customers, the standard's cap at stage 2; withdraw one to free a place.",
            code="customer_cap_reached",
            extra={"cap": cap, "active": active},
        )
    enrolment = Enrolment(release=release, customer=org, enrolled_by=actor.user, enrolled_at=now)
    full_clean_or_invalid(enrolment, exclude=["release", "customer", "enrolled_by"])
    save_or_conflict(
        enrolment,
        Conflict("The customer is already enrolled in this release.", code="already_enrolled"),
        constraints=["enrolment_one_active_per_customer"],
    )
    enrolment.log_index = _log_enrolment(
        "enrolment.create",
        enrolment,
        system_version.lab_id,
        kyc_submission_digest=kyc.submission_digest,
        active=active + 1,
        cap=cap,
    )
    enrolment.save(update_fields=["log_index", "updated_at"])
    audit_event_record(
        actor=actor,
        action="enrolment.create",
        target=enrolment,
        after=snapshot(enrolment),
        organisations=[system_version.lab_id, org.pk],
    )
    return enrolment


def _withdraw(*, actor: Actor, enrolment: Enrolment, reason: str) -> Enrolment:
    enrolment = Enrolment.objects.select_for_update().select_related("release").get(pk=enrolment.pk)
    if enrolment.status != EnrolmentStatus.ACTIVE:
        raise Conflict("The enrolment is already withdrawn.", code="already_withdrawn")
    lab_id = SystemVersion.objects.filter(pk=enrolment.release.system_version_id).values_list("lab_id", flat=True).get()
    before = snapshot(enrolment)
    enrolment.status = EnrolmentStatus.WITHDRAWN
    enrolment.withdrawn_by = actor.user
    enrolment.withdrawn_at = timezone.now()
    enrolment.withdrawal_reason = reason
    enrolment.save(update_fields=["status", "withdrawn_by", "withdrawn_at", "withdrawal_reason", "updated_at"])
    enrolment.withdrawal_log_index = _log_enrolment("enrolment.withdraw", enrolment, lab_id)
    enrolment.save(update_fields=["withdrawal_log_index", "updated_at"])
    audit_event_record(
        actor=actor,
        action="enrolment.withdraw",
        target=enrolment,
        before=before,
        after=snapshot(enrolment),
        organisations=[lab_id, enrolment.customer_id],
    )
    return enrolment


@transaction.atomic
def enrolment_withdraw(*, actor: Actor, enrolment: Enrolment, reason: str) -> Enrolment:
    """An admin of the system's lab withdraws a customer: its gateway tokens
    stop on their next call and its place is free at once."""
    lab_id = SystemVersion.objects.filter(pk=enrolment.release.system_version_id).values_list("lab_id", flat=True).get()
    require(
        actor.has_role(lab_id, Role.LAB_ADMIN),
        "Only an admin of the system's lab withdraws customers.",
        code="lab_admin_only",
    )
    reason = clean_text(reason, "reason", MAX_REASON)
    return _withdraw(actor=actor, enrolment=enrolment, reason=reason)
