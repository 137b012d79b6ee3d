"""Rates by condition, with 95% Wilson intervals, and their plot."""

from __future__ import annotations

import io
from typing import Any

from evals.engine import registry
from evals.models import EvalRun, SampleStatus
from core.stats import wilson


def run_results(*, run: EvalRun) -> dict[str, Any]:
    """Per condition: sample counts by status, the suite's metrics over the
    graded samples, and the error rate over all of them. Errors and invalid
    outputs are counted and shown, never dropped."""
    definition = registry()[run.suite.name]
    rows = list(run.samples.values_list("condition", "status", "labels"))
    judged = [
        (labels, grade["judge"])
        for labels, grade in run.samples.filter(status=SampleStatus.DONE).values_list("labels", "grade")
        if grade.get("judge")
    ]
    conditions = []
    for condition in run.conditions:
        mine = [(status, labels) for c, status, labels in rows if c == condition]
        counts = {s.value: sum(1 for status, _ in mine if status == s) for s in SampleStatus}
        done = [labels for status, labels in mine if status == SampleStatus.DONE]
        metrics = {name: rate.as_dict() for name, rate in definition.summarise(done).items()}
        metrics["error_rate"] = wilson(counts["error"], len(mine)).as_dict()
        conditions.append({"condition": condition, "samples": len(mine), "counts": counts, "metrics": metrics})
    everything = [labels for _, status, labels in rows if status == SampleStatus.DONE]
    overall = {name: rate.as_dict() for name, rate in definition.summarise(everything).items()}
    overall["error_rate"] = wilson(sum(1 for _, s, _ in rows if s == SampleStatus.ERROR), len(rows)).as_dict()
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
    return {
        "notes": notes,
        "suite": run.suite.name,
        "suite_version": run.suite.version,
        "suite_digest": run.suite.content_digest,
        "grader_version": run.suite.grader_version,
        "conditions": conditions,
        "overall": overall,
    }


def results_plot_svg(*, results: dict[str, Any], metrics: list[str] | None = None) -> bytes:
    """Grouped bars of each metric's rate by condition, with 95% interval bars."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = results["conditions"]
    names = metrics or (list(rows[0]["metrics"]) if rows else [])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(rows) + 2), 4.2))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs, ys, lows, highs = [], [], [], []
        for j, row in enumerate(rows):
            m = row["metrics"].get(name)
            if m is None:
                continue
            rate = m["rate"] if m["rate"] is not None else 0.0
            xs.append(j + (i - (len(names) - 1) / 2) * width)
            ys.append(rate)
            lows.append(max(0.0, rate - m["ci95_low"]))
            highs.append(max(0.0, m["ci95_high"] - rate))
        ax.bar(xs, ys, width=width, yerr=[lows, highs], capsize=3, label=name.replace("_", " "))
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([_short(r["condition"]) + f"\n(n={r['samples']})" for r in rows], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate (95% Wilson interval)")
    ax.set_title(f"{results['suite']} {results['suite_version']}")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    return buffer.getvalue().encode()


def _short(condition: str) -> str:
    return condition.replace(";", "\n").replace("prompt=", "").replace("pressure=", "").replace("risk=", "risk ")
