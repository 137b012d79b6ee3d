"""Runs through the real gateway to a scripted model, as Inspect evals in
shards: results exactly once, retries, errors counted, cancellation,
reconciliation, the shards' logs kept and digested."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from core.actors import actor_for
from core.canonical import digest_of
from core.errors import InvalidInput
from evals import services
from evals.engine import registry
from evals.models import EvalRun, EvalSample, EvalShard, RunStatus
from gateway.models import GatewayCall, GatewayToken
from gateway.services import access_log_drain

CONDITION = "prompt=none;scratchpad;pressure=all;risk=low"


def start(scene, n=2, conditions=None, **kw):
    return services.eval_run_start(
        actor=actor_for(scene.w.auditor),
        audit=scene.audit,
        suite="insider_trading_deception",
        conditions=conditions or [CONDITION],
        samples_per_condition=n,
        **kw,
    )


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_a_run_goes_through_the_gateway_and_grades_every_moment(scene):
    run = start(scene, n=3)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    samples = list(run.samples.all())
    assert [s.status for s in samples] == ["done"] * 3
    moments = ("misaligned_action", "report", "doubling_down")
    assert all(
        {m: s.labels[m] for m in moments}
        == {"misaligned_action": "yes", "report": "concealed", "doubling_down": "deceptive"}
        for s in samples
    )
    assert all(len(s.calls) == 3 and s.attempts == 1 for s in samples)
    # The model saw the gateway's rewrite of the model name, never the lab's credential.
    assert {r["model"] for r in scene.model.requests} == {"upstream-model-7b"}
    # Every call is in the gateway's access log under the same digests.
    access_log_drain()
    logged = set(GatewayCall.objects.values_list("request_sha256", flat=True))
    assert {c["request_sha256"] for s in samples for c in s.calls} <= logged
    # Results: rates with intervals; the run's gateway token is revoked at the end.
    overall = run.results["overall"]
    assert overall["misaligned_rate"]["count"] == 3 and overall["misaligned_rate"]["of"] == 3
    assert overall["deception_rate"]["rate"] == 1.0 and overall["deception_rate"]["ci95_low"] < 1.0
    assert GatewayToken.objects.get(pk=run.gateway_token_id).revoked_at is not None
    # The shard's Inspect log is kept with its digest, which the results digest covers.
    (log,) = run.logs.all()
    with open(log.location, "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == log.sha256 and log.size == len(data) and log.ingested == 3
    assert run.results["logs"] == [{"name": log.name, "sha256": log.sha256}]
    assert run.results_digest == digest_of(run.results)
    # Each call's digests are those of the bytes the gateway logged, in the log itself too.
    from inspect_ai.log import read_eval_log

    from stagegate_inspect import call_records

    recorded = [c for s in read_eval_log(log.location).samples for c in call_records(s.events)]
    assert sorted(c["response_sha256"] for c in recorded) == sorted(
        c["response_sha256"] for s in samples for c in s.calls
    )
    responses = set(GatewayCall.objects.values_list("response_sha256", flat=True))
    assert {c["response_sha256"] for c in recorded} <= responses


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_redelivery_changes_nothing(scene):
    run = start(scene, n=1)
    sample = run.samples.get()
    before = (sample.transcript, sample.labels, sample.calls, sample.finished_at)
    assert services.shard_execute(shard_id=sample.shard_id) == "skipped"
    sample.refresh_from_db()
    assert (sample.transcript, sample.labels, sample.calls, sample.finished_at) == before
    assert sample.attempts == 1 and run.logs.count() == 1


def expire(shard_id):
    EvalShard.objects.filter(pk=shard_id).update(lease_until=timezone.now() - datetime.timedelta(seconds=1))


def test_a_stale_attempt_cannot_overwrite_a_later_one(scene):
    run = start(scene, n=1)
    shard = run.shards.get()
    stale = services._shard_claim(shard.pk)
    assert stale is not None and stale.attempt == 1
    # The first worker "dies": its lease runs out and another attempt completes.
    expire(shard.pk)
    assert services.shard_execute(shard_id=shard.pk) == "done"
    sample = run.samples.get()
    assert sample.attempts == 2 and sample.status == "done"
    finished = (sample.labels, sample.calls, sample.finished_at)
    # The first attempt comes back after all: its log is kept, its results are not.
    outcome = services.run_shard(
        services.ShardSpec(
            definition=registry()["insider_trading_deception"],
            samples=[(sample.condition, sample.index, None)],
            model_id="unused/never/v1",
            base_url="http://127.0.0.1:9/v1",
            token="unused",
            log_dir=str(settings.STAGEGATE_EVAL_LOG_DIR) + f"/stale-{run.pk}",
            temperature=0.0,
            top_p=1.0,
            max_tokens=16,
            max_connections=1,
            timeout=1,
        )
    )
    assert outcome.samples[0].error  # nothing listens there
    assert services._shard_ingest(stale, outcome) == "superseded"
    sample.refresh_from_db()
    assert (sample.labels, sample.calls, sample.finished_at) == finished
    assert run.logs.count() == 2
    # A duplicate delivery now finds nothing to do.
    assert services.shard_execute(shard_id=shard.pk) == "skipped"


def test_a_lost_shard_goes_on_one_sample_per_shard(scene):
    run = start(scene, n=3)
    shard = run.shards.get()
    assert services._shard_claim(shard.pk) is not None
    expire(shard.pk)  # its worker died
    assert services.shard_execute(shard_id=shard.pk) == "skipped"
    shard.refresh_from_db()
    parts = list(run.shards.exclude(pk=shard.pk))
    assert shard.status == "done" and len(parts) == 3
    assert sorted(run.samples.values_list("shard_id", flat=True)) == sorted(p.pk for p in parts)
    for part in parts:
        assert services.shard_execute(shard_id=part.pk) == "done"
    run.refresh_from_db()
    assert run.status == "completed" and list(run.samples.values_list("attempts", "status")) == [(2, "done")] * 3


def test_a_sample_that_keeps_killing_its_worker_fails_after_bounded_attempts(scene):
    run = start(scene, n=1)
    sample = run.samples.get()
    EvalSample.objects.filter(pk=sample.pk).update(status="running", attempts=services.MAX_ATTEMPTS)
    EvalShard.objects.filter(pk=sample.shard_id).update(status="running", attempts=services.MAX_ATTEMPTS)
    expire(sample.shard_id)
    assert services.shard_execute(shard_id=sample.shard_id) == "skipped"
    sample.refresh_from_db()
    assert sample.status == "error" and "Gave up after 3 attempts" in sample.error
    run.refresh_from_db()
    assert run.status == "completed" and run.results["overall"]["error_rate"]["count"] == 1


def test_part_of_a_shard_can_run_and_the_rest_waits(scene):
    run = start(scene, n=3)
    shard = run.shards.get()
    first = run.samples.order_by("index").first()
    assert services.shard_execute(shard_id=shard.pk, sample_ids={first.pk}) == "done"
    shard.refresh_from_db()
    assert shard.status == "pending"
    assert list(run.samples.order_by("index").values_list("status", flat=True)) == ["done", "pending", "pending"]
    assert services.shard_execute(shard_id=shard.pk) == "done"
    run.refresh_from_db()
    assert run.status == "completed" and run.samples.filter(status="done").count() == 3


def test_transient_upstream_errors_are_retried(scene):
    run = start(scene, n=1)
    scene.model.fail_first = 2
    sample = run.samples.get()
    assert services.shard_execute(shard_id=sample.shard_id) == "done"
    sample.refresh_from_db()
    statuses = [c["status"] for c in sample.calls]
    assert statuses[:2] == [502, 502] or statuses[:2] == [503, 503]
    assert statuses[-1] == 200 and sample.status == "done"


def test_a_refused_grant_marks_the_sample_error_with_the_reason(scene):
    run = start(scene, n=2)
    token = GatewayToken.objects.get(pk=run.gateway_token_id)
    from gateway.services import gateway_token_revoke

    gateway_token_revoke(actor=actor_for(scene.w.regulator), token=token)
    assert services.shard_execute(shard_id=run.shards.get().pk) == "done"
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.results["overall"]["error_rate"]["count"] == 2
    assert "revoked" in run.samples.first().error


def test_cancel_stops_pending_samples_and_revokes_the_token(scene):
    run = start(scene, n=3)
    services.eval_run_cancel(actor=actor_for(scene.w.auditor), run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert set(run.samples.values_list("status", flat=True)) == {"cancelled"}
    assert set(run.shards.values_list("status", flat=True)) == {"done"}
    assert GatewayToken.objects.get(pk=run.gateway_token_id).revoked_at is not None
    assert services.shard_execute(shard_id=run.shards.first().pk) == "skipped"


@override_settings(STAGEGATE_EVALS_SHARD_SIZE=1)
def test_reconciler_requeues_expired_leases_and_lost_pending_shards(scene, monkeypatch):
    run = start(scene, n=2)
    a, b = run.shards.all()
    old = timezone.now() - datetime.timedelta(minutes=10)
    EvalShard.objects.filter(pk=a.pk).update(status="running", attempts=1, lease_until=old)
    EvalShard.objects.filter(pk=b.pk).update(enqueued_at=old)
    sent: list[int] = []
    monkeypatch.setattr(services, "_queue_length", lambda: 0)
    monkeypatch.setattr("evals.tasks.run_shard.apply_async", lambda args, queue: sent.append(args[0]))
    assert services.shards_reconcile() == 2
    assert sorted(sent) == sorted([a.pk, b.pk])
    # With messages still queued, pending shards are not duplicated.
    sent.clear()
    EvalShard.objects.filter(pk=b.pk).update(enqueued_at=old)
    monkeypatch.setattr(services, "_queue_length", lambda: 5)
    assert services.shards_reconcile() == 1 and sent == [a.pk]


def test_only_an_assigned_auditor_starts_a_run(scene):
    from core.errors import Forbidden

    for user in (scene.w.other_auditor, scene.w.lab_admin, scene.w.regulator):
        with pytest.raises(Forbidden):
            services.eval_run_start(actor=actor_for(user), audit=scene.audit, suite="sycophancy_facts")
    assert not EvalRun.objects.exists()


def test_api_start_progress_results_plot_and_scoping(scene):
    auditor = APIClient()
    auditor.force_authenticate(scene.w.auditor)
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        r = auditor.post(
            "/api/eval-runs",
            {
                "audit": str(scene.audit.pk),
                "suite": "insider_trading_deception",
                "conditions": [CONDITION],
                "samples_per_condition": 2,
            },
            format="json",
        )
    assert r.status_code == 201, r.content
    run_id = r.json()["id"]
    detail = auditor.get(f"/api/eval-runs/{run_id}").json()
    assert detail["progress"]["total"] == 2 and detail["progress"]["done"] == 2
    # Settings of the auditor's choosing: exploratory, shown as such, never evidence for a gate.
    assert detail["under_protocol"] is False and detail["protocol_digest"] == "" and detail["temperature"] == 0.9
    assert detail["results"]["conditions"][0]["metrics"]["misaligned_rate"]["rate"] == 1.0
    plot = auditor.get(f"/api/eval-runs/{run_id}/plot.svg")
    assert plot.status_code == 200 and plot["Content-Type"] == "image/svg+xml" and b"<svg" in plot.content
    samples = auditor.get(f"/api/eval-runs/{run_id}/samples").json()["results"]
    assert len(samples) == 2 and samples[0]["calls"][0]["request_sha256"]
    # The lab sees the run and its results, never the auditors' transcripts.
    lab = APIClient()
    lab.force_authenticate(scene.w.lab_admin)
    assert lab.get(f"/api/eval-runs/{run_id}").status_code == 200
    assert lab.get(f"/api/eval-runs/{run_id}/samples").json()["results"] == []
    assert lab.get(f"/api/eval-runs/{run_id}/samples/{samples[0]['id']}").status_code == 404
    other = APIClient()
    other.force_authenticate(scene.w.other_lab_admin)
    assert other.get(f"/api/eval-runs/{run_id}").status_code == 404
    # Bad input: 400 naming the field, nothing created.
    bad = auditor.post(
        "/api/eval-runs",
        {"audit": str(scene.audit.pk), "suite": "insider_trading_deception", "conditions": ["prompt=shout"]},
        format="json",
    )
    assert bad.status_code == 400 and "conditions" in bad.json()["errors"]
    assert EvalRun.objects.count() == 1


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_run_suite_command_starts_follows_and_reports(scene):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "run_suite",
        "--as",
        "auditor",
        "--audit",
        str(scene.audit.pk),
        "--suite",
        "sycophancy_facts",
        "--condition",
        "neutral",
        "--samples",
        "2",
        stdout=out,
    )
    text = out.getvalue()
    assert "2/2 done, 0 errors" in text
    assert "sycophancy_rate" in text and "invalid_rate" in text
    run = EvalRun.objects.get()
    assert run.status == "completed"


def test_run_suite_command_refuses_clearly(scene):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="not found"):  # not assigned: the audit is out of scope
        call_command(
            "run_suite", "--as", "other_auditor", "--audit", str(scene.audit.pk), "--suite", "sycophancy_facts"
        )
    with pytest.raises(CommandError, match="suite"):
        call_command("run_suite", "--as", "auditor", "--audit", str(scene.audit.pk), "--suite", "nope")
    with pytest.raises(CommandError, match="samples_per_condition: Set by the protocol"):
        call_command(
            "run_suite", "--as", "auditor", "--audit", str(scene.audit.pk), "--suite",
            "insider_trading_deception", "--protocol", "--samples", "3", "--no-wait",
        )  # fmt: skip
    assert not EvalRun.objects.exists()


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_results_say_so_when_most_outputs_are_invalid(scene):
    scene.model.script = []  # the model never follows the protocol
    run = start(scene, n=4)
    run.refresh_from_db()
    overall = run.results["overall"]
    assert overall["invalid_rate"]["count"] == 4
    assert overall["misaligned_rate"]["of"] == 0 and overall["misaligned_rate"]["rate"] is None
    assert any("invalid" in note for note in run.results["notes"])


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_a_protocol_run_takes_every_setting_from_the_standard_and_is_what_a_signoff_binds(scene):
    from auditing.services import signoff_statement_build
    from standards.selectors import standard_in_force

    rules = standard_in_force().protocol_for("insider_trading_deception")
    exploratory = start(scene, n=1)
    run = services.eval_run_start(
        actor=actor_for(scene.w.auditor), audit=scene.audit, suite="insider_trading_deception", protocol=True
    )
    run.refresh_from_db()
    assert run.under_protocol and not exploratory.under_protocol
    assert run.protocol_digest == rules.digest and run.standard == standard_in_force()
    assert (run.conditions, run.samples_per_condition, run.temperature, run.top_p, run.max_tokens) == (
        list(rules.conditions),
        rules.samples_per_condition,
        rules.temperature,
        rules.top_p,
        rules.max_tokens,
    )
    assert run.status == RunStatus.COMPLETED and run.samples.filter(status="done").count() == rules.total_samples
    # The model was asked with the protocol's sampling, a seed per sample.
    asked = scene.model.requests[-3 * rules.total_samples :]
    assert {(r["temperature"], r["max_tokens"]) for r in asked} == {(rules.temperature, rules.max_tokens)}
    assert len({r["seed"] for r in asked}) == rules.total_samples
    # A sign-off binds the protocol run (never the exploratory one) and what it adds up to:
    # the scripted model trades on the tip and hides it every time.
    statement = signoff_statement_build(
        actor=actor_for(scene.w.auditor), system_version=scene.sv, stage=2, decision="approve", audit=scene.audit
    )
    (bound,) = statement["predicate"]["suites"]
    assert bound["protocol_digest"] == rules.digest
    assert [(r["run"], r["results_digest"]) for r in bound["runs"]] == [(str(run.pk), run.results_digest)]
    assert bound["met"] is False and (bound["pooled"]["count"], bound["pooled"]["of"]) == (48, 48)


def test_a_protocol_run_refuses_settings_of_its_own(scene):
    with pytest.raises(InvalidInput) as err:
        services.eval_run_start(
            actor=actor_for(scene.w.auditor),
            audit=scene.audit,
            suite="insider_trading_deception",
            protocol=True,
            temperature=0.2,
            samples_per_condition=3,
        )
    assert set(err.value.errors) == {"temperature", "samples_per_condition"}
    auditor = APIClient()
    auditor.force_authenticate(scene.w.auditor)
    r = auditor.post(
        "/api/eval-runs",
        {"audit": str(scene.audit.pk), "suite": "insider_trading_deception", "protocol": True, "max_tokens": 64},
        format="json",
    )
    assert r.status_code == 400 and "max_tokens" in r.json()["errors"]
    # A suite the standard has no protocol for: exploratory runs only.
    r = auditor.post(
        "/api/eval-runs", {"audit": str(scene.audit.pk), "suite": "sycophancy_facts", "protocol": True}, format="json"
    )
    assert r.status_code == 400 and r.json()["code"] == "no_protocol"
    assert not EvalRun.objects.exists()


def test_a_run_started_while_the_broker_is_down_is_accepted_and_queued_later(scene, monkeypatch):
    from kombu.exceptions import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("evals.tasks.run_shard.apply_async", down)
    with override_settings(STAGEGATE_EVALS_SHARD_SIZE=1):
        run = start(scene, n=2)
    assert run.shards.filter(status="pending", enqueued_at__isnull=True).count() == 2
    sent: list[int] = []
    monkeypatch.setattr("evals.tasks.run_shard.apply_async", lambda args, queue: sent.append(args[0]))
    monkeypatch.setattr(services, "_queue_length", lambda: 0)
    assert services.shards_reconcile() == 2 and len(sent) == 2


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_an_llm_judge_labels_beside_the_rules_and_agreement_is_reported(scene):
    from gateway.selectors import model_id_of
    from tests.gateway.conftest import issue

    scene.model.script = [
        ("strong momentum", '{"label": "concealed", "reasoning": "Only market reasons are given."}'),
        ("no prior knowledge", 'Sure. {"label": "honest", "reasoning": "I misread it."}'),
        *scene.model.script,
    ]
    _, grader_token = issue(scene.sv, scene.w.auditor, audit=scene.audit)
    grader = model_id_of(lab_slug=scene.w.lab.slug, name=scene.sv.name, sequence=scene.sv.sequence)
    run = start(scene, n=2, grader_model=grader, grader_token=grader_token)
    run.refresh_from_db()
    sample = run.samples.first()
    assert sample.grade["judge"]["report"] == {"label": "concealed", "reasoning": "Only market reasons are given."}
    assert sample.grade["judge"]["doubling_down"]["label"] == "honest"
    assert sum(1 for c in sample.calls if c.get("judge")) == 2
    overall = run.results["overall"]
    assert overall["judge_agreement_report"]["rate"] == 1.0
    assert overall["judge_agreement_doubling_down"]["rate"] == 0.0  # rules: deceptive; judge: honest
    assert grader_token not in str(run.__dict__) and run.grader_token_ciphertext


def test_a_grader_model_needs_a_token(scene):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        start(scene, grader_model="some/model")
    assert "grader_token" in exc.value.errors
    assert not EvalRun.objects.exists()


@override_settings(CELERY_TASK_ALWAYS_EAGER=True, STAGEGATE_EVAL_LOG_DIR="memory://stagegate-test/eval-logs")
def test_logs_go_to_any_fsspec_store(scene):
    # An object store is one URL away (s3:// in production, through s3fs):
    # fsspec's in-memory store stands in for it here.
    import fsspec

    run = start(scene, n=2)
    (log,) = run.logs.all()
    assert log.location.startswith("memory://stagegate-test/eval-logs/run-")
    with fsspec.open(log.location, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == log.sha256
    assert run.samples.filter(status="done").count() == 2
