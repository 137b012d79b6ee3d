"""The stage-3 gate's item that rests on monitoring's facts: no unresolved
serious incident on the system version. Defined here, where incidents
live, and registered with deploy's gate from ``MonitoringConfig.ready()``
(``deploy.gates.gate_item_register``), so deploy never reads incidents."""

from __future__ import annotations

from deploy.gates import Context, Item
from monitoring.models import Incident

CODE = "no_unresolved_serious_incident"


def unresolved_serious_incident_item(ctx: Context) -> Item:
    """Met when the system version has no serious incident without a resolution."""
    serious = list(
        Incident.objects.unresolved()
        .filter(system_version=ctx.sv, serious=True)
        .order_by("created_at")
        .values_list("pk", "title")
    )
    return Item(
        CODE,
        "No unresolved serious incident",
        not serious,
        "none" if not serious else f"{len(serious)} unresolved: " + "; ".join(t for _, t in serious),
        [{"kind": "incident", "id": str(pk), "url": f"/api/incidents/{pk}"} for pk, _ in serious],
    )
