"""Reads on organisations, memberships, tokens and the audit trail, scoped to the actor."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.actors import Actor
from core.models import ApiToken, AuditEvent, Membership, Organisation
from core.permissions import VIEW, get_for


def organisation_list(*, actor: Actor, kind: str | None = None) -> QuerySet[Organisation]:
    qs = Organisation.objects.visible_to(actor, VIEW)
    return qs.filter(kind=kind) if kind else qs


def organisation_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Organisation:
    return get_for(Organisation.objects, actor, pk, action)


def membership_list(*, actor: Actor, organisation_id: Any = None) -> QuerySet[Membership]:
    qs = Membership.objects.visible_to(actor, VIEW).select_related("user", "organisation")
    return qs.filter(organisation_id=organisation_id) if organisation_id else qs


def membership_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Membership:
    return get_for(Membership.objects.select_related("organisation"), actor, pk, action)


def api_token_list(*, actor: Actor) -> QuerySet[ApiToken]:
    return ApiToken.objects.visible_to(actor, VIEW)


def api_token_get(*, actor: Actor, pk: Any) -> ApiToken:
    return get_for(ApiToken.objects, actor, pk, VIEW)


def audit_event_list(
    *, actor: Actor, target_type: str | None = None, target_id: str | None = None, action: str | None = None
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.visible_to(actor, VIEW)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    if action:
        qs = qs.filter(action=action)
    return qs
