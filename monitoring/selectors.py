"""Reads on incidents and whistleblower reports, scoped to the actor; plus the
active whistleblower key, which is public."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.actors import Actor
from core.errors import NotFound
from core.permissions import VIEW, get_for
from labs.models import SystemVersion
from monitoring.models import Incident, IncidentQuerySet, WhistleblowerKey, WhistleblowerKeyStatus, WhistleblowerReport
from monitoring.permissions import reportable_system_version_scope


def _incidents() -> IncidentQuerySet:
    return Incident.objects.select_related("kind", "system_version", "reported_by")


def incident_list(
    *,
    actor: Actor,
    system_version_id: Any = None,
    status: str | None = None,
    serious: bool | None = None,
    overdue: bool | None = None,
) -> QuerySet[Incident]:
    qs = _incidents().visible_to(actor, VIEW)
    if system_version_id:
        qs = qs.filter(system_version_id=system_version_id)
    if status:
        qs = qs.filter(status=status)
    if serious is not None:
        qs = qs.filter(serious=serious)
    if overdue is not None:
        owed = Incident.objects.lab_report_overdue().values("pk")
        qs = qs.filter(pk__in=owed) if overdue else qs.exclude(pk__in=owed)
    return qs


def incident_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Incident:
    return get_for(_incidents(), actor, pk, action)


def system_versions_reportable(*, actor: Actor) -> QuerySet[SystemVersion]:
    """System versions the actor may name in an incident report."""
    return reportable_system_version_scope(SystemVersion.objects.all(), actor)


def whistleblower_key_active() -> WhistleblowerKey:
    """The key reports are sealed to now. Public: a whistleblower fetches it
    without signing in."""
    key = WhistleblowerKey.objects.filter(status=WhistleblowerKeyStatus.ACTIVE).first()
    if key is None:
        raise NotFound("The regulator has not registered a key yet.", code="no_key")
    return key


def whistleblower_key_list(*, actor: Actor) -> QuerySet[WhistleblowerKey]:
    return WhistleblowerKey.objects.visible_to(actor, VIEW)


def whistleblower_report_list(*, actor: Actor, status: str | None = None) -> QuerySet[WhistleblowerReport]:
    qs = WhistleblowerReport.objects.visible_to(actor, VIEW).select_related("key", "incident")
    return qs.filter(status=status) if status else qs


def whistleblower_report_get(*, actor: Actor, pk: Any) -> WhistleblowerReport:
    return get_for(WhistleblowerReport.objects.select_related("key", "incident"), actor, pk, VIEW)
