"""Reads on standards, scoped to the actor (published ones are public to every
signed-in user, drafts are the regulator's)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.actors import Actor
from core.errors import NotFound
from core.permissions import VIEW, get_for
from standards.digest import GATE_FIELDS, standard_digest
from standards.models import Standard


def _with_requirements(qs: QuerySet[Standard]) -> QuerySet[Standard]:
    return qs.prefetch_related("suite_requirements", "incident_kinds")


def standard_list(*, actor: Actor, status: str | None = None) -> QuerySet[Standard]:
    qs = Standard.objects.visible_to(actor, VIEW)
    return qs.filter(status=status) if status else qs


def standard_get(*, actor: Actor, pk: Any, action: str = VIEW) -> Standard:
    return get_for(_with_requirements(Standard.objects.all()), actor, pk, action)


def standard_current(*, actor: Actor) -> Standard:
    """The standard in force, as the actor may see it."""
    standard = _with_requirements(Standard.objects.visible_to(actor, VIEW).in_force()).first()
    if standard is None:
        raise NotFound("No standard is in force.")
    return standard


def standard_in_force() -> Standard:
    """The standard in force now, for other apps' rules (gates, audits, incidents).
    Standards in force are public, so this needs no actor."""
    standard = _with_requirements(Standard.objects.in_force()).first()
    if standard is None:
        raise NotFound("No standard is in force.", code="no_standard_in_force")
    return standard


def standard_content_digest(*, standard: Standard) -> str:
    """SHA-256 of the standard's canonical requirements (standards/digest.py), as
    stored in ``content_digest`` when it was published. Recompute and compare to
    check that a published standard is unchanged."""
    head = {"name": standard.name, "version": standard.version, **{f: getattr(standard, f) for f in GATE_FIELDS}}
    suites: list[dict[str, Any]] = [
        dict(row)
        for row in standard.suite_requirements.values(
            "suite",
            "min_suite_version",
            "stage",
            "trigger",
            "affordance_id",
            "risk_area",
            "threshold_metric",
            "threshold_max",
            "gates",
        )
    ]
    incidents: list[dict[str, Any]] = [
        dict(row)
        for row in standard.incident_kinds.values("key", "name", "reporting_deadline_days", "serious", "suspends_stage")
    ]
    return standard_digest(head, suites, incidents, standard.protocols)
