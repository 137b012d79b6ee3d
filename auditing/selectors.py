"""Reads on certifications, conflicts of interest, audits, assignments and fees,
scoped to the actor; plus the unscoped yes/no questions other apps' rules ask
(is this organisation certified, conflicted, assigned)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from auditing.models import (
    AcademicSummary,
    Audit,
    AuditAssignment,
    AuditQuerySet,
    Certification,
    ConflictOfInterest,
    Fee,
    Finding,
    FindingUpdateKind,
    OrganisationRelationship,
    RetestOutcome,
    SigningKey,
    SignOff,
)
from core.actors import Actor
from core.models import Organisation
from core.permissions import VIEW, get_for
from labs.models import SystemVersion


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


# Findings


def system_version_ancestry(*, system_version: SystemVersion) -> QuerySet[SystemVersion]:
    """This version and every earlier version of the same system (its lineage up
    to here: history is a line per system)."""
    return SystemVersion.objects.filter(
        lab_id=system_version.lab_id, name=system_version.name, sequence__lte=system_version.sequence
    )


def findings_open_for(*, system_version: SystemVersion) -> QuerySet[Finding]:
    """Findings that count as open against ``system_version`` (unscoped: rules
    and statements ask this). A finding filed on this version or any earlier
    one of the system carries over while it is unresolved (open, answered or
    mitigated) and no re-test on this version or one between found it resolved."""
    ancestry = system_version_ancestry(system_version=system_version).values("pk")
    resolved_here = Finding.objects.filter(
        updates__kind=FindingUpdateKind.RETEST,
        updates__outcome=RetestOutcome.RESOLVED,
        updates__system_version_id__in=ancestry,
    ).values("pk")
    return (
        Finding.objects.unresolved()
        .filter(system_version_id__in=ancestry)
        .exclude(pk__in=resolved_here)
        .order_by("created_at")
    )


def finding_list(
    *,
    actor: Actor,
    audit_id: Any = None,
    status: str | None = None,
    open_for: SystemVersion | None = None,
) -> QuerySet[Finding]:
    qs = Finding.objects.visible_to(actor, VIEW)
    if open_for is not None:
        qs = qs.filter(pk__in=findings_open_for(system_version=open_for).values("pk"))
    if audit_id:
        qs = qs.filter(audit_id=audit_id)
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("organisation", "audit")


def finding_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Finding:
    return get_for(
        Finding.objects.select_related("organisation", "audit").prefetch_related("updates"), actor, pk, action
    )


# Keys


def signing_key_list(*, actor: Actor, user_id: Any = None, status: str | None = None) -> QuerySet[SigningKey]:
    qs = SigningKey.objects.visible_to(actor, VIEW).select_related("user", "organisation")
    if user_id:
        qs = qs.filter(user_id=user_id)
    if status:
        qs = qs.filter(status=status)
    return qs


def signing_key_get(*, actor: Actor, keyid: str, action: str = VIEW) -> SigningKey:
    key = SigningKey.objects.visible_to(actor, action).select_related("user", "organisation").filter(keyid=keyid)
    found = key.first()
    if found is None:
        from core.errors import NotFound

        raise NotFound("signing key not found")
    return found


# Sign-offs


# What a sign-off binds as suite results is what the gate will read: deploy's
# computation (deploy.gates.suite_evidence_bound) over evals' runs, both above
# auditing. Deploy hands its function over at ready() (deploy/apps.py), an
# import from above that lint-imports sees; auditing never imports it.
SuiteResults = Callable[..., list[dict[str, Any]]]
_suite_results: list[SuiteResults] = []


def suite_results_register(provider: SuiteResults) -> None:
    """Name the function that gives a sign-off's suite evidence (called once,
    by DeployConfig.ready())."""
    _suite_results[:] = [provider]


def suite_results_for(*, system_version: SystemVersion, stage: int) -> list[dict[str, Any]]:
    """The suite evidence a sign-off for ``stage`` binds: each required
    suite's protocol, the runs that count and their results digests, as the
    gate reads them (the function deploy registered)."""
    if not _suite_results:
        raise RuntimeError("no suite results registered: deploy (DeployConfig.ready) registers the gate's")
    return list(_suite_results[0](system_version=system_version, stage=stage))


def signoff_list(
    *, actor: Actor, system_version_id: Any = None, stage: int | None = None, status: str | None = None
) -> QuerySet[SignOff]:
    qs = SignOff.objects.visible_to(actor, VIEW).select_related("signer", "organisation", "key", "system_version")
    if system_version_id:
        qs = qs.filter(system_version_id=system_version_id)
    if stage is not None:
        qs = qs.filter(stage=stage)
    if status:
        qs = qs.filter(status=status)
    return qs


def signoff_get(*, actor: Actor, pk: Any) -> SignOff:
    return get_for(
        SignOff.objects.select_related("signer", "organisation", "key", "system_version__model_version"), actor, pk
    )


# The relationship register and academic summaries


def relationship_list(
    *, actor: Actor, organisation_id: Any = None, in_force: bool | None = None
) -> QuerySet[OrganisationRelationship]:
    """Register entries the actor may read (those naming one of its
    organisations; all for the regulator), optionally those naming
    ``organisation_id`` on either side, or only those in force today."""
    qs = OrganisationRelationship.objects.visible_to(actor, VIEW).select_related("organisation", "counterparty")
    if organisation_id:
        qs = qs.filter(Q(organisation_id=organisation_id) | Q(counterparty_id=organisation_id))
    if in_force is not None:
        current = OrganisationRelationship.objects.in_force_on(timezone.localdate()).values("pk")
        qs = qs.filter(pk__in=current) if in_force else qs.exclude(pk__in=current)
    return qs


def relationship_get(*, actor: Actor, pk: Any, action: str = VIEW) -> OrganisationRelationship:
    return get_for(OrganisationRelationship.objects.select_related("organisation", "counterparty"), actor, pk, action)


def summary_list(*, actor: Actor, audit_id: Any = None) -> QuerySet[AcademicSummary]:
    qs = AcademicSummary.objects.visible_to(actor, VIEW).select_related("organisation", "audit")
    if audit_id:
        qs = qs.filter(audit_id=audit_id)
    return qs


def summary_get(*, actor: Actor, pk: Any, action: str = VIEW) -> AcademicSummary:
    return get_for(AcademicSummary.objects.select_related("organisation", "audit"), actor, pk, action)
