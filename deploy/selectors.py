"""Reads on releases, scoped like the system version they belong to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from auditing.models import Finding
from core.actors import Actor
from core.models import Organisation, OrganisationKind
from core.permissions import VIEW, get_for
from deploy.models import GateRequest, Reaudit, RegulatorDecision, Release, Sanction
from labs.models import SystemVersion


def release_get(*, actor: Actor, system_version_pk: Any) -> Release:
    """The release of a system version the actor may see (404 otherwise). One
    that never left stage 0 has no row yet: an unsaved stage-0 release stands in."""
    system_version = get_for(SystemVersion.objects, actor, system_version_pk, VIEW)
    release = Release.objects.filter(system_version=system_version).first()
    return release or Release(system_version=system_version)


def system_version_for_release(*, actor: Actor, system_version_pk: Any) -> SystemVersion:
    """The system version whose release the actor is about to change (404 when
    they cannot see it; the service answers 403 when they may not change it)."""
    return get_for(SystemVersion.objects, actor, system_version_pk, VIEW)


def gate_request_list(
    *, actor: Actor, system_version: SystemVersion | None = None, status: str | None = None
) -> QuerySet[GateRequest]:
    qs = GateRequest.objects.visible_to(actor, VIEW).select_related("system_version", "requested_by", "decided_by")
    if system_version is not None:
        qs = qs.filter(system_version=system_version)
    if status:
        qs = qs.filter(status=status)
    return qs


def gate_request_get(*, actor: Actor, pk: Any) -> GateRequest:
    return get_for(GateRequest.objects.select_related("system_version"), actor, pk, VIEW)


def reaudit_list(*, actor: Actor, system_version_id: Any = None, open_only: bool = False) -> QuerySet[Reaudit]:
    qs = Reaudit.objects.visible_to(actor, VIEW)
    if system_version_id is not None:
        qs = qs.filter(system_version_id=system_version_id)
    if open_only:
        qs = qs.open()
    return qs


def reaudit_get(*, actor: Actor, pk: Any) -> Reaudit:
    return get_for(Reaudit.objects, actor, pk, VIEW)


def sanction_list(*, actor: Actor, lab_id: Any = None) -> QuerySet[Sanction]:
    qs = Sanction.objects.visible_to(actor, VIEW)
    if lab_id is not None:
        qs = qs.filter(lab_id=lab_id)
    return qs


def sanction_get(*, actor: Actor, pk: Any) -> Sanction:
    return get_for(Sanction.objects, actor, pk, VIEW)


def lab_for_sanction(*, actor: Actor, pk: Any) -> Organisation:
    """The lab the regulator names (404 for anything that is not a lab)."""
    return get_for(Organisation.objects.filter(kind=OrganisationKind.LAB), actor, pk, VIEW)


def regulator_decision_list(*, actor: Actor, status: str | None = None) -> QuerySet[RegulatorDecision]:
    """Proposals and what became of them: the regulator's own business (others see none)."""
    qs = RegulatorDecision.objects.visible_to(actor).select_related("proposed_by", "decided_by")
    return qs.filter(status=status) if status else qs


def regulator_decision_get(*, actor: Actor, pk: Any) -> RegulatorDecision:
    return get_for(RegulatorDecision.objects.select_related("proposed_by", "decided_by"), actor, pk, VIEW)


def finding_for_decision(*, actor: Actor, pk: Any) -> Finding:
    """The finding a risk acceptance names (404 for one the actor cannot see)."""
    return get_for(Finding.objects.select_related("audit"), actor, pk, VIEW)
