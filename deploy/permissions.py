"""Who may see what of the staged release. Gate requests and re-audits, like
releases (``releases.permissions``): whoever may see the system version (the lab, its assigned
auditors, the regulator). Sanctions: the sanctioned lab and the regulator.
Changes are the regulator's, or a lab admin's request; the services check
the role."""

from __future__ import annotations

from core.actors import Actor
from core.permissions import QS, VIEW
from releases.permissions import by_system_version as _by_system_version


def gate_request_scope(qs: QS, actor: Actor, action: str) -> QS:
    return _by_system_version(qs, actor, action)


def reaudit_scope(qs: QS, actor: Actor, action: str) -> QS:
    return _by_system_version(qs, actor, action)


def sanction_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    return qs.filter(lab_id__in=actor.lab_ids)
