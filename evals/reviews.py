"""The review queue: graded moments on which a run's LLM judge and the rules
disagree, for an auditor of the running organisation to resolve.

``label_reviews_open`` queues every disagreement of a finished run (the run
finish calls it); ``label_review_resolve`` records the auditor's label and
reason (an audit event), puts the label on the sample (the rules' own stays in
the sample's grade under "reviews") and, when the run has results, recomputes
them, so the run's rates use the resolved label. The API is evals/review_apis.py."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.actors import Actor, system_actor
from core.api import one_of
from core.audit import audit_event_record
from core.canonical import digest_of
from core.errors import Conflict, InvalidInput
from core.permissions import VIEW, get_for, require
from evals.models import EvalRun, EvalSample, LabelReview, LabelReviewStatus, SampleStatus

REASON_MAX = 2000
ALT_DOUBLING_DOWN = "doubling_down_dodge_ambiguous"


def moment_labels(run: EvalRun, moment: str) -> set[str]:
    """The labels a moment may be given, where the suite's judge names them."""
    if run.suite.name == "insider_trading_deception":
        from evals.suites.insider_trading.judge import LABELS

        return set(LABELS.get(moment, ()))
    return set()


# --- Services ---------------------------------------------------------------------


def label_reviews_open(*, run: EvalRun) -> int:
    """Queue a review for every moment of the run's finished samples on which
    the judge gave a label (not `invalid`) other than the rules'. Idempotent:
    a moment is queued once, resolved or not. Returns how many were added."""
    added = 0
    with transaction.atomic():
        for sample in run.samples.filter(status=SampleStatus.DONE).only("pk", "labels", "grade"):
            verdicts = (sample.grade or {}).get("judge") or {}
            earlier = (sample.grade or {}).get("reviews") or {}
            for moment, verdict in sorted(verdicts.items()):
                judge_label = str((verdict or {}).get("label") or "")
                rules_label = (earlier.get(moment) or {}).get("rules_label") or (sample.labels or {}).get(moment)
                if not judge_label or judge_label == "invalid" or rules_label in (None, judge_label):
                    continue
                _, made = LabelReview.objects.get_or_create(
                    sample=sample,
                    moment=moment,
                    defaults={
                        "run": run,
                        "rules_label": str(rules_label),
                        "judge_label": judge_label,
                        "judge_reasoning": str((verdict or {}).get("reasoning") or "")[:REASON_MAX],
                    },
                )
                added += made
        if added:
            audit_event_record(
                actor=system_actor("judge_disagreements"),
                action="label_review.open",
                target=run,
                after={"opened": added},
                organisations=[run.organisation_id],
            )
    return added


def require_may_resolve(*, actor: Actor, run: EvalRun) -> None:
    require(
        EvalRun.objects.visible_to(actor, "change").filter(pk=run.pk).exists(),
        "Only an auditor of the running organisation, assigned to the audit, resolves its reviews.",
    )


def label_review_resolve(*, actor: Actor, review: LabelReview, label: str, reason: str) -> LabelReview:
    """An auditor of the running organisation, assigned to the audit, settles
    one disagreement: the label is one the moment may have, the reason is
    required. The sample carries the label from then on, and a finished run's
    results are recomputed with it."""
    reason = (reason or "").strip()
    with transaction.atomic():
        review = (
            LabelReview.objects.select_for_update(of=("self",))
            .select_related("run__suite", "run__audit")
            .get(pk=review.pk)
        )
        run = review.run
        require_may_resolve(actor=actor, run=run)
        if review.status != LabelReviewStatus.OPEN:
            raise Conflict("This review has already been resolved.", code="review_resolved")
        allowed = moment_labels(run, review.moment) | {review.rules_label, review.judge_label}
        errors: dict[str, list[str]] = {}
        if label not in allowed:
            errors["label"] = [one_of(sorted(allowed))]
        if not reason:
            errors["reason"] = ["Say why this label is right."]
        elif len(reason) > REASON_MAX:
            errors["reason"] = [f"At most {REASON_MAX} characters."]
        if errors:
            raise InvalidInput("The resolution is not valid.", errors=errors)
        sample = EvalSample.objects.select_for_update().get(pk=review.sample_id)
        before = {"status": review.status, "label": (sample.labels or {}).get(review.moment)}
        labels, grade = dict(sample.labels or {}), dict(sample.grade or {})
        reviews = dict(grade.get("reviews") or {})
        reviews[review.moment] = {
            "review": review.pk,
            "rules_label": review.rules_label,
            "judge_label": review.judge_label,
            "resolved_label": label,
            "reason": reason,
            "by": actor.label,
        }
        labels[review.moment] = label
        if review.moment == "doubling_down" and ALT_DOUBLING_DOWN in labels and label != review.rules_label:
            labels[ALT_DOUBLING_DOWN] = label  # the auditor's reading holds under either convention
        grade["reviews"] = reviews
        sample.labels, sample.grade = labels, grade
        sample.save(update_fields=["labels", "grade"])
        review.status, review.resolved_label, review.reason = LabelReviewStatus.RESOLVED, label, reason
        review.resolved_by, review.resolved_at = actor.user, timezone.now()
        review.full_clean()
        review.save()
        after: dict[str, Any] = {"status": review.status, "label": label, "reason": reason}
        if run.results is not None:
            from evals.results import run_results

            run = EvalRun.objects.select_for_update().select_related("suite").get(pk=run.pk)
            before["results_digest"] = run.results_digest
            run.results = {**run_results(run=run), "logs": (run.results or {}).get("logs", [])}
            run.results_digest = digest_of(run.results)
            run.save(update_fields=["results", "results_digest", "updated_at"])
            after["results_digest"] = run.results_digest
        audit_event_record(
            actor=actor,
            action="label_review.resolve",
            target=review,
            before=before,
            after=after,
            organisations=[run.organisation_id, run.audit.lab_id],
        )
    return review


# --- Selectors ----------------------------------------------------------------------


def label_review_list(*, actor: Actor, run: EvalRun, status: str | None = None) -> Any:
    qs = LabelReview.objects.visible_to(actor, VIEW).filter(run=run)
    return qs.filter(status=status) if status else qs


def label_review_get(*, actor: Actor, run: EvalRun, pk: Any) -> LabelReview:
    return get_for(LabelReview.objects.filter(run=run), actor, pk, VIEW)
