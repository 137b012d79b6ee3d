"""Who may see and change auditing objects. The regulator reads everything and
is the only one who certifies, assigns and records fees; labs see their own
audits; auditors see the audits their organisation is assigned to."""

from __future__ import annotations

from django.db.models import Q

from core.actors import Actor
from core.permissions import QS, VIEW


def certification_scope(qs: QS, actor: Actor, action: str) -> QS:
    # Certifications are the public register of who may audit.
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    return qs if action == VIEW else qs.none()


def conflict_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action == VIEW:
        return qs.filter(Q(organisation_id__in=actor.auditor_org_ids) | Q(lab_id__in=actor.lab_ids))
    return qs.none()  # ending a declared conflict is the regulator's decision


def audit_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    visible = Q(lab_id__in=actor.lab_ids)
    if actor.auditor_org_ids:
        assigned = qs.model.objects.filter(
            assignments__organisation_id__in=actor.auditor_org_ids, assignments__ended_at__isnull=True
        )
        visible |= Q(pk__in=assigned.values("pk"))
    return qs.filter(visible)


def assignment_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()  # the lab cannot remove an assigned auditor
    from auditing.models import Audit

    return qs.filter(audit__in=Audit.objects.visible_to(actor, VIEW))


def fee_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    # A lab sees what it pays; an auditor what it is paid. Neither sees the other's.
    return qs.filter(
        Q(direction="lab_to_regulator", organisation_id__in=actor.lab_ids)
        | Q(direction="regulator_to_auditor", organisation_id__in=actor.auditor_org_ids)
    )


def finding_scope(qs: QS, actor: Actor, action: str) -> QS:
    """The regulator, the lab, the filing organisation and the organisations
    assigned to the audit see a finding; who may change it how is each
    service's rule (403 past this point)."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    from auditing.models import AuditAssignment

    assigned = AuditAssignment.objects.in_force().filter(organisation_id__in=actor.auditor_org_ids)
    return qs.filter(
        Q(audit__lab_id__in=actor.lab_ids)
        | Q(organisation_id__in=actor.auditor_org_ids)
        | Q(audit_id__in=assigned.values("audit_id"))
    )


def signing_key_scope(qs: QS, actor: Actor, action: str) -> QS:
    # Public keys are a public register: anyone signed in verifies with them.
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator or action == VIEW:
        return qs
    return qs.filter(user=actor.user)


def signoff_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    return qs.filter(Q(system_version__lab_id__in=actor.lab_ids) | Q(organisation_id__in=actor.organisation_ids))


def relationship_scope(qs: QS, actor: Actor, action: str) -> QS:
    """The regulator keeps the register; each organisation reads the entries
    that name it, and no one else's."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    mine = actor.organisation_ids
    return qs.filter(Q(organisation_id__in=mine) | Q(counterparty_id__in=mine))


def summary_scope(qs: QS, actor: Actor, action: str) -> QS:
    """A published summary is public to anyone signed in (the lab included:
    it reads it, it cannot stop it); a withdrawn one stays visible to its
    authors' group and the regulator. Only the authors' group changes it."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator and action == VIEW:
        return qs
    own = Q(organisation_id__in=actor.ids_of_kind("academic"))
    if action == VIEW:
        return qs.filter(Q(status="published") | own)
    return qs.filter(own)
