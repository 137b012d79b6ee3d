"""Reads on certifications, conflicts of interest, audits, assignments and fees,
scoped to the actor; plus the unscoped yes/no questions other apps' rules ask
(is this organisation certified, conflicted, assigned)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from auditing.models import (
    Audit,
    AuditAssignment,
    AuditQuerySet,
    Certification,
    ConflictOfInterest,
    Fee,
)
from core.actors import Actor
from core.models import Organisation
from core.permissions import VIEW, get_for


def _pk(obj: Any) -> Any:
    return getattr(obj, "pk", obj)


# Rules other apps ask about


def organisation_is_certified(*, organisation: Organisation | uuid.UUID, at: datetime.datetime | None = None) -> bool:
    """Whether the organisation holds a valid certification (issued, not expired,
    not suspended or revoked) at ``at`` (default: now). An auditor acts only while
    this holds."""
    return Certification.objects.valid_at(at or timezone.now()).filter(organisation_id=_pk(organisation)).exists()


def organisation_has_conflict(*, organisation: Organisation | uuid.UUID, lab: Organisation | uuid.UUID) -> bool:
    """Whether an in-force conflict of interest bars the organisation from the lab's audits."""
    return ConflictOfInterest.objects.in_force().filter(organisation_id=_pk(organisation), lab_id=_pk(lab)).exists()


def organisation_is_assigned(*, organisation: Organisation | uuid.UUID, audit: Audit | uuid.UUID) -> bool:
    """Whether the organisation holds an in-force assignment to the audit."""
    return AuditAssignment.objects.in_force().filter(organisation_id=_pk(organisation), audit_id=_pk(audit)).exists()


# Certifications


def certification_list(
    *, actor: Actor, organisation_id: Any = None, status: str | None = None
) -> QuerySet[Certification]:
    qs = Certification.objects.visible_to(actor, VIEW).select_related("organisation")
    if organisation_id:
        qs = qs.filter(organisation_id=organisation_id)
    if status:
        qs = qs.filter(status=status)
    return qs


def certification_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Certification:
    return get_for(Certification.objects.select_related("organisation"), actor, pk, action)


# Conflicts of interest


def conflict_list(
    *, actor: Actor, organisation_id: Any = None, lab_id: Any = None, in_force: bool | None = None
) -> QuerySet[ConflictOfInterest]:
    qs = ConflictOfInterest.objects.visible_to(actor, VIEW).select_related("organisation", "lab")
    if organisation_id:
        qs = qs.filter(organisation_id=organisation_id)
    if lab_id:
        qs = qs.filter(lab_id=lab_id)
    if in_force is not None:
        qs = qs.filter(ended_at__isnull=in_force)
    return qs


def conflict_get(*, actor: Actor, pk: Any, action: str = VIEW) -> ConflictOfInterest:
    return get_for(ConflictOfInterest.objects.select_related("organisation", "lab"), actor, pk, action)


# Audits and assignments


def _audits() -> AuditQuerySet:
    return Audit.objects.select_related("lab", "system_version", "standard")


def audit_list(*, actor: Actor, status: str | None = None, lab_id: Any = None) -> QuerySet[Audit]:
    qs = _audits().visible_to(actor, VIEW)
    if status:
        qs = qs.filter(status=status)
    if lab_id:
        qs = qs.filter(lab_id=lab_id)
    return qs


def audit_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Audit:
    """An audit with its assignments (all of them, ended ones included)."""
    return get_for(_audits().prefetch_related("assignments__organisation"), actor, pk, action)


def assignment_list(*, actor: Actor, audit: Audit) -> QuerySet[AuditAssignment]:
    return AuditAssignment.objects.visible_to(actor, VIEW).filter(audit=audit).select_related("organisation")


def assignment_get(*, actor: Actor, audit: Audit, pk: Any, action: str = VIEW) -> AuditAssignment:
    return get_for(
        AuditAssignment.objects.filter(audit=audit).select_related("organisation", "audit"), actor, pk, action
    )


# Fees


def fee_list(*, actor: Actor, audit_id: Any = None, direction: str | None = None) -> QuerySet[Fee]:
    qs = Fee.objects.visible_to(actor, VIEW).select_related("organisation")
    if audit_id:
        qs = qs.filter(audit_id=audit_id)
    if direction:
        qs = qs.filter(direction=direction)
    return qs


def fee_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Fee:
    return get_for(Fee.objects.select_related("organisation"), actor, pk, action)
