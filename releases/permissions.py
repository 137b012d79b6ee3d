"""Who may see a release: whoever may see its system version (the lab, its
assigned auditors, the regulator). Changes are deploy's services'."""

from __future__ import annotations

from core.actors import Actor
from core.permissions import QS, VIEW


def by_system_version(qs: QS, actor: Actor, action: str, path: str = "system_version") -> QS:
    """Rows of ``qs`` whose system version (at ``path``) the actor may see;
    the regulator sees all and only the regulator acts. Deploy's gate
    requests and re-audits are scoped the same way."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    from labs.models import SystemVersion

    return qs.filter(**{f"{path}__in": SystemVersion.objects.visible_to(actor, VIEW)})


def release_scope(qs: QS, actor: Actor, action: str) -> QS:
    return by_system_version(qs, actor, action)
