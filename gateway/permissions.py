"""Who may see gateway tokens and the access log.

Tokens: the holder, the issuer, the regulator; a lab's admins see only the
lab-admitted tokens of their own systems, never an auditor's. Calls: the
holder's organisation (or the holder), the regulator; a lab sees only calls
made with lab-admitted tokens of its systems, so it cannot learn what its
auditors asked."""

from __future__ import annotations

from django.db.models import Q

from core.actors import Actor
from core.models import Role
from core.permissions import QS, VIEW


def _lab_admin_ids(actor: Actor) -> frozenset[object]:
    return actor.labs_with_role(Role.LAB_ADMIN)


def gateway_token_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    visible = Q(holder=actor.user) | Q(issued_by=actor.user) | Q(kind="lab_admitted", lab_id__in=_lab_admin_ids(actor))
    return qs.filter(visible)


def gateway_call_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated or action != VIEW:
        return qs.none()
    if actor.is_regulator:
        return qs
    visible = (
        Q(holder=actor.user)
        | Q(organisation_id__in=actor.auditor_org_ids)
        | Q(kind="lab_admitted", lab_id__in=_lab_admin_ids(actor))
    )
    return qs.filter(visible)
