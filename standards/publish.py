"""Publishing the default standard from a data migration: each new default
version is one migration naming its version and the defaults it may
supersede, and all of them publish the same way (published standards are
never edited; an operator's own standard in force stays in force)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from standards.defaults import DEFAULT_INCIDENT_KINDS, DEFAULT_PROTOCOLS, DEFAULT_STANDARD, requirement_rows
from standards.digest import standard_digest
from standards.protocols import protocol_document


def default_standard_publish(apps: Any, *, version: str, supersedes: Iterable[str]) -> None:
    """Create standard ``version`` from today's defaults, with the historical
    models of ``apps``, unless the defaults have moved past it or it exists.
    It goes in force, superseding the standard in force, when that one is a
    default named in ``supersedes`` (or there is none); otherwise it is left a
    draft beside the operator's own."""
    Standard = apps.get_model("standards", "Standard")
    if DEFAULT_STANDARD["version"] != version or Standard.objects.filter(version=version).exists():
        return
    suites = requirement_rows()
    incidents = [
        {"key": k, "name": n, "reporting_deadline_days": d, "serious": se, "suspends_stage": su}
        for k, n, d, se, su in DEFAULT_INCIDENT_KINDS
    ]
    protocols = {p["suite"]: protocol_document(p) for p in DEFAULT_PROTOCOLS}
    current = Standard.objects.filter(status="in_force").first()
    if current is not None and current.version not in set(supersedes):
        status = "draft"  # the operator's own standard stays in force
    else:
        status = "in_force"
        if current is not None:
            current.status = "superseded"
            current.save(update_fields=["status"])
    standard = Standard.objects.create(
        **DEFAULT_STANDARD,
        status=status,
        in_force_from=timezone.now() if status == "in_force" else None,
        protocols=protocols,
        content_digest=standard_digest(DEFAULT_STANDARD, suites, incidents, protocols) if status == "in_force" else "",
    )
    for s in suites:
        standard.suite_requirements.create(**s)
    for i in incidents:
        standard.incident_kinds.create(**i)
