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
    "declared_tools": "Tools offered to the model",
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
# JSON stays linked beside it). A sanction is a row of the sanctions page; a
# re-audit's address sends the reader to its release's page.
_PAGES = {
    "eval_run": "/portal/runs/{}",
    "finding": "/portal/findings/{}",
    "audit": "/portal/audits/{}",
    "incident": "/portal/incidents/{}",
    "signoff": "/portal/signoffs/{}",
    "reaudit": "/portal/reaudits/{}",
    "sanction": "/portal/sanctions#sanction-{}",
}
# Evidence that names its object only in the API address it links to.
_PAGES_BY_API = {
    "release": ("/api/releases/", "/portal/releases/{}"),
    "protocol": ("/api/standards/", "/portal/standards/{}"),
}


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _page_url(evidence: dict[str, Any]) -> str | None:
    """The portal page of a piece of evidence, built only from a UUID (never
    from other text), or None when it has none."""
    kind = str(evidence.get("kind"))
    if kind in _PAGES:
        ident = _uuid_or_none(evidence.get("id"))
        return _PAGES[kind].format(ident) if ident else None
    if kind in _PAGES_BY_API:
        prefix, page = _PAGES_BY_API[kind]
        url = evidence.get("url")
        if isinstance(url, str) and url.startswith(prefix):
            ident = _uuid_or_none(url.removeprefix(prefix))
            return page.format(ident) if ident else None
    return None


def log_entry_url(index: Any) -> str | None:
    """The portal's page of a transparency-log entry (its inclusion proof
    checked there), or None for anything that is not an index."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    return f"/portal/log/{index}"


def evidence_display(evidence: dict[str, Any]) -> dict[str, Any]:
    kind = str(evidence.get("kind", "evidence")).replace("_", " ")
    ident = str(evidence.get("id", ""))
    log_url = log_entry_url(evidence.get("log_index"))
    return {
        **_run_links(evidence),
        "label": f"{kind} {ident[:8]}".strip(),
        "page_url": _page_url(evidence),
        "url": _safe_url(evidence.get("url")),
        "log_url": log_url,
        "log_index": evidence.get("log_index") if log_url else None,
        "facts": [
            (key.replace("_", " "), _fact(value))
            for key, value in evidence.items()
            if key not in _LINK_KEYS and value is not None and value != "" and not (log_url and key == "log_index")
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


# --- evidence pages: a sign-off's signature, a log entry's proof --------------


def statement_fields(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A signed statement's fields as (dotted path, value) rows, in the
    statement's own order: ``predicate.system_version.id``,
    ``subject[0].digest.sha256``. Every leaf is shown; nothing is left out."""
    if isinstance(value, dict):
        if not value:
            return [(prefix, "{}")] if prefix else []
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += statement_fields(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list):
        if not value:
            return [(prefix, "none")]
        rows = []
        for n, inner in enumerate(value):
            rows += statement_fields(inner, f"{prefix}[{n}]")
        return rows
    return [(prefix, _fact(value) if value is not None else "null")]


def signoff_check(
    *, envelope: Any, public_key_pem: str, keyid: str, payload_digest: str, statement: Any
) -> dict[str, Any]:
    """Everything a reader needs to trust a sign-off, checked here from the
    envelope exactly as submitted: whether a signature on it verifies with the
    signer's registered public key, the keyids it names, the SHA-256 of the
    payload (the statement digest) recomputed and compared with the record,
    and whether the payload is the statement the record holds. Pure: no reads."""
    import hashlib
    import json

    from core import dsse

    out: dict[str, Any] = {
        "verified": False,
        "envelope_keyids": [],
        "payload_type": "",
        "digest": "",
        "digest_matches": False,
        "statement_matches": False,
        "problem": "",
    }
    try:
        parsed = dsse.envelope_from_dict(envelope)
    except (ValueError, TypeError, KeyError) as exc:
        out["problem"] = f"the stored envelope cannot be read: {exc}"
        return out
    out["envelope_keyids"] = [s.keyid for s in parsed.signatures]
    out["payload_type"] = parsed.payload_type
    out["digest"] = hashlib.sha256(parsed.payload).hexdigest()
    out["digest_matches"] = out["digest"] == payload_digest
    try:
        out["statement_matches"] = json.loads(parsed.payload) == statement
    except ValueError:
        out["statement_matches"] = False
    try:
        key = dsse.load_public_key_pem(public_key_pem)
    except ValueError:
        out["problem"] = "the registered public key cannot be read"
        return out
    if dsse.keyid_of(key) != keyid:
        out["problem"] = "the registered key's id does not match its public key"
        return out
    out["verified"] = dsse.verify(parsed, key)
    if not out["verified"]:
        out["problem"] = "no signature on the envelope verifies with the signer's registered key"
    elif not out["digest_matches"]:
        out["problem"] = "the payload's SHA-256 differs from the one recorded"
    elif not out["statement_matches"]:
        out["problem"] = "the signed payload is not the statement recorded"
    return out


def verify_command(*, envelope_file: str, key_file: str) -> str:
    """The `stagegate-sign verify` command for the two files the sign-off's
    page offers for download."""
    import shlex

    return f"stagegate-sign verify --envelope {shlex.quote(envelope_file)} --public-key {shlex.quote(key_file)}"


def inclusion_check(
    *,
    leaf: bytes,
    leaf_hash_hex: str,
    index: int,
    tree_size: int,
    audit_path: list[bytes],
    root_hash_hex: str,
    head_signature_ok: bool,
) -> dict[str, Any]:
    """An RFC 9162 inclusion proof checked from the leaf's own bytes: the leaf
    hash recomputed, the audit path folded up to the signed tree head's root,
    and the head's signature (checked by the caller, which holds the log's
    key). Pure: no reads."""
    from core import merkle

    computed = merkle.leaf_hash(leaf)
    try:
        root = bytes.fromhex(root_hash_hex)
    except ValueError:
        root = b""
    leaf_ok = computed.hex() == leaf_hash_hex
    path_ok = merkle.verify_inclusion(computed, index, tree_size, audit_path, root)
    return {
        "leaf_hash": computed.hex(),
        "leaf_ok": leaf_ok,
        "path_ok": path_ok,
        "head_ok": head_signature_ok,
        "verified": leaf_ok and path_ok and head_signature_ok,
    }


def sha256_hex(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


_SAMPLE_REFERENCE = r"/api/eval-runs/(?P<run>[0-9a-f-]{36})/samples/(?P<sample>[0-9]{1,18})"


def finding_evidence_display(evidence: Any) -> list[dict[str, Any]]:
    """A finding's evidence lines, each with the portal page its reference
    names when it names one (a sample's transcript), built only from a UUID
    and a number."""
    import re

    rows = []
    for item in evidence if isinstance(evidence, list) else []:
        if not isinstance(item, dict):
            continue
        reference = str(item.get("reference", ""))
        match = re.fullmatch(_SAMPLE_REFERENCE, reference)
        run = _uuid_or_none(match["run"]) if match else None
        page = f"/portal/runs/{run}/samples/{int(match['sample'])}" if match and run else None
        rows.append(
            {
                "kind": str(item.get("kind", "")),
                "reference": reference,
                "sha256": str(item.get("sha256", "")),
                "page_url": page,
            }
        )
    return rows
