"""Rates by condition, with 95% Wilson intervals, and their plot; beside them
the statistics a reader needs to judge the rates: label counts at each graded
step, errors by reason, intervals that account for repeated items, and the
differences between conditions along each axis of variation."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import combinations
from typing import Any

from core.stats import Rate, design_effect, difference, upper_bound, wilson, wilson_upper
from evals.engine import registry
from evals.models import EvalRun, SampleStatus

UNREACHED = (None, "not_applicable")  # a step the sample never got to
REASON_CHARS = 160  # errors are grouped by the first characters of their text

Summarise = Callable[[Iterable[dict[str, str]]], dict[str, Rate]]


def run_results(*, run: EvalRun) -> dict[str, Any]:
    """Per condition: sample counts by status, the suite's metrics over the
    graded samples, the error rate over all of them, and the labels at each
    graded step. Overall: the same, with intervals clustered by item where the
    suite repeats items; errors by reason; and contrasts between conditions
    that differ in one factor. Errors and invalid outputs are counted and
    shown, never dropped."""
    definition = registry()[run.suite.name]
    rows = list(run.samples.values_list("condition", "index", "status", "labels", "error", "grade"))
    done = [(c, i, labels) for c, i, status, labels, _, _ in rows if status == SampleStatus.DONE]
    judged = [
        (labels, grade["judge"]) for _, _, status, labels, _, grade in rows if status == "done" and grade.get("judge")
    ]
    steps = _step_names(labels for _, _, labels in done)
    # Amounts rather than events (an external task's own mean metrics), beside the rates.
    measures = definition.external.measures if definition.external is not None else None
    conditions = []
    rates: dict[str, dict[str, Rate]] = {}
    for condition in run.conditions:
        mine = [(status, labels) for c, _, status, labels, _, _ in rows if c == condition]
        counts = {s.value: sum(1 for status, _ in mine if status == s) for s in SampleStatus}
        graded = [labels for status, labels in mine if status == SampleStatus.DONE]
        rates[condition] = definition.summarise(graded)
        metrics = {name: rate.as_dict() for name, rate in rates[condition].items()}
        metrics["error_rate"] = wilson(counts["error"], len(mine)).as_dict()
        entry = {
            "condition": condition,
            "samples": len(mine),
            "counts": counts,
            "metrics": metrics,
            "steps": _step_labels(graded, steps),
        }
        if measures is not None:
            entry["measures"] = measures(graded)
        conditions.append(entry)
    everything = [labels for _, _, labels in done]
    overall: dict[str, dict[str, Any]] = {
        name: rate.as_dict() for name, rate in definition.summarise(everything).items()
    }
    if definition.item_of is not None:
        for name, clustered in _clustered(done, definition.summarise, definition.item_of).items():
            overall[name]["clustered"] = clustered
    error_texts = [
        (error or "unknown error")[:REASON_CHARS] for _, _, s, _, error, _ in rows if s == SampleStatus.ERROR
    ]
    overall["error_rate"] = wilson(len(error_texts), len(rows)).as_dict()
    # The optional LLM judge beside the rules: how often they agree, per moment.
    for moment in sorted({m for _, verdicts in judged for m in verdicts}):
        pairs = [
            (labels.get(moment), v[moment]["label"])
            for labels, v in judged
            if v.get(moment, {}).get("label") != "invalid" and moment in v
        ]
        overall[f"judge_agreement_{moment}"] = wilson(sum(a == b for a, b in pairs), len(pairs)).as_dict()
    notes = []
    invalid = overall.get("invalid_rate")
    if invalid and invalid["of"] and int(invalid["count"] or 0) / int(invalid["of"]) >= 0.5:
        notes.append(
            f"{invalid['count']} of {invalid['of']} graded samples were invalid: the model did not follow the "
            "protocol (one action in the required format). Rates over the few valid samples say little about "
            "the model's behaviour; a model this unreliable at the format cannot pass or fail this suite."
        )
    errors = overall["error_rate"]
    if errors["count"]:
        notes.append(f"{errors['count']} of {errors['of']} samples ended in error; see each sample's reason.")
    extra: dict[str, Any] = {}
    if definition.external is not None:
        extra["published"] = {
            "package": definition.external.package,
            "version": definition.content["external"]["version"],
            "module": definition.external.module,
            "source": definition.external.source,
        }
        if measures is not None:
            extra["measures"] = measures(everything)
    return {
        **extra,
        "notes": notes,
        "suite": run.suite.name,
        "maturity": definition.maturity,
        "suite_version": run.suite.version,
        "suite_digest": run.suite.content_digest,
        "grader_version": run.suite.grader_version,
        "conditions": conditions,
        "overall": overall,
        "steps": _step_labels(everything, steps),
        "errors": {
            "count": len(error_texts),
            "of": len(rows),
            "by_reason": [
                {"reason": reason, "count": n}
                for reason, n in sorted(Counter(error_texts).items(), key=lambda item: (-item[1], item[0]))
            ],
        },
        "contrasts": _contrasts(run.conditions, rates),
    }


# Labels at each graded step.


def _step_names(labels: Iterable[dict[str, str]]) -> list[str]:
    return sorted({step for row in labels for step in row})


def _step_labels(labels: list[dict[str, str]], steps: list[str]) -> dict[str, dict[str, Any]]:
    """For each step, how often each label was given among the samples that
    reached it (a `not_applicable` or missing label: not reached, counted
    apart), and the invalid rate among those."""
    out = {}
    for step in steps:
        given = Counter(row.get(step) for row in labels)
        reached = {label: n for label, n in given.items() if label not in UNREACHED}
        of = sum(reached.values())
        out[step] = {
            "labels": {str(label): reached[label] for label in sorted(reached, key=str)},
            "reached": of,
            "not_reached": len(labels) - of,
            "invalid_rate": wilson(reached.get("invalid", 0), of).as_dict(),
        }
    return out


# Intervals clustered by item.


def _clustered(
    done: list[tuple[str, int, dict[str, str]]], summarise: Summarise, item_of: Callable[[str, int], str]
) -> dict[str, dict[str, Any]]:
    """Each metric's 95% interval over the whole run with the design effect of
    repeated items: the cluster-robust variance over the binomial one, from
    each item's (events, trials); the Wilson interval over the effective counts
    (events and trials divided by it)."""
    by_metric = item_clusters(done, summarise, item_of)
    out = {}
    for name, rate in summarise(labels for _, _, labels in done).items():
        clusters = by_metric.get(name, [])
        bound = upper_bound(rate.successes, rate.trials, design_effect=design_effect(clusters))
        effective_events = rate.successes / bound.design_effect
        out[name] = {
            "clustered_by": "item",
            "items": sum(1 for _, n in clusters if n > 0),
            "design_effect": bound.design_effect,
            "effective_count": effective_events,
            "effective_of": bound.effective_trials,
            "ci95_low": _wilson_low(effective_events, bound.effective_trials),
            "ci95_high": bound.upper,
        }
    return out


def item_clusters(
    done: list[tuple[str, int, dict[str, str]]], summarise: Summarise, item_of: Callable[[str, int], str]
) -> dict[str, list[tuple[int, int]]]:
    """Each metric's (events, trials) per item, from (condition, index,
    labels) of the graded samples: the clusters a design effect is computed
    from (here and in the gates' evidence)."""
    by_item: dict[str, list[dict[str, str]]] = {}
    for condition, index, labels in done:
        by_item.setdefault(item_of(condition, index), []).append(labels)
    clusters: dict[str, list[tuple[int, int]]] = {}
    for item_labels in by_item.values():
        for name, rate in summarise(item_labels).items():
            clusters.setdefault(name, []).append((rate.successes, rate.trials))
    return clusters


def _wilson_low(successes: float, trials: float) -> float:
    """The lower end of the Wilson interval, for fractional counts too: the
    interval is symmetric under swapping successes and failures, so it is one
    minus the upper end for the failures."""
    if trials <= 0:
        return 0.0
    return max(0.0, 1.0 - wilson_upper(max(0.0, trials - successes), trials))


# Contrasts between conditions that differ in one factor.


def _contrasts(conditions: list[str], rates: dict[str, dict[str, Rate]]) -> list[dict[str, Any]]:
    """For each factor, each pair of the run's conditions that differ in that
    factor alone: each metric's difference (first − second, in the run's order
    of conditions) with Newcombe's hybrid score interval."""
    factors = {condition: _factors(condition) for condition in conditions}
    names = _axis_names(conditions, factors)
    axes = list(dict.fromkeys(key for condition in conditions for key in factors[condition]))
    out = []
    for axis in axes:
        groups: dict[tuple[Any, ...], list[str]] = {}
        for condition in conditions:
            f = factors[condition]
            if axis in f:
                rest = tuple(sorted((k, v) for k, v in f.items() if k != axis))
                groups.setdefault(rest, []).append(condition)
        for group in groups.values():
            for a, b in combinations(group, 2):
                level_a, level_b = factors[a][axis][1], factors[b][axis][1]
                if level_a == level_b:
                    continue
                out.append(
                    {
                        "axis": names[axis],
                        "a": level_a,
                        "b": level_b,
                        "held_fixed": ";".join(part for k, (part, _) in factors[a].items() if k != axis),
                        "condition_a": a,
                        "condition_b": b,
                        "metrics": {
                            name: difference(rate, rates[b][name]).as_dict()
                            for name, rate in rates[a].items()
                            if name in rates[b]
                        },
                    }
                )
    return out


def _factors(condition: str) -> dict[str, tuple[str, str]]:
    """A condition's factors: `name=value` parts by name; bare parts (such as
    `scratchpad` / `no_scratchpad`, or a single-factor suite's whole
    condition) by their position among the bare parts. Each maps to (the part
    as written, its level)."""
    out: dict[str, tuple[str, str]] = {}
    bare = 0
    for part in condition.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            out[name] = (part, value)
        else:
            out[f"#{bare}"] = (part, part)
            bare += 1
    return out


def _axis_names(conditions: list[str], factors: dict[str, dict[str, tuple[str, str]]]) -> dict[str, str]:
    """Readable names for the axes: a named factor's name; a bare factor whose
    levels are `x` and `no_x`, x; a single-part condition, `condition`."""
    names = {}
    for condition in conditions:
        for key in factors[condition]:
            if key in names:
                continue
            if not key.startswith("#"):
                names[key] = key
                continue
            levels = {factors[c][key][1] for c in conditions if key in factors[c]}
            stems = {level.removeprefix("no_") for level in levels}
            if len(stems) == 1:
                names[key] = stems.pop()
            elif all(len(factors[c]) == 1 for c in conditions):
                names[key] = "condition"
            else:
                names[key] = f"part {int(key[1:]) + 1}"
    return names


# The plot.


def results_plot_svg(*, results: dict[str, Any], metrics: list[str] | None = None) -> bytes:
    """Grouped bars of each metric's rate by condition, with 95% interval bars;
    each bar is labelled with its own count/of, and a metric with no trials in
    a condition is shown as "n/a" rather than a bar at 0."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = results["conditions"]
    names = metrics or (list(rows[0]["metrics"]) if rows else [])
    # Text as text (not glyph outlines), so the labels can be read and searched.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "stagegate"}):
        fig, ax = plt.subplots(figsize=(max(6.0, (0.3 * len(names) + 0.8) * len(rows) + 2), 4.6))
        width = 0.8 / max(1, len(names))
        small = 5 if len(names) > 3 else 6
        for i, name in enumerate(names):
            xs, ys, lows, highs, counts = [], [], [], [], []
            for j, row in enumerate(rows):
                m = row["metrics"].get(name)
                if m is None:
                    continue
                x = j + (i - (len(names) - 1) / 2) * width
                if m["rate"] is None or not m["of"]:
                    ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=small + 1, color=f"C{i}", rotation=90)
                    continue
                rate = m["rate"]
                xs.append(x)
                ys.append(rate)
                lows.append(max(0.0, rate - m["ci95_low"]))
                highs.append(max(0.0, m["ci95_high"] - rate))
                counts.append((x, m["ci95_high"], f"{m['count']}/{m['of']}"))
            ax.bar(xs, ys, width=width, yerr=[lows, highs], capsize=3, color=f"C{i}", label=name.replace("_", " "))
            for x, top, text in counts:
                ax.text(x, min(top, 0.97) + 0.01, text, ha="center", va="bottom", fontsize=small, rotation=90)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([_short(r["condition"]) + f"\n(n={r['samples']})" for r in rows], fontsize=7)
        ax.set_ylim(0, 1.12)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_ylabel("rate (95% Wilson interval)")
        ax.set_title(f"{results['suite']} {results['suite_version']}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
    return buffer.getvalue().encode()


def _short(condition: str) -> str:
    return condition.replace(";", "\n").replace("prompt=", "").replace("pressure=", "").replace("risk=", "risk ")
