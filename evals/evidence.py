"""Which runs count for a gate, and what they add up to: the one definition
used by the gates' checklist, the sign-off statements that bind it and the
portal that shows it.

A run counts when it was made under the protocol the standard in force
defines for its suite (same protocol digest), on the system version or an
ancestor the results may carry over from, and finished inside the freshness
window. Every such run is pooled, whatever its results, so re-running until
one run passes cannot help; cancelled protocol runs count with the samples
they finished, so stopping a run that is going badly cannot help either. A
protocol run still in progress holds the gate until it ends."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.stats import design_effect, upper_bound
from evals.engine import SuiteDefinition, registry
from evals.models import EvalRun, EvalSample, SampleStatus
from evals.results import REASON_CHARS, UNREACHED, item_clusters
from standards.protocols import Evidence, Protocol, decide


@dataclass(frozen=True)
class SuiteEvidence:
    suite: str
    protocol: Protocol | None
    runs: list[EvalRun]  # the finished protocol runs pooled, oldest first
    evidence: Evidence | None
    met: bool
    reasons: list[str]

    def bound(self) -> dict[str, Any]:
        """What a sign-off binds for this suite: the protocol, every pooled run
        and its results digest, and the verdict they add up to. A later
        protocol run or any change to a cited result changes it."""
        return {
            "suite": self.suite,
            "protocol_digest": self.protocol.digest if self.protocol else None,
            "runs": [
                {
                    "run": str(run.pk),
                    "system_version": str(run.system_version_id),
                    "suite_version": run.suite.version,
                    "suite_digest": run.suite.content_digest,
                    "results_digest": run.results_digest,
                }
                for run in self.runs
            ],
            "pooled": self.evidence.as_dict()["metric"] if self.evidence else None,
            "met": self.met,
        }


def protocol_runs(
    *, system_version_ids: Iterable[Any], suite: str, protocol_digest: str, since: datetime.datetime | None
) -> tuple[list[EvalRun], int]:
    """The finished protocol runs that count (oldest first) and how many have
    not finished: running ones, and cancelled ones whose samples in flight
    have not all ended (their results are not in yet)."""
    qs = EvalRun.objects.filter(
        system_version_id__in=list(system_version_ids), suite__name=suite, protocol_digest=protocol_digest
    )
    running = qs.filter(finished_at__isnull=True).count()
    finished = qs.filter(finished_at__isnull=False)
    if since is not None:
        finished = finished.filter(finished_at__gte=since)
    return list(finished.select_related("suite", "system_version").order_by("finished_at", "pk")), running


def pooled_evidence(
    *, definition: SuiteDefinition, protocol: Protocol, runs: list[EvalRun], running: int = 0
) -> Evidence:
    """Every sample of the runs that ran (done or error), pooled: the gated
    metric over the valid trials, with a design effect when the suite repeats
    items; the error count and its reasons; invalid outputs at each graded
    step among the samples that reached it."""
    rows = list(
        EvalSample.objects.filter(run__in=runs, status__in=[SampleStatus.DONE, SampleStatus.ERROR]).values_list(
            "condition", "index", "status", "labels", "error"
        )
    )
    done = [(c, i, labels) for c, i, status, labels, _ in rows if status == SampleStatus.DONE]
    errors = Counter((error or "unknown error")[:REASON_CHARS] for _, _, status, _, error in rows if status == "error")
    rate = definition.summarise(labels for _, _, labels in done).get(protocol.metric)
    events, trials = (rate.successes, rate.trials) if rate is not None else (0, 0)
    deff = 1.0
    if definition.item_of is not None and rate is not None:
        clusters = item_clusters(done, definition.summarise, definition.item_of)
        deff = design_effect(clusters.get(protocol.metric, []))
    steps: dict[str, list[int]] = {}
    for _, _, labels in done:
        for step, label in labels.items():
            if label in UNREACHED:
                continue
            counts = steps.setdefault(step, [0, 0])
            counts[0] += label == "invalid"
            counts[1] += 1
    return Evidence(
        runs=len(runs),
        samples=len(rows),
        errors=sum(errors.values()),
        metric=upper_bound(events, trials, design_effect=deff),
        steps={step: (invalid, reached) for step, (invalid, reached) in steps.items()},
        error_reasons=dict(errors),
        running=running,
    )


def suite_evidence(
    *,
    suite: str,
    protocol: Protocol | None,
    system_version_ids: Iterable[Any],
    since: datetime.datetime | None,
) -> SuiteEvidence:
    """The verdict on a required suite from every protocol run that counts."""
    definition = registry().get(suite)
    if definition is None:
        return SuiteEvidence(suite, protocol, [], None, False, ["no version of this suite is available"])
    if protocol is None:
        return SuiteEvidence(
            suite, None, [], None, False, ["the standard in force defines no protocol for it, so no run can count"]
        )
    runs, running = protocol_runs(
        system_version_ids=system_version_ids, suite=suite, protocol_digest=protocol.digest, since=since
    )
    evidence = pooled_evidence(definition=definition, protocol=protocol, runs=runs, running=running)
    met, reasons = decide(protocol, evidence)
    return SuiteEvidence(suite, protocol, runs, evidence, met, reasons)
