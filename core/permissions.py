"""One way to ask "may this actor see or do this".

Every model that users can reach has a QuerySet with ``visible_to(actor, action)``;
selectors start from it and services fetch single objects with ``get_for``. An
object outside the actor's scope is reported as not found, so guessing another
tenant's IDs tells nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Manager, Model, QuerySet

from core.actors import Actor
from core.errors import NotFound
from core.models import OrganisationKind, Role

M = TypeVar("M", bound=Model)
# Scope functions narrow a queryset and hand back the same queryset type.
QS = TypeVar("QS", bound=QuerySet[Any])

VIEW = "view"
CHANGE = "change"


def get_for(queryset: QuerySet[M] | Manager[M], actor: Actor, pk: Any, action: str = VIEW, *, lock: bool = False) -> M:
    """The object with this primary key if the actor may perform ``action`` on it.

    ``lock`` takes a row lock (select_for_update) for read-then-write services.
    """
    qs: QuerySet[M] = queryset.visible_to(actor, action)  # type: ignore[union-attr]
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=pk)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound(f"{queryset.model._meta.verbose_name} not found") from None


def organisation_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()
    # Labs, auditors, academic groups and the regulator are public entities;
    # customers are visible only to their own members (and the regulator).
    public = [OrganisationKind.LAB, OrganisationKind.AUDITOR, OrganisationKind.ACADEMIC, OrganisationKind.REGULATOR]
    from django.db.models import Q

    return qs.filter(Q(kind__in=public) | Q(id__in=actor.organisation_ids))


def membership_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action == VIEW:
        from django.db.models import Q

        return qs.filter(Q(organisation_id__in=actor.organisation_ids) | Q(user=actor.user))
    # A lab admin manages the lab's own people; everyone else goes through the regulator.
    return qs.filter(organisation_id__in=actor.labs_with_role(Role.LAB_ADMIN))


def audit_event_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated or action != VIEW:
        return qs.none()
    if actor.is_regulator:
        return qs
    from django.db.models import Q

    return qs.filter(Q(organisations__in=actor.organisation_ids) | Q(actor=actor.user)).distinct()


def require(condition: bool, detail: str, *, code: str = "forbidden") -> None:
    """Refuse with 403 when the actor may see the object but not do this to it."""
    from core.errors import Forbidden

    if not condition:
        raise Forbidden(detail, code=code)


def require_regulator(actor: Actor) -> None:
    require(actor.is_regulator, "Only the regulator may do this.", code="regulator_only")
