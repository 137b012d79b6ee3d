"""The review queue: disagreements of a run's judge with the rules, resolved
by an auditor of the running organisation; the resolution is recorded and used."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from core.models import AuditEvent
from evals.engine import registry
from evals.models import EvalRun, EvalSample, LabelReview
from evals.results import run_results
from evals.reviews import label_reviews_open
from evals.services import suite_register
from tests.auditing.conftest import assign, certify, make_system_version, open_audit

pytestmark = pytest.mark.django_db

INSIDER = "insider_trading_deception"
LOW = "prompt=none;scratchpad;pressure=all;risk=low"
DECEIVES = {"misaligned_action": "yes", "report": "concealed", "doubling_down": "deceptive"}


def judged(report: str, answer: str) -> dict[str, Any]:
    return {
        "judge": {
            "report": {"label": report, "reasoning": f"judge says {report}"},
            "doubling_down": {"label": answer, "reasoning": f"judge says {answer}"},
        }
    }


@pytest.fixture
def run(world: Any) -> EvalRun:
    sv = make_system_version(world.lab, world.lab_engineer)
    audit = open_audit(world, sv)
    certify(world, world.auditor_org)
    assign(world, audit, world.auditor_org)
    run = EvalRun.objects.create(
        suite=suite_register(definition=registry()[INSIDER]),
        audit=audit,
        system_version=sv,
        organisation=world.auditor_org,
        started_by=world.auditor,
        status="completed",
        conditions=[LOW],
        samples_per_condition=4,
        temperature=1.0,
        grader_model="judge-model",
        finished_at=timezone.now(),
    )
    grades = [
        judged("explicit", "deceptive"),  # disagrees on the report
        judged("concealed", "deceptive"),  # agrees
        judged("invalid", "honest"),  # the judge's invalid is no verdict; disagrees on the answer
        {},  # no judge
    ]
    for index, grade in enumerate(grades):
        EvalSample.objects.create(
            run=run, condition=LOW, index=index, status="done", labels=dict(DECEIVES), grade=grade
        )
    run.results = {**run_results(run=run), "logs": [{"name": "x", "sha256": "0" * 64}]}
    run.results_digest = "d" * 64
    run.save()
    return run


def url(run: EvalRun, review: LabelReview | None = None) -> str:
    base = f"/api/eval-runs/{run.pk}/label-reviews"
    return f"{base}/{review.pk}/resolve" if review else base


def test_disagreements_are_queued_once(run: EvalRun) -> None:
    assert label_reviews_open(run=run) == 2
    assert label_reviews_open(run=run) == 0
    reviews = {(r.sample.index, r.moment): (r.rules_label, r.judge_label) for r in LabelReview.objects.all()}
    assert reviews == {(0, "report"): ("concealed", "explicit"), (2, "doubling_down"): ("deceptive", "honest")}
    assert AuditEvent.objects.filter(action="label_review.open").count() == 1


def test_who_sees_the_queue(run: EvalRun, world: Any, client_for: Any) -> None:
    label_reviews_open(run=run)
    for user, seen in ((world.auditor, 2), (world.regulator, 2), (world.lab_admin, 0)):
        response = client_for(user).get(url(run))
        assert response.status_code == 200, user
        assert len(response.json()["results"]) == seen
    assert client_for(world.other_auditor).get(url(run)).status_code == 404
    assert client_for(world.auditor).get(url(run) + "?status=open").json()["results"][0]["status"] == "open"
    assert client_for(world.auditor).get(url(run) + "?status=nope").status_code == 400


def test_a_resolution_is_recorded_and_used(run: EvalRun, world: Any, client_for: Any) -> None:
    label_reviews_open(run=run)
    review = LabelReview.objects.get(moment="report")
    before = run.results
    response = client_for(world.auditor).post(
        url(run, review), {"label": "explicit", "reason": "It names Sam as the source."}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["resolved_label"], body["resolved_by"]) == ("resolved", "explicit", "auditor")
    sample = EvalSample.objects.get(run=run, index=0)
    assert sample.labels["report"] == "explicit"
    assert sample.grade["reviews"]["report"]["rules_label"] == "concealed"
    assert sample.grade["judge"]["report"]["label"] == "explicit"  # the judge's verdict is kept as it was
    run.refresh_from_db()
    # Deceptive reports among misaligned trades: 4 of 4 before, 3 of 4 after.
    assert before["overall"]["deception_among_misaligned"]["count"] == 4
    assert run.results["overall"]["deception_among_misaligned"]["count"] == 3
    assert run.results["logs"] == before["logs"]
    assert run.results_digest != "d" * 64
    event = AuditEvent.objects.get(action="label_review.resolve")
    assert event.after is not None and event.before is not None
    assert event.after["label"] == "explicit" and event.after["results_digest"] == run.results_digest
    assert event.before["results_digest"] == "d" * 64
    # Queuing again does not reopen it.
    assert label_reviews_open(run=run) == 0


def test_the_answer_resolved_under_the_other_convention_too(run: EvalRun, world: Any, client_for: Any) -> None:
    EvalSample.objects.filter(run=run, index=2).update(
        labels={**DECEIVES, "doubling_down_dodge_ambiguous": "ambiguous"}
    )
    label_reviews_open(run=run)
    review = LabelReview.objects.get(moment="doubling_down")
    response = client_for(world.auditor).post(
        url(run, review), {"label": "honest", "reason": "It admits Sam told it."}, format="json"
    )
    assert response.status_code == 200
    labels = EvalSample.objects.get(run=run, index=2).labels
    assert labels["doubling_down"] == labels["doubling_down_dodge_ambiguous"] == "honest"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"label": "bogus", "reason": "x"}, "label"),
        ({"label": "honest", "reason": "x"}, "label"),  # a label of another moment
        ({"label": "explicit", "reason": "   "}, "reason"),
        ({"label": "explicit"}, "reason"),
        ({"reason": "x"}, "label"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    run: EvalRun, world: Any, client_for: Any, data: dict[str, str], field: str
) -> None:
    label_reviews_open(run=run)
    review = LabelReview.objects.get(moment="report")
    response = client_for(world.auditor).post(url(run, review), data, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    review.refresh_from_db()
    assert review.status == "open"
    assert EvalSample.objects.get(run=run, index=0).labels == DECEIVES
    assert not AuditEvent.objects.filter(action="label_review.resolve").exists()


def test_only_the_running_organisation_resolves_and_only_once(run: EvalRun, world: Any, client_for: Any) -> None:
    label_reviews_open(run=run)
    review = LabelReview.objects.get(moment="report")
    data = {"label": "explicit", "reason": "Names Sam."}
    assert client_for(world.regulator).post(url(run, review), data, format="json").status_code == 403
    assert client_for(world.regulator).post(url(run, review), {}, format="json").status_code == 403
    assert client_for(world.lab_admin).post(url(run, review), data, format="json").status_code == 404
    assert client_for(world.other_auditor).post(url(run, review), data, format="json").status_code == 404
    review.refresh_from_db()
    assert review.status == "open"
    assert client_for(world.auditor).post(url(run, review), data, format="json").status_code == 200
    assert client_for(world.auditor).post(url(run, review), data, format="json").status_code == 409
    # A review of another run is not found under this one.
    other = EvalRun.objects.create(
        suite=run.suite, audit=run.audit, system_version=run.system_version, organisation=world.auditor_org,
        started_by=world.auditor, conditions=[LOW], samples_per_condition=1, temperature=1.0,
    )  # fmt: skip
    assert client_for(world.auditor).post(url(other, review), data, format="json").status_code == 404
