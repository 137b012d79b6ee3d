"""Writes on the regulator's side of auditing: certifications, conflicts of
interest, audits, assignments and fees. Every function checks who may act,
validates, locks what it reads before writing, and records an audit event in
the same transaction."""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from auditing.models import (
    Audit,
    AuditAssignment,
    AuditKind,
    AuditStatus,
    Certification,
    CertificationStatus,
    ConflictKind,
    ConflictOfInterest,
    Fee,
    FeeDirection,
    InfosecLevel,
)
from auditing.selectors import organisation_has_conflict, organisation_is_certified
from auditing.standing import cooling_off, relationship_barring_assignment
from core.actors import Actor, system_actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Organisation, OrganisationKind
from core.permissions import CHANGE, get_for, require, require_regulator
from core.validation import full_clean_or_invalid
from labs.models import SystemVersion
from standards.models import RiskArea
from standards.selectors import standard_in_force
from transparency.services import log_append

AUDITING_KINDS = (OrganisationKind.AUDITOR, OrganisationKind.ACADEMIC)
CURRENT = (CertificationStatus.ACTIVE, CertificationStatus.SUSPENDED)
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = decimal.Decimal("9999999999.99")  # Fee.amount: 12 digits, 2 after the point

REASON_CERTIFICATION_REVOKED = "certification revoked"
REASON_CONFLICT_DECLARED = "conflict of interest declared"
REASON_CERTIFICATION_SUSPENDED = "certification suspended"
REASON_RELATIONSHIP_RECORDED = "relationship with the lab recorded in the regulator's register"


# Validation helpers


def _reason(value: Any, field: str = "reason") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("A reason is required.", errors={field: ["This field is required."]})
    return value.strip()


def _amount(value: Any, field: str) -> decimal.Decimal:
    """A positive amount of money with at most two decimal places."""
    try:
        amount = decimal.Decimal(str(value)) if not isinstance(value, decimal.Decimal) else value
    except (decimal.InvalidOperation, ValueError):
        amount = None
    if (
        amount is None
        or isinstance(value, bool)
        or not amount.is_finite()
        or amount <= 0
        or amount > MAX_AMOUNT
        or amount.as_tuple().exponent < -2  # type: ignore[operator]
    ):
        raise InvalidInput(
            "The amount is not valid.",
            errors={field: [f"Must be a positive amount with at most two decimal places, up to {MAX_AMOUNT}."]},
        )
    return amount.quantize(decimal.Decimal("0.01"))


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise InvalidInput("The currency is not valid.", errors={"currency": ["Must be an ISO 4217 code, e.g. GBP."]})
    return value


def _choice(value: Any, choices: type[models.TextChoices], field: str) -> str:
    if value not in choices.values:
        raise InvalidInput(f"Invalid {field}.", errors={field: [f"Must be one of: {', '.join(choices.values)}."]})
    return str(value)


def _end_assignment(*, actor: Actor, assignment: AuditAssignment, reason: str, now: datetime.datetime) -> None:
    """End a locked, in-force assignment. The payout fixed at assignment stays as it is."""
    before = snapshot(assignment)
    assignment.ended_at = now
    assignment.ended_by = actor.user
    assignment.end_reason = reason
    assignment.save(update_fields=["ended_at", "ended_by", "end_reason", "updated_at"])
    audit_event_record(
        actor=actor,
        action="assignment.end",
        target=assignment,
        before=before,
        after=snapshot(assignment),
        organisations=[assignment.audit.lab_id, assignment.organisation_id],
    )


# Certification


@transaction.atomic
def certification_issue(
    *,
    actor: Actor,
    organisation: Organisation,
    expires_at: datetime.datetime,
    risk_areas: list[str],
    infosec_level: str,
) -> Certification:
    """Certify an auditor organisation or academic group from now until
    ``expires_at``. A current (active or suspended) certification of the same
    organisation is superseded: this is how a certification is renewed."""
    require_regulator(actor)
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    if organisation.kind not in AUDITING_KINDS:
        errors["organisation"] = ["Only auditor organisations and academic groups are certified."]
    if not isinstance(expires_at, datetime.datetime) or timezone.is_naive(expires_at):
        errors["expires_at"] = ["Must be a date and time with a time zone."]
    elif expires_at <= now:
        errors["expires_at"] = ["Must be in the future (and after the issue time)."]
    if (
        not isinstance(risk_areas, list)
        or not risk_areas
        or any(a not in RiskArea.values for a in risk_areas)
        or len(set(risk_areas)) != len(risk_areas)
    ):
        errors["risk_areas"] = [f"A non-empty list of distinct risk areas from: {', '.join(RiskArea.values)}."]
    if infosec_level not in InfosecLevel.values:
        errors["infosec_level"] = [f"Must be one of: {', '.join(InfosecLevel.values)}."]
    if errors:
        raise InvalidInput("The certification is not valid.", errors=errors)

    # One issuance per organisation at a time: the lock serialises renewals.
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    superseded: list[tuple[Certification, dict[str, Any]]] = []
    for current in Certification.objects.select_for_update().filter(organisation=organisation, status__in=CURRENT):
        before = snapshot(current)
        current.status = CertificationStatus.SUPERSEDED
        current.status_reason = "Superseded by a renewal."
        current.status_changed_at = now
        current.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
        superseded.append((current, before))
    certification = Certification(
        organisation=organisation,
        status=CertificationStatus.ACTIVE,
        issued_at=now,
        expires_at=expires_at,
        risk_areas=list(risk_areas),
        infosec_level=infosec_level,
        issued_by=actor.user,
    )
    full_clean_or_invalid(certification)
    certification.save()
    for current, before in superseded:
        audit_event_record(
            actor=actor,
            action="certification.supersede",
            target=current,
            before=before,
            after={**snapshot(current), "superseded_by": str(certification.pk)},
            organisations=[organisation],
        )
        _log_certification("certification.supersede", current)
    audit_event_record(
        actor=actor,
        action="certification.issue",
        target=certification,
        after=snapshot(certification),
        organisations=[organisation],
    )
    _log_certification("certification.issue", certification)
    return certification


def _log_certification(kind: str, certification: Certification) -> None:
    log_append(
        kind=kind,
        subject=certification,
        record={
            "organisation": str(certification.organisation_id),
            "status": certification.status,
            "issued_at": certification.issued_at,
            "expires_at": certification.expires_at,
            "risk_areas": sorted(certification.risk_areas),
            "infosec_level": certification.infosec_level,
        },
    )


def _certification_change(
    *,
    actor: Actor,
    certification: Certification,
    reason: str,
    to: str,
    verb: str,
    allowed_from: tuple[str, ...],
    refuse_code: str,
) -> tuple[Certification, datetime.datetime]:
    require_regulator(actor)
    reason = _reason(reason)
    certification = get_for(
        Certification.objects.select_related("organisation"), actor, certification.pk, CHANGE, lock=True
    )
    if certification.status == CertificationStatus.REVOKED:
        raise Conflict("A revoked certification is final.", code="certification_revoked")
    if certification.status == CertificationStatus.SUPERSEDED:
        raise Conflict("This certification was superseded by a renewal.", code="certification_superseded")
    if certification.status not in allowed_from:
        raise Conflict(f"Cannot {verb} a certification that is {certification.status}.", code=refuse_code)
    now = timezone.now()
    before = snapshot(certification)
    certification.status = to
    certification.status_reason = reason
    certification.status_changed_at = now
    certification.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    audit_event_record(
        actor=actor,
        action=f"certification.{verb}",
        target=certification,
        before=before,
        after=snapshot(certification),
        organisations=[certification.organisation_id],
    )
    _log_certification(f"certification.{verb}", certification)
    return certification, now


@transaction.atomic
def certification_suspend(*, actor: Actor, certification: Certification, reason: str) -> Certification:
    """Suspend an active certification: the organisation may not act until reinstated."""
    certification, _ = _certification_change(
        actor=actor,
        certification=certification,
        reason=reason,
        to=CertificationStatus.SUSPENDED,
        verb="suspend",
        allowed_from=(CertificationStatus.ACTIVE,),
        refuse_code="certification_not_active",
    )
    # Standing lost: sign-offs no gate has used yet do not survive it.
    from auditing.services.signoffs import signoffs_void_for_organisation

    signoffs_void_for_organisation(
        actor=actor, organisation_id=certification.organisation_id, reason=REASON_CERTIFICATION_SUSPENDED
    )
    return certification


@transaction.atomic
def certification_reinstate(*, actor: Actor, certification: Certification, reason: str) -> Certification:
    certification, _ = _certification_change(
        actor=actor,
        certification=certification,
        reason=reason,
        to=CertificationStatus.ACTIVE,
        verb="reinstate",
        allowed_from=(CertificationStatus.SUSPENDED,),
        refuse_code="certification_not_suspended",
    )
    return certification


@transaction.atomic
def certification_revoke(*, actor: Actor, certification: Certification, reason: str) -> Certification:
    """Revoke for good. The organisation's assignments on open audits end with
    it; those on finished audits stay on record, so the auditor keeps sight of
    the work it did."""
    certification, now = _certification_change(
        actor=actor,
        certification=certification,
        reason=reason,
        to=CertificationStatus.REVOKED,
        verb="revoke",
        allowed_from=CURRENT,
        refuse_code="certification_not_current",
    )
    assignments = (
        AuditAssignment.objects.select_for_update(of=("self",))
        .select_related("audit")
        .filter(organisation_id=certification.organisation_id, ended_at__isnull=True, audit__status=AuditStatus.OPEN)
    )
    for assignment in assignments:
        _end_assignment(actor=actor, assignment=assignment, reason=REASON_CERTIFICATION_REVOKED, now=now)
    # Rule 1: revocation voids the organisation's sign-offs no gate has used yet.
    from auditing.services.signoffs import signoffs_void_for_organisation

    signoffs_void_for_organisation(
        actor=actor, organisation_id=certification.organisation_id, reason="certification revoked", now=now
    )
    return certification


def certifications_expire(*, now: datetime.datetime | None = None) -> int:
    """Record one ``certification.expired`` event for each current certification
    whose expiry has passed, once. Returns how many were recorded. Validity
    itself needs no write (``valid_at`` compares the dates); this puts the
    expiry in the trail."""
    now = now or timezone.now()
    actor = system_actor("certifications_expire")
    count = 0
    with transaction.atomic():
        # skip_locked: a concurrent run takes the rows this one holds, never twice.
        due = (
            Certification.objects.select_for_update(skip_locked=True)
            .filter(status__in=CURRENT, expires_at__lte=now, expiry_recorded_at__isnull=True)
            .order_by("expires_at")
        )
        for certification in due:
            before = snapshot(certification)
            certification.expiry_recorded_at = now
            certification.save(update_fields=["expiry_recorded_at", "updated_at"])
            audit_event_record(
                actor=actor,
                action="certification.expired",
                target=certification,
                before=before,
                after=snapshot(certification),
                organisations=[certification.organisation_id],
            )
            _log_certification("certification.expired", certification)
            count += 1
    return count


# Conflicts of interest


@transaction.atomic
def conflict_declare(
    *, actor: Actor, organisation: Organisation, lab: Organisation, kind: str, reason: str
) -> ConflictOfInterest:
    """Declare that an auditor organisation is conflicted with a lab. Its members
    declare for it, or the regulator does. The organisation's in-force
    assignments on the lab's open audits end at once."""
    require(
        actor.is_regulator or organisation.pk in actor.auditor_org_ids,
        "Only a member of the auditor organisation or the regulator declares its conflicts.",
    )
    errors: dict[str, list[str]] = {}
    if organisation.kind not in AUDITING_KINDS:
        errors["organisation"] = ["Must be an auditor organisation or academic group."]
    if lab.kind != OrganisationKind.LAB:
        errors["lab"] = ["Must be a lab."]
    if kind not in ConflictKind.values:
        errors["kind"] = [f"Must be one of: {', '.join(ConflictKind.values)}."]
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = ["This field is required."]
    if errors:
        raise InvalidInput("The conflict of interest is not valid.", errors=errors)

    # Lock the pair's parties in a fixed order so concurrent declarations queue.
    list(Organisation.objects.select_for_update().filter(pk__in=[organisation.pk, lab.pk]).order_by("pk"))
    if ConflictOfInterest.objects.in_force().filter(organisation=organisation, lab=lab, kind=kind).exists():
        raise Conflict("This conflict is already declared and in force.", code="conflict_already_declared")
    conflict = ConflictOfInterest(
        organisation=organisation, lab=lab, kind=kind, reason=reason.strip(), declared_by=actor.user
    )
    full_clean_or_invalid(conflict)
    conflict.save()
    audit_event_record(
        actor=actor,
        action="conflict.declare",
        target=conflict,
        after=snapshot(conflict),
        organisations=[organisation, lab],
    )
    now = timezone.now()
    assignments = (
        AuditAssignment.objects.select_for_update(of=("self",))
        .select_related("audit")
        .filter(organisation=organisation, audit__lab=lab, audit__status=AuditStatus.OPEN, ended_at__isnull=True)
    )
    for assignment in assignments:
        _end_assignment(actor=actor, assignment=assignment, reason=REASON_CONFLICT_DECLARED, now=now)
    from auditing.services.signoffs import signoffs_void_for_organisation

    signoffs_void_for_organisation(
        actor=actor, organisation_id=organisation.pk, lab_id=lab.pk, reason=REASON_CONFLICT_DECLARED, now=now
    )
    return conflict


@transaction.atomic
def conflict_end(*, actor: Actor, conflict: ConflictOfInterest, reason: str) -> ConflictOfInterest:
    """Only the regulator lifts a declared conflict, with a reason."""
    require_regulator(actor)
    reason = _reason(reason)
    conflict = get_for(ConflictOfInterest.objects.all(), actor, conflict.pk, CHANGE, lock=True)
    if conflict.ended_at is not None:
        raise Conflict("This conflict has already ended.", code="conflict_already_ended")
    before = snapshot(conflict)
    conflict.ended_at = timezone.now()
    conflict.ended_by = actor.user
    conflict.end_reason = reason
    conflict.save(update_fields=["ended_at", "ended_by", "end_reason", "updated_at"])
    audit_event_record(
        actor=actor,
        action="conflict.end",
        target=conflict,
        before=before,
        after=snapshot(conflict),
        organisations=[conflict.organisation_id, conflict.lab_id],
    )
    return conflict


# Audits


@transaction.atomic
def audit_open(
    *,
    actor: Actor,
    system_version: SystemVersion,
    lab_fee_amount: decimal.Decimal,
    currency: str = "GBP",
    kind: str = AuditKind.INITIAL,
    scope_notes: str = "",
) -> Audit:
    """Open an audit of a system version against the standard in force now. The
    lab's fee is fixed here, before any result exists."""
    require_regulator(actor)
    kind = _choice(kind, AuditKind, "kind")
    amount = _amount(lab_fee_amount, "lab_fee_amount")
    currency = _currency(currency)
    try:
        standard = standard_in_force()
    except NotFound:
        raise Conflict("No standard is in force; publish one first.", code="no_standard_in_force") from None
    audit = Audit(
        lab_id=system_version.lab_id,
        system_version=system_version,
        standard=standard,
        kind=kind,
        status=AuditStatus.OPEN,
        scope_notes=scope_notes or "",
        opened_by=actor.user,
    )
    full_clean_or_invalid(audit, exclude=["system_version", "standard", "lab"])
    audit.save()
    fee = Fee(
        audit=audit,
        direction=FeeDirection.LAB_TO_REGULATOR,
        organisation_id=audit.lab_id,
        amount=amount,
        currency=currency,
        recorded_by=actor.user,
    )
    full_clean_or_invalid(fee, exclude=["audit", "organisation"], rename={"amount": "lab_fee_amount"})
    fee.save()
    audit_event_record(
        actor=actor, action="audit.open", target=audit, after=snapshot(audit), organisations=[audit.lab_id]
    )
    audit_event_record(actor=actor, action="fee.record", target=fee, after=snapshot(fee), organisations=[audit.lab_id])
    return audit


@transaction.atomic
def audit_close(*, actor: Actor, audit: Audit, status: str, reason: str = "") -> Audit:
    """Close (done) or cancel (abandoned) an open audit. Fees are unaffected:
    they never depend on how an audit ends."""
    require_regulator(actor)
    if status not in (AuditStatus.CLOSED, AuditStatus.CANCELLED):
        raise InvalidInput("Invalid status.", errors={"status": ["Must be closed or cancelled."]})
    reason = reason.strip() if isinstance(reason, str) else ""
    if status == AuditStatus.CANCELLED and not reason:
        raise InvalidInput("A reason is required to cancel an audit.", errors={"reason": ["This field is required."]})
    audit = get_for(Audit.objects.all(), actor, audit.pk, CHANGE, lock=True)
    if audit.status != AuditStatus.OPEN:
        raise Conflict(f"The audit is already {audit.status}.", code="audit_not_open")
    before = snapshot(audit)
    audit.status = status
    audit.closed_at = timezone.now()
    audit.close_reason = reason
    audit.save(update_fields=["status", "closed_at", "close_reason", "updated_at"])
    audit_event_record(
        actor=actor,
        action=f"audit.{'close' if status == AuditStatus.CLOSED else 'cancel'}",
        target=audit,
        before=before,
        after=snapshot(audit),
        organisations=[audit.lab_id],
    )
    return audit


# Assignments


def _rotation_exhausted(*, audit: Audit, organisation: Organisation) -> bool:
    """Whether the organisation took each of the lab's previous N audits, N being
    the rotation limit of the standard the audit runs under."""
    limit = audit.standard.auditor_rotation_limit
    previous = list(
        Audit.objects.filter(lab_id=audit.lab_id, created_at__lt=audit.created_at)
        .exclude(pk=audit.pk)
        .order_by("-created_at")
        .values_list("pk", flat=True)[:limit]
    )
    if len(previous) < limit:
        return False
    taken = set(
        AuditAssignment.objects.filter(audit_id__in=previous, organisation=organisation).values_list(
            "audit_id", flat=True
        )
    )
    return taken >= set(previous)


def _refuse_if_related(*, organisation: Organisation, audit: Audit) -> None:
    """409 when the regulator's register bars the pair: a relationship in
    force (``relationship_in_force``) or ended within the cooling-off period
    (``relationship_cooling_off``, with the date the bar lifts)."""
    related = relationship_barring_assignment(organisation=organisation, lab=audit.lab_id, standard=audit.standard)
    if related is None:
        return
    kind = related.kind.replace("_", " ")
    if related.ends_on is None or related.ends_on >= timezone.localdate():
        raise Conflict(
            f"The regulator's register records a {kind} relationship between {organisation.name} and this lab "
            f"from {related.starts_on:%Y-%m-%d}"
            + (f" to {related.ends_on:%Y-%m-%d}" if related.ends_on else "")
            + "; it bars the assignment.",
            code="relationship_in_force",
            extra={"relationship": str(related.pk)},
        )
    period = cooling_off(audit.standard)
    lifts = related.ends_on + period + datetime.timedelta(days=1)
    raise Conflict(
        f"The regulator's register records a {kind} relationship between {organisation.name} and this lab that "
        f"ended on {related.ends_on:%Y-%m-%d}; the cooling-off period of {period.days} days bars the assignment "
        f"until {lifts:%Y-%m-%d}.",
        code="relationship_cooling_off",
        extra={"relationship": str(related.pk), "barred_until": lifts.isoformat()},
    )


@transaction.atomic
def audit_assign(
    *, actor: Actor, audit: Audit, organisation: Organisation, payout_amount: decimal.Decimal
) -> AuditAssignment:
    """The regulator assigns a certified, conflict-free auditor organisation to an
    open audit, and fixes the payout it will receive, in the lab fee's currency."""
    require_regulator(actor)
    amount = _amount(payout_amount, "payout_amount")
    if organisation.kind not in AUDITING_KINDS:
        raise InvalidInput(
            "Only auditor organisations and academic groups are assigned.",
            errors={"organisation": ["Must be an auditor organisation or academic group."]},
        )
    audit = get_for(Audit.objects.select_related("standard"), actor, audit.pk, CHANGE, lock=True)
    if audit.status != AuditStatus.OPEN:
        raise Conflict(f"The audit is {audit.status}; only open audits take auditors.", code="audit_not_open")
    if not organisation_is_certified(organisation=organisation):
        raise Conflict(f"{organisation.name} holds no valid certification.", code="not_certified")
    if organisation_has_conflict(organisation=organisation, lab=audit.lab_id):
        raise Conflict(
            f"{organisation.name} has a declared conflict of interest with this lab.", code="conflict_of_interest"
        )
    _refuse_if_related(organisation=organisation, audit=audit)
    if AuditAssignment.objects.in_force().filter(audit=audit, organisation=organisation).exists():
        raise Conflict(f"{organisation.name} is already assigned to this audit.", code="already_assigned")
    if _rotation_exhausted(audit=audit, organisation=organisation):
        raise Conflict(
            f"{organisation.name} took each of this lab's last {audit.standard.auditor_rotation_limit} audits.",
            code="rotation_limit",
        )
    lab_fee = audit.fees.filter(direction=FeeDirection.LAB_TO_REGULATOR).first()
    assignment = AuditAssignment(audit=audit, organisation=organisation, assigned_by=actor.user)
    full_clean_or_invalid(assignment, exclude=["audit", "organisation"])
    assignment.save()
    payout = Fee(
        audit=audit,
        direction=FeeDirection.REGULATOR_TO_AUDITOR,
        organisation=organisation,
        assignment=assignment,
        amount=amount,
        currency=lab_fee.currency if lab_fee else "GBP",
        recorded_by=actor.user,
    )
    full_clean_or_invalid(payout, exclude=["audit", "organisation", "assignment"], rename={"amount": "payout_amount"})
    payout.save()
    # The lab sees who is assigned, never what the auditor is paid.
    audit_event_record(
        actor=actor,
        action="assignment.create",
        target=assignment,
        after=snapshot(assignment),
        organisations=[audit.lab_id, organisation],
    )
    audit_event_record(
        actor=actor, action="fee.record", target=payout, after=snapshot(payout), organisations=[organisation]
    )
    return assignment


@transaction.atomic
def assignment_end(*, actor: Actor, assignment: AuditAssignment, reason: str) -> AuditAssignment:
    """Only the regulator ends an assignment: the lab cannot fire its auditor."""
    require_regulator(actor)
    reason = _reason(reason)
    assignment = get_for(AuditAssignment.objects.select_related("audit"), actor, assignment.pk, CHANGE, lock=True)
    if assignment.ended_at is not None:
        raise Conflict("This assignment has already ended.", code="assignment_already_ended")
    _end_assignment(actor=actor, assignment=assignment, reason=reason, now=timezone.now())
    return assignment


# Fees


@transaction.atomic
def fee_mark_paid(*, actor: Actor, fee: Fee) -> Fee:
    """Record that a fee was paid. The only change a fee ever sees."""
    require_regulator(actor)
    fee = get_for(Fee.objects.all(), actor, fee.pk, CHANGE, lock=True)
    if fee.paid_at is not None:
        raise Conflict("This fee is already recorded as paid.", code="already_paid")
    before = snapshot(fee)
    fee.paid_at = timezone.now()
    fee.save(update_fields=["paid_at", "updated_at"])
    audit_event_record(
        actor=actor,
        action="fee.mark_paid",
        target=fee,
        before=before,
        after=snapshot(fee),
        organisations=[fee.organisation_id],
    )
    return fee
