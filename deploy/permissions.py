"""Who may see what of the staged release. Releases, gate requests and
re-audits: whoever may see the system version (the lab, its assigned
auditors, the regulator). Sanctions: the sanctioned lab and the regulator.
Changes are the regulator's, or a lab admin's request; the services check
the role."""

from __future__ import annotations

from core.actors import Actor
from core.permissions import QS, VIEW


def _by_system_version(qs: QS, actor: Actor, action: str, path: str = "system_version") -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    from labs.models import SystemVersion

    return qs.filter(**{f"{path}__in": SystemVersion.objects.visible_to(actor, VIEW)})


def release_scope(qs: QS, actor: Actor, action: str) -> QS:
    return _by_system_version(qs, actor, action)


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
