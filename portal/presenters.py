"""Turn the gate checklist (plain JSON from deploy.gates) into what the
templates show: every item with a met/unmet mark in words, its detail, and
its evidence as links with the facts that matter. No reads, no writes."""

from __future__ import annotations

import uuid
from typing import Any

from standards.models import Stage

# Evidence keys shown as the link itself rather than as facts.
_LINK_KEYS = {"kind", "id", "url"}

_CHANGE_NAMES = {
    "weights": "Weights (model version)",
    "system_prompt": "System prompt",
    "scaffolding": "Scaffolding",
    "content_filters": "Content filters",
    "online_learning": "Online learning",
}


def stage_label(stage: Any) -> str:
    try:
        return str(Stage(int(stage)).label)
    except (TypeError, ValueError):
        return f"Stage {stage}"


def _safe_url(url: Any) -> str | None:
    """Evidence links point into this service; anything else is shown as text."""
    if isinstance(url, str) and url.startswith(("/api/", "/portal/")):
        return url
    return None


def pooled_summary(pooled: Any) -> str:
    """A protocol's pooled evidence in words (deploy.gates' "protocol" evidence)."""
    if not isinstance(pooled, dict):
        return ""
    metric = pooled.get("metric") or {}
    upper = metric.get("upper95")
    trials = f"{metric.get('count')}/{metric.get('of')} valid trials" if metric.get("of") else "no valid trials"
    bound = f", 95% upper bound {upper:.3f}" if isinstance(upper, float) and metric.get("of") else ""
    return (
        f"{pooled.get('runs', 0)} protocol run(s), {pooled.get('samples', 0)} sample(s), "
        f"{pooled.get('errors', 0)} error(s): {trials}{bound}"
    )


def _fact(value: Any) -> str:
    if isinstance(value, dict) and "metric" in value and "runs" in value:
        return pooled_summary(value)
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return "; ".join(_fact(v) for v in value) or "none"
    return str(value)


def _run_links(evidence: dict[str, Any]) -> dict[str, str]:
    """An evaluation run's transcripts in Inspect's viewer and its logs (the
    pages show them only to those who may read them: evals/log_apis.py)."""
    if evidence.get("kind") != "eval_run":
        return {}
    try:
        run = uuid.UUID(str(evidence.get("id")))
    except ValueError:
        return {}
    return {"transcripts_url": f"/evals/runs/{run}/viewer/", "logs_url": f"/api/eval-runs/{run}/logs"}


# Evidence kinds that have a page a person reads in the portal (the API's
# JSON stays linked beside it).
_PAGES = {"eval_run": "runs", "finding": "findings", "audit": "audits", "incident": "incidents"}


def _page_url(evidence: dict[str, Any]) -> str | None:
    section = _PAGES.get(str(evidence.get("kind")))
    if section is None:
        return None
    try:
        ident = uuid.UUID(str(evidence.get("id")))
    except ValueError:
        return None
    return f"/portal/{section}/{ident}"


def evidence_display(evidence: dict[str, Any]) -> dict[str, Any]:
    kind = str(evidence.get("kind", "evidence")).replace("_", " ")
    ident = str(evidence.get("id", ""))
    return {
        **_run_links(evidence),
        "label": f"{kind} {ident[:8]}".strip(),
        "page_url": _page_url(evidence),
        "url": _safe_url(evidence.get("url")),
        "facts": [
            (key.replace("_", " "), _fact(value))
            for key, value in evidence.items()
            if key not in _LINK_KEYS and value is not None and value != ""
        ],
    }


def item_display(item: dict[str, Any]) -> dict[str, Any]:
    code = str(item.get("code", ""))
    return {
        "code": item.get("code", ""),
        "smoke_test": code.startswith("suite:") and suite_info(code.removeprefix("suite:"))["smoke_test"],
        "title": item.get("title", ""),
        "met": bool(item.get("met")),
        "detail": item.get("detail", ""),
        "evidence": [evidence_display(e) for e in item.get("evidence") or []],
    }


def checklist_display(checklist: dict[str, Any] | None) -> dict[str, Any] | None:
    if not checklist:
        return None
    items = [item_display(item) for item in checklist.get("items") or []]
    return {
        "passed": bool(checklist.get("passed")),
        "from_stage": checklist.get("from_stage"),
        "to_stage": checklist.get("to_stage"),
        "to_stage_label": stage_label(checklist.get("to_stage")),
        "standard": checklist.get("standard") or {},
        "evaluated_at": checklist.get("evaluated_at", ""),
        "items": items,
        "met_count": sum(1 for i in items if i["met"]),
        "unmet_count": sum(1 for i in items if not i["met"]),
    }


def changes_display(changes: dict[str, Any] | None) -> dict[str, Any] | None:
    """What differs from the previous version of the system (None for a first
    version)."""
    if not changes:
        return None
    predecessor = changes.get("predecessor") or {}
    whole = [(label, bool(changes.get(key))) for key, label in _CHANGE_NAMES.items()]
    return {
        "predecessor_id": predecessor.get("id"),
        "predecessor_sequence": predecessor.get("sequence"),
        "whole_system": whole,
        "any_whole_system": any(changed for _, changed in whole),
        "contextual_added": changes.get("contextual_added") or [],
        "contextual_removed": changes.get("contextual_removed") or [],
        "reachable_added": changes.get("reachable_added") or [],
    }


def suites_display(checklist: dict[str, Any] | None, system_version_id: Any) -> list[dict[str, Any]]:
    """The suites a checklist requires, each with whether its counted result
    was run on this version, carried over from an earlier one (nothing that
    affects it changed), or still has to be run."""
    if not checklist:
        return []
    first_version = not checklist.get("changes")
    rows = []
    for item in checklist.get("items") or []:
        if not str(item.get("code", "")).startswith("suite:"):
            continue
        evidence = item.get("evidence") or []
        runs = [e for e in evidence if e.get("kind") == "eval_run"]
        here = sum(1 for e in runs if str(e.get("system_version")) == str(system_version_id))
        if not runs:
            # The detail says why (a change since the previous version, say).
            state = "must be run" if first_version else "must be run on this version"
        elif here == len(runs):
            state = "run on this version"
        elif here == 0:
            state = "carried over from an earlier version"
        else:
            state = f"{here} run(s) on this version, {len(runs) - here} carried over"
        protocol: dict[str, Any] = next((e for e in evidence if e.get("kind") == "protocol"), {})
        rows.append(
            {
                **item_display(item),
                "suite": str(item["code"]).removeprefix("suite:"),
                "smoke_test": suite_info(str(item["code"]).removeprefix("suite:"))["smoke_test"],
                "state": state,
                "pooled": pooled_summary(protocol.get("pooled")),
            }
        )
    return rows


# --- suites, runs and results ------------------------------------------------

SMOKE_TEST = "smoke_test"


def suite_info(name: str) -> dict[str, Any]:
    """A suite's title and maturity from the registry: a suite whose
    definition says "smoke_test" is labelled "smoke test" wherever it is
    shown (its verdict does not decide a gate)."""
    from evals.engine import registry

    definition = registry().get(name)
    if definition is None:
        return {"name": name, "title": name, "smoke_test": False, "conditions": [], "default_conditions": []}
    return {
        "name": name,
        "title": definition.title,
        "smoke_test": definition.maturity == SMOKE_TEST,
        "conditions": list(definition.conditions),
        "default_conditions": list(definition.default_conditions),
        "default_samples": definition.default_samples,
    }


def suite_choices() -> list[tuple[str, str]]:
    from evals.engine import registry

    out = []
    for name, definition in sorted(registry().items()):
        label = f"{definition.title} ({name})"
        if definition.maturity == SMOKE_TEST:
            label += " — smoke test"
        out.append((name, label))
    return out


def _interval(rate: Any) -> dict[str, Any] | None:
    """A rate (core.stats' as_dict: count, of, rate, ci95_low, ci95_high) in
    the words and numbers a results table shows."""
    if not isinstance(rate, dict):
        return None
    value = rate.get("rate")
    low, high = rate.get("ci95_low"), rate.get("ci95_high")
    upper = rate.get("upper95")
    return {
        "count": rate.get("count"),
        "of": rate.get("of"),
        "rate": f"{value:.3f}" if isinstance(value, (int, float)) else "—",
        "interval": f"{low:.3f} – {high:.3f}"
        if isinstance(low, (int, float)) and isinstance(high, (int, float))
        else "",
        "upper": f"{upper:.3f}" if isinstance(upper, (int, float)) else "",
        "clustered": _interval(rate.get("clustered")) if isinstance(rate.get("clustered"), dict) else None,
    }


def results_display(results: dict[str, Any] | None) -> dict[str, Any] | None:
    """A finished run's results (evals.results.run_results) as tables: each
    condition's metrics with their 95% intervals, the overall ones, the
    contrasts between conditions and the errors by reason."""
    if not results:
        return None
    conditions = []
    for row in results.get("conditions") or []:
        metrics = [(name, _interval(rate)) for name, rate in (row.get("metrics") or {}).items()]
        conditions.append(
            {
                "condition": row.get("condition", ""),
                "samples": row.get("samples", 0),
                "counts": row.get("counts") or {},
                "metrics": [(n, m) for n, m in metrics if m is not None],
            }
        )
    overall = [(name, _interval(rate)) for name, rate in (results.get("overall") or {}).items()]
    contrasts = []
    for c in results.get("contrasts") or []:
        for name, d in (c.get("metrics") or {}).items():
            est, low, high = d.get("difference"), d.get("ci95_low"), d.get("ci95_high")
            contrasts.append(
                {
                    "axis": c.get("axis", ""),
                    "a": c.get("condition_a", ""),
                    "b": c.get("condition_b", ""),
                    "metric": name,
                    "difference": f"{est:+.3f}" if isinstance(est, (int, float)) else "—",
                    "interval": f"{low:+.3f} – {high:+.3f}"
                    if isinstance(low, (int, float)) and isinstance(high, (int, float))
                    else "",
                    "direction": d.get("direction") or "",
                }
            )
    return {
        "notes": results.get("notes") or [],
        "conditions": conditions,
        "overall": [(n, m) for n, m in overall if m is not None],
        "contrasts": contrasts,
        "errors": results.get("errors") or {},
    }


def sign_command(*, api: str, system_version_id: Any, stage: int, decision: str, audit_id: Any = None) -> str:
    """The `stagegate-sign sign` command for one decision, every value filled
    in but the key file (the token comes from STAGEGATE_TOKEN)."""
    import shlex

    parts = [
        "stagegate-sign sign",
        f"--api {shlex.quote(api)}",
        "--key key.pem",
        f"--system-version {shlex.quote(str(system_version_id))}",
        f"--stage {int(stage)}",
        f"--decision {shlex.quote(decision)}",
    ]
    if audit_id:
        parts.append(f"--audit {shlex.quote(str(audit_id))}")
    parts.append("--save envelope.json")
    return " \\\n    ".join(parts)


def signature_verified(signoff: Any) -> bool:
    """Whether the sign-off's DSSE envelope, exactly as submitted, verifies
    with its registered key's public half (checked here again, in the page,
    not taken from the record)."""
    from core import dsse

    try:
        envelope = dsse.envelope_from_dict(signoff.envelope)
        key = dsse.load_public_key_pem(signoff.key.public_key_pem)
    except (ValueError, TypeError, KeyError):
        return False
    return dsse.verify(envelope, key)
