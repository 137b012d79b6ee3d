"""Reads on suites, runs and samples, scoped to the actor."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from core.actors import Actor
from core.permissions import VIEW, get_for
from evals.models import EvalRun, EvalSample, SampleStatus, Suite


def suite_list(*, actor: Actor) -> QuerySet[Suite]:
    return Suite.objects.visible_to(actor, VIEW)


def eval_run_list(*, actor: Actor, audit_id: Any = None) -> QuerySet[EvalRun]:
    qs = EvalRun.objects.visible_to(actor, VIEW).select_related("suite")
    return qs.filter(audit_id=audit_id) if audit_id else qs


def eval_run_get(*, actor: Actor, pk: Any, action: str = VIEW) -> EvalRun:
    return get_for(EvalRun.objects.select_related("suite", "audit", "system_version"), actor, pk, action)


def eval_run_progress(*, run: EvalRun) -> dict[str, int]:
    counts = run.samples.aggregate(
        total=Count("pk"),
        **{s.value: Count("pk", filter=Q(status=s)) for s in SampleStatus},
    )
    counts["finished"] = counts["done"] + counts["error"] + counts["cancelled"]
    return counts


def eval_sample_list(*, actor: Actor, run: EvalRun, condition: str | None = None) -> QuerySet[EvalSample]:
    qs = EvalSample.objects.visible_to(actor, VIEW).filter(run=run)
    return qs.filter(condition=condition) if condition else qs


def eval_sample_get(*, actor: Actor, run: EvalRun, pk: Any) -> EvalSample:
    return get_for(EvalSample.objects.filter(run=run), actor, pk, VIEW)
