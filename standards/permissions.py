from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.actors import Actor
from core.permissions import VIEW


def standard_scope(qs: QuerySet[Any], actor: Actor, action: str) -> QuerySet[Any]:
    """Published standards are public to every signed-in user; drafts are the
    regulator's; only the regulator writes."""
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    return qs.exclude(status="draft")
