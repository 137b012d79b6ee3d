"""Who may see incidents and whistleblower reports, and who may report.

Incidents: the regulator sees all; a lab its systems'; an organisation
assigned to an audit of the system (assignment in force) that system's; a
reporter's organisation the incidents it reported. Whistleblower reports and
the key register are the regulator's alone (the active public key is public:
monitoring.selectors.whistleblower_key_active)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from core.actors import Actor
from core.models import Role
from core.permissions import QS

AUDITOR_ROLES = (Role.AUDITOR, Role.ACADEMIC_AUDITOR)


def _assigned_system_versions(actor: Actor) -> QuerySet[Any]:
    from labs.models import SystemVersion

    # Reverse lookups by name, as labs' own scopes do.
    return SystemVersion.objects.filter(
        audits__assignments__organisation_id__in=actor.auditor_org_ids,
        audits__assignments__ended_at__isnull=True,
    ).values("pk")


def incident_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    visible = Q(system_version__lab_id__in=actor.lab_ids) | Q(reporter_organisation_id__in=actor.organisation_ids)
    if actor.auditor_org_ids:
        visible |= Q(system_version_id__in=_assigned_system_versions(actor))
    # Writes (lab report, confirm, resolve, dismiss) are each service's rule:
    # 403 past this point for someone who sees the incident.
    return qs.filter(visible)


def whistleblower_key_scope(qs: QS, actor: Actor, action: str) -> QS:
    if actor.is_authenticated and actor.is_regulator:
        return qs
    return qs.none()


def whistleblower_report_scope(qs: QS, actor: Actor, action: str) -> QS:
    if actor.is_authenticated and actor.is_regulator:
        return qs
    return qs.none()


def reportable_system_version_scope(qs: QS, actor: Actor) -> QS:
    """System versions the actor may name in an incident report: the regulator
    any; a lab member its lab's; an auditor those its organisation is
    assigned to audit; a customer member those whose release its organisation
    is enrolled in (an active enrolment). Whether the actor may report there
    now (certification, say) is the service's check."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    visible = Q(lab_id__in=actor.lab_ids)
    if actor.auditor_org_ids:
        visible |= Q(pk__in=_assigned_system_versions(actor))
    if actor.customer_ids:
        visible |= Q(pk__in=_enrolled_system_versions(actor.customer_ids))
    return qs.filter(visible)


def _enrolled_system_versions(customer_ids: Any) -> QuerySet[Any]:
    from customers.models import Enrolment

    return Enrolment.objects.active().filter(customer_id__in=customer_ids).values("release__system_version_id")


def customer_is_enrolled(*, customer_ids: Any, system_version_id: Any) -> bool:
    """Whether one of these customer organisations holds an active enrolment
    in the system version's release."""
    from customers.models import Enrolment

    return bool(customer_ids) and (
        Enrolment.objects.active()
        .filter(customer_id__in=customer_ids, release__system_version_id=system_version_id)
        .exists()
    )
