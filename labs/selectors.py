"""Reads for labs. Every query starts from ``visible_to(actor, VIEW)``: a lab
sees its own versions, an assigned auditor those of its audits, the regulator
all of them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Prefetch
from django.utils.text import slugify

from core.actors import Actor
from core.permissions import VIEW, get_for
from labs.affordances import reachable_affordances
from labs.models import Affordance, AffordanceEdge, ModelVersion, SystemVersion, SystemVersionQuerySet


def model_id_of(*, lab_slug: str, name: str, sequence: int) -> str:
    """The id a system version has in the gateway's OpenAI-compatible
    surface, which clients pass as ``model``: ``<lab-slug>/<system-name-slug>/v<sequence>``."""
    return f"{lab_slug}/{slugify(name)}/v{sequence}"


def affordance_catalogue() -> dict[str, list[dict[str, str]]]:
    """Every affordance and every "having A lets a system reach B" edge."""
    return {
        "affordances": [
            {"key": a.key, "name": a.name, "description": a.description} for a in Affordance.objects.order_by("key")
        ],
        "edges": [
            {"source_id": e.source_id, "target_id": e.target_id, "rationale": e.rationale}
            for e in AffordanceEdge.objects.order_by("source_id", "target_id")
        ],
    }


def model_version_list(*, actor: Actor, lab_id: UUID | None = None) -> Any:
    qs = ModelVersion.objects.visible_to(actor, VIEW).select_related("created_by")
    if lab_id is not None:
        qs = qs.filter(lab_id=lab_id)
    return qs


def model_version_get(*, actor: Actor, pk: Any) -> ModelVersion:
    return get_for(ModelVersion.objects.select_related("created_by"), actor, pk, VIEW)


def _with_related(qs: SystemVersionQuerySet) -> SystemVersionQuerySet:
    return qs.select_related("created_by").prefetch_related(
        Prefetch("affordances", queryset=Affordance.objects.only("key").order_by("key"))
    )


def system_version_list(
    *,
    actor: Actor,
    lab_id: UUID | None = None,
    name: str | None = None,
    model_version_id: UUID | None = None,
) -> SystemVersionQuerySet:
    qs = _with_related(SystemVersion.objects.visible_to(actor, VIEW))
    if lab_id is not None:
        qs = qs.filter(lab_id=lab_id)
    if name is not None:
        qs = qs.filter(name=name)
    if model_version_id is not None:
        qs = qs.filter(model_version_id=model_version_id)
    return qs


def system_version_get(*, actor: Actor, pk: Any) -> SystemVersion:
    return get_for(_with_related(SystemVersion.objects.all()), actor, pk, VIEW)


def system_version_affordances(*, system_version: SystemVersion) -> dict[str, list[dict[str, Any]]]:
    """The contextual affordances (declared) and the reachable ones, each with
    the shortest path from a declared affordance. The caller has already
    checked that the actor may see the system version."""
    names = dict(Affordance.objects.values_list("key", "name"))
    declared = sorted(a.key for a in system_version.affordances.all())
    edges = AffordanceEdge.objects.values_list("source_id", "target_id")
    reachable = reachable_affordances(declared, edges)
    return {
        "contextual": [{"affordance": key, "name": names.get(key, key)} for key in declared],
        "reachable": [
            {"affordance": key, "name": names.get(key, key), "path": path} for key, path in reachable.items()
        ],
    }


def system_version_lineage(*, actor: Actor, system_version: SystemVersion) -> dict[str, list[SystemVersion]]:
    """The versions before (oldest first) and after this one that the actor may see.

    History is a line per system (each version has at most one successor, and
    only the latest can be revised), so the versions of one lab's system, in
    sequence order, are its lineage.
    """
    versions = list(
        SystemVersion.objects.visible_to(actor, VIEW)
        .filter(lab_id=system_version.lab_id, name=system_version.name)
        .exclude(pk=system_version.pk)
        .order_by("sequence")
    )
    return {
        "predecessors": [v for v in versions if v.sequence < system_version.sequence],
        "successors": [v for v in versions if v.sequence > system_version.sequence],
    }
