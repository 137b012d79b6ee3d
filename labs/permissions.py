"""Who may see and change lab objects. Labs see their own; auditors see the
system versions (and their models) of audits their organisation is assigned to;
the regulator reads everything and changes nothing here."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Q, QuerySet

from core.actors import Actor
from core.permissions import VIEW

# Scopes return the queryset type they were given (a model's own QuerySet subclass).
QS = TypeVar("QS", bound=QuerySet[Any])


def _assigned(prefix: str, actor: Actor) -> Q:
    # Reverse lookups by name: auditing depends on labs, never the other way.
    return Q(
        **{
            f"{prefix}audits__assignments__organisation_id__in": actor.auditor_org_ids,
            f"{prefix}audits__assignments__ended_at__isnull": True,
        }
    )


def _lab_object_scope(qs: QS, actor: Actor, action: str, *, via: str) -> QS:
    """The lab's own objects; for viewing, also those an assigned auditor reaches
    through ``via`` (the lookup path from the object to its audits)."""
    if not actor.is_authenticated:
        return qs.none()
    if action != VIEW:
        return qs.filter(lab_id__in=actor.lab_writer_ids)
    if actor.is_regulator:
        return qs
    visible = Q(lab_id__in=actor.lab_ids)
    if actor.auditor_org_ids:
        visible |= Q(pk__in=qs.model.objects.filter(_assigned(via, actor)).values("pk"))
    return qs.filter(visible)


def system_version_scope(qs: QS, actor: Actor, action: str) -> QS:
    return _lab_object_scope(qs, actor, action, via="")


def model_version_scope(qs: QS, actor: Actor, action: str) -> QS:
    return _lab_object_scope(qs, actor, action, via="system_versions__")
