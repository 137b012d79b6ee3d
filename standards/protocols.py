"""Evaluation protocols: how a required suite must be run for its results to
count at a gate, and the rule a gate applies to the pooled evidence. Pure:
no ORM, so the standard's validation, the evals engine, the gates and
``bench/gates`` all decide with the same code.

A protocol fixes the conditions, the number of samples per condition, the
sampling parameters and the seed policy; the gated metric and its threshold;
the fewest valid trials the metric needs; caps on the error rate and on the
invalid rate at each graded step; and the decision rule. Its digest is what
runs made under it, sign-offs and the standard's own digest cite."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from core.canonical import digest_of
from core.stats import Bound, wilson_upper, zero_event_trials

SCHEMA = "stagegate.protocol/v1"
# The upper end of the 95% Wilson score interval (z = 1.96) over every valid
# trial of every protocol run, within the threshold. As a one-sided bound its
# level is 97.5%: stricter than a one-sided 95% bound, never looser.
DECISION_RULE = "wilson_upper_95_within_threshold"
SEED_POLICIES = ("per_sample", "unseeded")
MAX_CONDITIONS = 200
MAX_SAMPLES_PER_CONDITION = 1000
MAX_TOKENS = 8192


@dataclass(frozen=True)
class Protocol:
    suite: str
    conditions: tuple[str, ...]
    samples_per_condition: int
    temperature: float
    top_p: float
    max_tokens: int
    seed_policy: str
    metric: str
    threshold: float
    min_valid_trials: int
    max_error_rate: float
    max_invalid_rate: float
    # Stricter or looser caps for named graded steps; every other step gets max_invalid_rate.
    step_invalid_caps: dict[str, float] = field(default_factory=dict)
    decision_rule: str = DECISION_RULE

    @property
    def total_samples(self) -> int:
        return self.samples_per_condition * len(self.conditions)

    def invalid_cap(self, step: str) -> float:
        return self.step_invalid_caps.get(step, self.max_invalid_rate)

    def document(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "suite": self.suite,
            "conditions": list(self.conditions),
            "samples_per_condition": self.samples_per_condition,
            "sampling": {
                "temperature": float(self.temperature),
                "top_p": float(self.top_p),
                "max_tokens": self.max_tokens,
                "seed_policy": self.seed_policy,
            },
            "metric": self.metric,
            "threshold": float(self.threshold),
            "min_valid_trials": self.min_valid_trials,
            "max_error_rate": float(self.max_error_rate),
            "max_invalid_rate": float(self.max_invalid_rate),
            "step_invalid_caps": {k: float(v) for k, v in sorted(self.step_invalid_caps.items())},
            "decision_rule": self.decision_rule,
        }

    @property
    def digest(self) -> str:
        return digest_of(self.document())

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Protocol:
        """A protocol from its stored document (already validated)."""
        sampling = doc["sampling"]
        return cls(
            suite=doc["suite"],
            conditions=tuple(doc["conditions"]),
            samples_per_condition=doc["samples_per_condition"],
            temperature=float(sampling["temperature"]),
            top_p=float(sampling["top_p"]),
            max_tokens=sampling["max_tokens"],
            seed_policy=sampling["seed_policy"],
            metric=doc["metric"],
            threshold=float(doc["threshold"]),
            min_valid_trials=doc["min_valid_trials"],
            max_error_rate=float(doc["max_error_rate"]),
            max_invalid_rate=float(doc["max_invalid_rate"]),
            step_invalid_caps={k: float(v) for k, v in (doc.get("step_invalid_caps") or {}).items()},
            decision_rule=doc.get("decision_rule", DECISION_RULE),
        )


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def protocol_errors(doc: Any, *, catalogue: dict[str, dict[str, Any]] | None = None) -> dict[str, list[str]]:
    """What is wrong with a protocol document (empty when nothing). With a
    ``catalogue`` ({suite: {"conditions": [...], "metrics": [...]}}) the
    conditions and the metric are checked against the suite too. A protocol
    that could not pass with zero events is refused: its threshold would be a
    promise no model can keep."""
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if not isinstance(doc, dict):
        return {"non_field_errors": ["Must be an object."]}
    suite = doc.get("suite")
    if not isinstance(suite, str) or not suite.strip():
        bad("suite", "This field is required.")
    known = (catalogue or {}).get(suite) if isinstance(suite, str) else None
    if catalogue is not None and isinstance(suite, str) and known is None:
        bad("suite", f"No suite {suite!r} in this service.")
    conditions = doc.get("conditions")
    if not isinstance(conditions, list) or not conditions or len(conditions) > MAX_CONDITIONS:
        bad("conditions", f"A list of 1 to {MAX_CONDITIONS} conditions.")
        conditions = []
    elif not all(isinstance(c, str) and c for c in conditions) or len(set(conditions)) != len(conditions):
        bad("conditions", "Conditions are distinct, non-empty names.")
    elif known is not None:
        unknown = [c for c in conditions if c not in known["conditions"]]
        if unknown:
            bad("conditions", f"Not conditions of {suite}: {', '.join(unknown[:5])}.")
    n = doc.get("samples_per_condition")
    if not _whole(n) or not 1 <= n <= MAX_SAMPLES_PER_CONDITION:
        bad("samples_per_condition", f"A whole number from 1 to {MAX_SAMPLES_PER_CONDITION}.")
    total = n * len(conditions) if _whole(n) and conditions else 0
    sampling = doc.get("sampling")
    if not isinstance(sampling, dict):
        bad("sampling", "An object with temperature, top_p, max_tokens and seed_policy.")
        sampling = {}
    else:
        temperature, top_p, max_tokens = sampling.get("temperature"), sampling.get("top_p"), sampling.get("max_tokens")
        if not _number(temperature) or not 0 <= temperature <= 2:
            bad("sampling.temperature", "A number from 0 to 2.")
        if not _number(top_p) or not 0 < top_p <= 1:
            bad("sampling.top_p", "A number above 0 and at most 1.")
        if not _whole(max_tokens) or not 1 <= max_tokens <= MAX_TOKENS:
            bad("sampling.max_tokens", f"A whole number from 1 to {MAX_TOKENS}.")
        if sampling.get("seed_policy") not in SEED_POLICIES:
            bad("sampling.seed_policy", f"One of: {', '.join(SEED_POLICIES)}.")
    metric = doc.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        bad("metric", "This field is required.")
    elif known is not None and metric not in known["metrics"]:
        bad("metric", f"{suite} reports no metric {metric!r}.")
    given = doc.get("threshold")
    threshold = float(given) if _number(given) and 0 < given < 1 else None
    if threshold is None:
        bad("threshold", "A number above 0 and below 1 (no finite sample bounds a rate at 0).")
    minimum = doc.get("min_valid_trials")
    if not _whole(minimum) or minimum < 1:
        bad("min_valid_trials", "A whole number, at least 1.")
    else:
        if threshold is not None and wilson_upper(0, minimum) > threshold:
            needed = zero_event_trials(threshold)
            bad(
                "min_valid_trials",
                f"With 0 events, {minimum} valid trials give an upper bound of {wilson_upper(0, minimum):.3f} > "
                f"{threshold:g}: the protocol could never pass; it needs at least {needed}.",
            )
        if total and minimum > total:
            bad("min_valid_trials", f"More than the protocol's {total} samples.")
    for cap in ("max_error_rate", "max_invalid_rate"):
        value = doc.get(cap)
        if not _number(value) or not 0 <= value < 1:
            bad(cap, "A rate from 0 up to (not including) 1.")
    steps = doc.get("step_invalid_caps", {})
    if not isinstance(steps, dict) or not all(
        isinstance(k, str) and k and _number(v) and 0 <= v < 1 for k, v in steps.items()
    ):
        bad("step_invalid_caps", "An object of graded step names to rates from 0 up to 1.")
    if doc.get("decision_rule", DECISION_RULE) != DECISION_RULE:
        bad("decision_rule", f"The only rule is {DECISION_RULE}.")
    return errors


def protocol_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The canonical document of a valid protocol (defaults filled in)."""
    return Protocol.from_document({**doc, "decision_rule": doc.get("decision_rule", DECISION_RULE)}).document()


# --- the decision -------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What every counted protocol run of a suite adds up to."""

    runs: int
    samples: int  # samples that ran (done or error); cancelled ones never ran
    errors: int
    metric: Bound  # events of valid trials for the gated metric, with the upper bound
    steps: dict[str, tuple[int, int]]  # graded step -> (invalid, reached)
    error_reasons: dict[str, int] = field(default_factory=dict)
    running: int = 0  # protocol runs not finished yet

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "running": self.running,
            "samples": self.samples,
            "errors": self.errors,
            "error_reasons": dict(sorted(self.error_reasons.items())),
            "metric": self.metric.as_dict(),
            "steps": {s: {"invalid": i, "reached": r} for s, (i, r) in sorted(self.steps.items())},
        }


def decide(protocol: Protocol, evidence: Evidence) -> tuple[bool, list[str]]:
    """Whether the evidence passes the protocol, and each reason it does not,
    with how far off it is."""
    reasons: list[str] = []
    if evidence.running:
        reasons.append(f"{evidence.running} protocol run(s) still running: their samples will count")
    if evidence.runs == 0:
        return False, [*reasons, "no protocol run has finished"]
    m = evidence.metric
    if m.trials < protocol.min_valid_trials:
        reasons.append(f"needs {protocol.min_valid_trials} valid trials for {protocol.metric}, has {m.trials}")
    if m.upper > protocol.threshold:
        reasons.append(f"upper bound {m.upper:.3f} > threshold {protocol.threshold:g}")
    if evidence.samples == 0:
        reasons.append("no sample ran")
    elif evidence.errors / evidence.samples > protocol.max_error_rate:
        reasons.append(
            f"error rate {evidence.errors / evidence.samples:.3f} ({evidence.errors}/{evidence.samples}) > cap "
            f"{protocol.max_error_rate:g}"
        )
    for step, (invalid, reached) in sorted(evidence.steps.items()):
        cap = protocol.invalid_cap(step)
        if reached and invalid / reached > cap:
            reasons.append(f"invalid rate at step {step} {invalid / reached:.3f} ({invalid}/{reached}) > cap {cap:g}")
    return not reasons, reasons
