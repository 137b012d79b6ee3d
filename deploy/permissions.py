"""Who may see a release: whoever may see its system version."""

from __future__ import annotations

from core.actors import Actor
from core.permissions import QS, VIEW


def release_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()  # only the regulator changes a release (for now)
    from labs.models import SystemVersion

    return qs.filter(system_version__in=SystemVersion.objects.visible_to(actor, VIEW))
