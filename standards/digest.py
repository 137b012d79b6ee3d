"""The canonical document of a standard's requirements and its digest, built
from plain values so migrations, services and verifiers compute the same thing."""

from __future__ import annotations

from typing import Any

from core.canonical import digest_of

GATE_FIELDS = (
    "internal_signoffs_required",
    "auditor_signoffs_required",
    "distinct_auditor_orgs_required",
    "stage2_customer_cap",
    "monitoring_period_days",
    "online_learning_signoff_expiry_days",
    "auditor_rotation_limit",
)
SUITE_FIELDS = (
    "suite",
    "min_suite_version",
    "stage",
    "trigger",
    "affordance_id",
    "risk_area",
    "threshold_metric",
    "threshold_max",
)
INCIDENT_FIELDS = ("key", "name", "reporting_deadline_days", "serious", "suspends_stage")


def standard_document(
    standard: dict[str, Any],
    suites: list[dict[str, Any]],
    incidents: list[dict[str, Any]],
    protocols: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    def thresholds(value: Any) -> Any:
        # RFC 8785 numbers: keep floats as floats, so 0.1 and 0.10 hash alike.
        return float(value) if isinstance(value, float) else value

    def suite_row(s: dict[str, Any]) -> dict[str, Any]:
        row = {f: thresholds(s.get(f)) for f in SUITE_FIELDS}
        # A requirement that is reported but does not gate (a smoke-test suite)
        # says so; gating ones carry nothing extra, so the digests of standards
        # published before the distinction existed are unchanged.
        if s.get("gates", True) is False:
            row["gates"] = False
        return row

    document = {
        "schema": "stagegate.standard/v1",
        "name": standard["name"],
        "version": standard["version"],
        "gates": {f: standard[f] for f in GATE_FIELDS},
        "suites": sorted(
            (suite_row(s) for s in suites),
            key=lambda s: (s["stage"], s["suite"], s["trigger"], s["affordance_id"] or "", s["threshold_metric"]),
        ),
        "incident_kinds": sorted(({f: i[f] for f in INCIDENT_FIELDS} for i in incidents), key=lambda i: i["key"]),
    }
    if protocols:
        # Version 2 pins each suite's protocol by its digest (standards published
        # before protocols keep the digest they were published with).
        document["schema"] = "stagegate.standard/v2"
        document["protocols"] = {suite: digest_of(doc) for suite, doc in sorted(protocols.items())}
    return document


def standard_digest(
    standard: dict[str, Any],
    suites: list[dict[str, Any]],
    incidents: list[dict[str, Any]],
    protocols: dict[str, dict[str, Any]] | None = None,
) -> str:
    return digest_of(standard_document(standard, suites, incidents, protocols))
