from __future__ import annotations

from core.actors import Actor
from core.permissions import QS, VIEW


def standard_scope(qs: QS, actor: Actor, action: str) -> QS:
    """Published standards are public to every signed-in user; drafts are the
    regulator's; only the regulator writes."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    return qs.exclude(status="draft")
