"""The regulator's register of relationships between organisations, and the
summaries academic groups publish after an audit. Every write checks who may
act, validates, locks what it reads, and records an audit event (and, for
what the public relies on, a log entry) in the same transaction."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.db import transaction
from django.utils import timezone

from auditing.models import (
    AcademicSummary,
    Audit,
    AuditAssignment,
    AuditStatus,
    OrganisationRelationship,
    RelationshipKind,
    SummaryStatus,
)
from auditing.services.certification import REASON_RELATIONSHIP_RECORDED, _end_assignment
from auditing.services.signoffs import signoffs_void_for_organisation
from auditing.standing import academic_embargo
from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Organisation, OrganisationKind, Role
from core.permissions import CHANGE, VIEW, get_for, require, require_regulator
from core.validation import clean_text, full_clean_or_invalid
from transparency.services import log_append

AUDITING_KINDS = (OrganisationKind.AUDITOR, OrganisationKind.ACADEMIC)


def _date(value: Any, field: str, *, required: bool) -> datetime.date | None:
    if value is None and not required:
        return None
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise InvalidInput(f"Invalid {field}.", errors={field: ["Must be a date (YYYY-MM-DD)."]})
    return value


def _withdraw_standing(*, actor: Actor, auditor: Organisation, lab: Organisation) -> None:
    """A relationship now in force between an auditing organisation and a lab
    is a new conflict: the auditor's assignments on the lab's open audits end
    and its sign-offs no gate has used on the lab's systems are void."""
    now = timezone.now()
    assignments = (
        AuditAssignment.objects.select_for_update(of=("self",))
        .select_related("audit")
        .filter(organisation=auditor, audit__lab=lab, audit__status=AuditStatus.OPEN, ended_at__isnull=True)
    )
    for assignment in assignments:
        _end_assignment(actor=actor, assignment=assignment, reason=REASON_RELATIONSHIP_RECORDED, now=now)
    signoffs_void_for_organisation(
        actor=actor, organisation_id=auditor.pk, lab_id=lab.pk, reason=REASON_RELATIONSHIP_RECORDED, now=now
    )


def _auditor_and_lab(a: Organisation, b: Organisation) -> tuple[Organisation, Organisation] | None:
    if a.kind in AUDITING_KINDS and b.kind == OrganisationKind.LAB:
        return a, b
    if b.kind in AUDITING_KINDS and a.kind == OrganisationKind.LAB:
        return b, a
    return None


@transaction.atomic
def relationship_record(
    *,
    actor: Actor,
    organisation: Organisation,
    counterparty: Organisation,
    kind: str,
    description: str,
    starts_on: datetime.date,
    ends_on: datetime.date | None = None,
) -> OrganisationRelationship:
    """The regulator records a relationship between two organisations (found
    by its own inquiries or declared by either). When it is in force today
    between an auditing organisation and a lab, the auditor loses standing on
    the lab's audits at once (assignments end, pending sign-offs are void)."""
    require_regulator(actor)
    errors: dict[str, list[str]] = {}
    if kind not in RelationshipKind.values:
        errors["kind"] = [f"Must be one of: {', '.join(RelationshipKind.values)}."]
    if organisation.pk == counterparty.pk:
        errors["counterparty"] = ["Must be another organisation."]
    try:
        start = _date(starts_on, "starts_on", required=True)
        end = _date(ends_on, "ends_on", required=False)
    except InvalidInput as e:
        errors.update(e.errors)
        start = end = None
    if start is not None and end is not None and end < start:
        errors["ends_on"] = ["Must not be before starts_on."]
    if errors:
        raise InvalidInput("The relationship is not valid.", errors=errors)
    description = clean_text(description, "description", 5000)
    if start is None:  # pragma: no cover - _date(required=True) returns a date or raises
        raise InvalidInput("Invalid starts_on.", errors={"starts_on": ["This field is required."]})
    list(Organisation.objects.select_for_update().filter(pk__in=[organisation.pk, counterparty.pk]).order_by("pk"))
    duplicate = OrganisationRelationship.objects.between(organisation.pk, counterparty.pk).filter(
        kind=kind, starts_on=start
    )
    if duplicate.exists():
        raise Conflict("This relationship is already recorded.", code="relationship_already_recorded")
    relationship = OrganisationRelationship(
        organisation=organisation,
        counterparty=counterparty,
        kind=kind,
        description=description,
        starts_on=start,
        ends_on=end,
        recorded_by=actor.user,
    )
    full_clean_or_invalid(relationship, exclude=["organisation", "counterparty", "recorded_by"])
    relationship.save()
    audit_event_record(
        actor=actor,
        action="relationship.record",
        target=relationship,
        after=snapshot(relationship),
        organisations=[organisation, counterparty],
    )
    today = timezone.localdate()
    pair = _auditor_and_lab(organisation, counterparty)
    if pair is not None and start <= today and (end is None or end >= today):
        _withdraw_standing(actor=actor, auditor=pair[0], lab=pair[1])
    return relationship


@transaction.atomic
def relationship_end(
    *, actor: Actor, relationship: OrganisationRelationship, ends_on: datetime.date, reason: str
) -> OrganisationRelationship:
    """The regulator records that a relationship ended (or will end) on
    ``ends_on``. The cooling-off period runs from that date."""
    require_regulator(actor)
    end = _date(ends_on, "ends_on", required=True)
    reason = clean_text(reason, "reason", 2000)
    relationship = get_for(OrganisationRelationship.objects.all(), actor, relationship.pk, CHANGE, lock=True)
    if end is None:  # pragma: no cover - _date(required=True) returns a date or raises
        raise InvalidInput("Invalid ends_on.", errors={"ends_on": ["This field is required."]})
    if relationship.ends_on is not None and relationship.ends_on < timezone.localdate():
        raise Conflict(
            f"This relationship already ended on {relationship.ends_on:%Y-%m-%d}.", code="relationship_ended"
        )
    if end < relationship.starts_on:
        raise InvalidInput("Invalid ends_on.", errors={"ends_on": ["Must not be before the relationship starts."]})
    before = snapshot(relationship)
    relationship.ends_on = end
    relationship.end_reason = reason
    relationship.save(update_fields=["ends_on", "end_reason", "updated_at"])
    audit_event_record(
        actor=actor,
        action="relationship.end",
        target=relationship,
        before=before,
        after=snapshot(relationship),
        organisations=[relationship.organisation_id, relationship.counterparty_id],
    )
    return relationship


# Academic summaries


def summary_embargo_lifts(audit: Audit) -> datetime.datetime | None:
    """When an academic group may publish about this audit (None while it is open)."""
    if audit.status != AuditStatus.CLOSED or audit.closed_at is None:
        return None
    return audit.closed_at + academic_embargo(audit.standard)


@transaction.atomic
def academic_summary_publish(*, actor: Actor, audit: Audit, title: str, body: str) -> AcademicSummary:
    """An academic group that was assigned to the audit when it closed
    publishes its summary once the embargo has passed. Nobody approves it:
    neither the lab nor the regulator has a say in what it says."""
    audit = get_for(Audit.objects.select_related("standard"), actor, audit.pk, VIEW)
    title = clean_text(title, "title", 200)
    body = clean_text(body, "body", 100_000)
    groups = sorted(
        (o for o in actor.ids_of_kind(OrganisationKind.ACADEMIC) if actor.has_role(o, Role.ACADEMIC_AUDITOR)),
        key=str,
    )
    require(bool(groups), "Only academic auditors publish a summary of an audit.", code="not_an_academic")
    audit = Audit.objects.select_for_update().select_related("standard").get(pk=audit.pk)
    if audit.status == AuditStatus.CANCELLED:
        raise Conflict("The audit was cancelled; there is nothing to summarise.", code="audit_cancelled")
    lifts = summary_embargo_lifts(audit)
    if lifts is None:
        raise Conflict(
            "The audit is still open; the embargo starts when it closes.",
            code="embargo_in_force",
            extra={"embargo_lifts_at": None},
        )
    now = timezone.now()
    if now < lifts:
        raise Conflict(
            f"The embargo lifts on {lifts:%Y-%m-%d %H:%M} UTC.",
            code="embargo_in_force",
            extra={"embargo_lifts_at": lifts.isoformat()},
        )
    # Assigned when the audit closed: in force still, or ended only after it.
    assigned = sorted(
        AuditAssignment.objects.filter(audit=audit, organisation_id__in=groups)
        .exclude(ended_at__lt=audit.closed_at)
        .values_list("organisation_id", flat=True),
        key=str,
    )
    if not assigned:
        raise Conflict("Your group was not assigned to this audit when it closed.", code="not_assigned")
    summary = AcademicSummary(
        audit=audit,
        organisation_id=assigned[0],
        author=actor.user,
        title=title,
        body=body,
        body_sha256=hashlib.sha256(body.encode()).hexdigest(),
        status=SummaryStatus.PUBLISHED,
        published_at=now,
    )
    full_clean_or_invalid(summary, exclude=["audit", "organisation", "author"])
    summary.save()
    entry = log_append(
        kind="academic_summary.publish",
        subject=summary,
        record={
            "summary": str(summary.pk),
            "audit": str(audit.pk),
            "organisation": str(summary.organisation_id),
            "body_sha256": summary.body_sha256,
        },
    )
    summary.log_index = entry.index
    summary.save(update_fields=["log_index"])
    audit_event_record(
        actor=actor,
        action="academic_summary.publish",
        target=summary,
        after=snapshot(summary, exclude=["body"]),
        organisations=[audit.lab_id, summary.organisation_id],
    )
    return summary


@transaction.atomic
def academic_summary_withdraw(*, actor: Actor, summary: AcademicSummary, reason: str) -> AcademicSummary:
    """Only the authors' group withdraws its summary (it stays on record, as
    does the log entry). The lab cannot: 403 ``lab_cannot_veto``."""
    reason = clean_text(reason, "reason", 2000)
    visible = get_for(AcademicSummary.objects.select_related("audit"), actor, summary.pk, VIEW)
    if visible.audit.lab_id in actor.lab_ids:
        raise Forbidden(
            "The lab cannot withdraw, block or edit an academic summary of its audit.", code="lab_cannot_veto"
        )
    summary = get_for(AcademicSummary.objects.select_related("audit"), actor, summary.pk, CHANGE, lock=True)
    require(
        actor.has_role(summary.organisation_id, Role.ACADEMIC_AUDITOR),
        "Only the authors' group withdraws its summary.",
        code="authors_only",
    )
    if summary.status == SummaryStatus.WITHDRAWN:
        raise Conflict("This summary is already withdrawn.", code="summary_withdrawn")
    before = snapshot(summary, exclude=["body"])
    summary.status = SummaryStatus.WITHDRAWN
    summary.withdrawn_at = timezone.now()
    summary.withdraw_reason = reason
    summary.save(update_fields=["status", "withdrawn_at", "withdraw_reason", "updated_at"])
    log_append(
        kind="academic_summary.withdraw",
        subject=summary,
        record={"summary": str(summary.pk), "body_sha256": summary.body_sha256},
    )
    audit_event_record(
        actor=actor,
        action="academic_summary.withdraw",
        target=summary,
        before=before,
        after=snapshot(summary, exclude=["body"]),
        organisations=[summary.audit.lab_id, summary.organisation_id],
    )
    return summary
