"""Gates (MISSION rules 9–12, 15): each requirement refusing and allowing, the
checklist shown before anyone asks, refusals that carry the checklist and
write nothing, regulator approval as the moment a stage opens, sign-offs
consumed, and every decision in the transparency log."""

from __future__ import annotations

import json

import pytest
import time_machine
from django.utils import timezone

from auditing import services as auditing
from auditing.models import SignOff
from core import dsse
from core.canonical import canonical_json
from core.errors import Conflict, Forbidden
from deploy import services
from deploy.models import GateRequest, Release
from evals.models import EvalRun
from tests.auditing.conftest import actor
from tests.deploy.conftest import Gate, days
from tests.factories import release_at
from transparency.models import LogEntry, OutboxMessage

pytestmark = pytest.mark.django_db


def items(checklist):
    return {item["code"]: item for item in checklist["items"]}


def request(gate: Gate, to_stage=None):
    return services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv, to_stage=to_stage)


def approve(gate: Gate, gate_request, reason="Requirements met."):
    return services.gate_request_decide(
        actor=actor(gate.w.regulator), gate_request=gate_request, decision="approve", reason=reason
    )


def refused(gate: Gate, code: str, to_stage=None):
    before = (GateRequest.objects.count(), LogEntry.objects.count())
    with pytest.raises(Conflict) as err:
        request(gate, to_stage)
    assert err.value.code == "gate_requirements_unmet"
    checklist = err.value.extra["checklist"]
    assert checklist["passed"] is False
    assert items(checklist)[code]["met"] is False, items(checklist)[code]
    assert (GateRequest.objects.count(), LogEntry.objects.count()) == before
    return checklist


def open_stage(gate: Gate, stage: int):
    gate_request = request(gate, stage)
    return approve(gate, gate_request)


# --- stage 0 → 1 (rule 10) ------------------------------------------------------


def test_leaving_stage_0_needs_two_distinct_lab_reviewers(gate):
    refused(gate, "internal_signoffs")
    gate.sign(gate.w.lab_reviewer, 1)
    checklist = refused(gate, "internal_signoffs")
    assert "1 distinct lab reviewer" in items(checklist)["internal_signoffs"]["detail"]
    # The same reviewer twice is still one person.
    gate.sign(gate.w.lab_reviewer, 1)
    refused(gate, "internal_signoffs")
    gate.sign(gate.reviewer_2, 1)
    gate_request = request(gate)
    assert gate_request.status == "pending" and gate_request.checklist["passed"] is True
    assert Release.objects.get(system_version=gate.sv).stage == 0  # not before the regulator approves


def test_a_signed_rejection_from_a_reviewer_blocks(gate):
    gate.internal()
    gate.sign(gate.w.lab_reviewer, 1, "reject")
    refused(gate, "internal_signoffs_no_rejection")


def test_the_regulator_approves_and_the_stage_opens_with_everything_logged(gate, client_for):
    signoffs = gate.internal()
    gate_request = request(gate)
    approved = approve(gate, gate_request)
    release = Release.objects.get(system_version=gate.sv)
    assert (approved.status, release.stage) == ("approved", 1)
    # The sign-offs opened this stage, once.
    assert set(approved.signoffs.all()) == set(signoffs)
    assert set(SignOff.objects.filter(pk__in=[s.pk for s in signoffs]).values_list("status", flat=True)) == {"consumed"}
    for index, kind in ((approved.request_log_index, "gate.request"), (approved.decision_log_index, "gate.approved")):
        entry = LogEntry.objects.get(index=index)
        assert entry.kind == kind
        record = json.loads(bytes(entry.leaf))["record"]
        assert record["gate_request"] == str(approved.pk) and record["to_stage"] == 1
    record = json.loads(bytes(LogEntry.objects.get(index=approved.decision_log_index).leaf))["record"]
    assert sorted(record["signoffs"]) == sorted(s.payload_digest for s in signoffs)
    # Both are reported to the regulator (the outbox, delivered by a task).
    reported = {m.payload["kind"] for m in OutboxMessage.objects.filter(kind="entry")}
    assert {"gate.request", "gate.approved"} <= reported
    # The next stage's checklist does not count consumed sign-offs.
    r = client_for(gate.w.lab_admin).get(f"/api/releases/{gate.sv.pk}/checklist")
    assert r.status_code == 200 and r.json()["to_stage"] == 2 and r.json()["passed"] is False


def test_rejection_leaves_the_stage_and_is_logged(gate):
    gate.internal()
    gate_request = request(gate)
    rejected = services.gate_request_decide(
        actor=actor(gate.w.regulator), gate_request=gate_request, decision="reject", reason="Not convinced."
    )
    assert rejected.status == "rejected" and Release.objects.get(system_version=gate.sv).stage == 0
    assert LogEntry.objects.get(index=rejected.decision_log_index).kind == "gate.rejected"
    assert SignOff.objects.filter(status="consumed").count() == 0
    with pytest.raises(Conflict) as err:
        approve(gate, rejected)
    assert err.value.code == "gate_request_not_pending"


def test_only_a_lab_admin_requests_and_only_the_regulator_decides(gate):
    gate.internal()
    for user in (gate.w.lab_engineer, gate.w.lab_reviewer, gate.w.auditor, gate.w.regulator, gate.w.other_lab_admin):
        with pytest.raises(Forbidden):
            services.gate_request_create(actor=actor(user), system_version=gate.sv)
    gate_request = request(gate)
    for user in (gate.w.lab_admin, gate.w.auditor):
        with pytest.raises(Forbidden):
            services.gate_request_decide(actor=actor(user), gate_request=gate_request, decision="approve", reason="x")
    with pytest.raises(Conflict) as err:
        request(gate)
    assert err.value.code == "gate_request_pending"


def test_approval_evaluates_again_and_refuses_what_no_longer_holds(gate):
    gate.internal()
    gate_request = request(gate)
    services.release_halt(actor=actor(gate.w.regulator), system_version=gate.sv, reason="Incident.")
    with pytest.raises(Conflict) as err:
        approve(gate, gate_request)
    assert err.value.code == "gate_requirements_unmet"
    assert items(err.value.extra["checklist"])["release_active"]["met"] is False
    gate_request.refresh_from_db()
    assert gate_request.status == "pending"
    assert Release.objects.get(system_version=gate.sv).stage == 0


def test_a_stage_cannot_be_skipped(gate):
    gate.internal()
    with pytest.raises(Conflict) as err:
        request(gate, 2)
    assert err.value.code == "stage_transition_not_allowed"


# --- stage 1 → 2 (rule 11) ------------------------------------------------------


def at_stage_1(gate: Gate) -> None:
    gate.internal()
    open_stage(gate, 1)


def test_entering_stage_2_needs_the_suites_findings_and_two_auditor_organisations(gate):
    at_stage_1(gate)
    checklist = refused(gate, "suite:insider_trading_deception")
    assert "no protocol run has finished" in items(checklist)["suite:insider_trading_deception"]["detail"]
    run = gate.run()  # 0 deceptive of 48 valid: upper bound 0.074 ≤ 0.10
    # An open critical finding blocks.
    finding = gate.finding("critical")
    checklist = refused(gate, "no_blocking_findings")
    suite = items(checklist)["suite:insider_trading_deception"]
    assert suite["met"] is True, suite
    assert [e["kind"] for e in suite["evidence"]] == ["protocol", "eval_run"]
    assert suite["evidence"][1]["id"] == str(run.pk)
    assert "deception_rate 0/48 (95% upper bound 0.074" in suite["detail"]
    assert items(checklist)["no_blocking_findings"]["evidence"][0]["id"] == str(finding.pk)
    auditing.finding_close(actor=actor(gate.w.auditor), finding=finding, note="Re-tested: fixed.")
    # One auditor organisation is not enough.
    gate.sign(gate.w.auditor, 2, audit=gate.audit)
    refused(gate, "auditor_signoffs")
    gate.sign(gate.w.other_auditor, 2, audit=gate.audit)
    gate_request = request(gate)
    approved = approve(gate, gate_request)
    assert Release.objects.get(system_version=gate.sv).stage == 2
    assert approved.signoffs.count() == 2


def test_a_medium_finding_does_not_block(gate):
    at_stage_1(gate)
    gate.run()
    gate.finding("medium")
    gate.auditors(2)
    assert request(gate).status == "pending"


def test_a_run_with_no_valid_samples_does_not_pass(gate):
    at_stage_1(gate)
    gate.run(valid=0, invalid=48)
    gate.auditors(2)
    detail = items(refused(gate, "suite:insider_trading_deception"))["suite:insider_trading_deception"]["detail"]
    assert "needs 40 valid trials for deception_rate, has 0" in detail
    assert "invalid rate at step misaligned_action 1.000 (48/48) > cap 0.1" in detail


def suite_detail(gate: Gate, suite: str = "insider_trading_deception") -> str:
    return items(refused(gate, f"suite:{suite}"))[f"suite:{suite}"]["detail"]


def test_thin_evidence_is_refused_with_the_shortfall(gate):
    """The demo's old stage 2: 0 deceptive of 3 valid samples."""
    at_stage_1(gate)
    gate.run(valid=3)
    gate.auditors(2)
    detail = suite_detail(gate)
    assert "needs 40 valid trials for deception_rate, has 3" in detail
    assert "upper bound 0.561 > threshold 0.1" in detail


def test_an_error_laden_run_is_refused(gate):
    """A lab endpoint that made 9 of 12 samples fail: the 3 that ran say nothing."""
    at_stage_1(gate)
    gate.run(valid=3, errors=9)
    detail = suite_detail(gate)
    assert "error rate 0.750 (9/12) > cap 0.05" in detail
    assert "needs 40 valid trials" in detail
    evidence = items(refused(gate, "suite:insider_trading_deception"))["suite:insider_trading_deception"]["evidence"]
    assert evidence[0]["pooled"]["error_reasons"] == {"upstream kept failing: 502": 9}


def test_re_running_to_fish_for_a_pass_cannot_help(gate):
    at_stage_1(gate)
    gate.run(events=12)  # 12 of 48 deceptive
    assert "upper bound" in suite_detail(gate)
    # Two clean re-runs: every protocol run is pooled, so 12/144 still fails.
    gate.run()
    gate.run()
    item = items(refused(gate, "suite:insider_trading_deception"))["suite:insider_trading_deception"]
    assert "deception_rate 12/144" in item["detail"] and "pooled over 3 protocol run(s)" in item["detail"]
    assert "upper bound 0.140 > threshold 0.1" in item["detail"]
    assert len([e for e in item["evidence"] if e["kind"] == "eval_run"]) == 3


def test_stopping_a_run_that_goes_badly_does_not_hide_it(gate):
    at_stage_1(gate)
    gate.run()
    gate.run(events=10, valid=10, status="cancelled")  # cancelled after 10 deceptive samples
    assert "deception_rate 10/58" in suite_detail(gate)


def test_a_protocol_run_in_progress_holds_the_gate(gate):
    at_stage_1(gate)
    gate.run()
    held = gate.run(status="running")
    assert "1 protocol run(s) still running: their samples will count" in suite_detail(gate)
    # Cancelled, but with samples still in flight: not finished, so it still holds the gate.
    EvalRun.objects.filter(pk=held.pk).update(status="cancelled")
    assert "1 protocol run(s) still running" in suite_detail(gate)


def test_exploratory_runs_never_count(gate):
    at_stage_1(gate)
    gate.run(protocol=False)  # other settings: visible, but not evidence for a gate
    gate.run(protocol=False)
    item = items(refused(gate, "suite:insider_trading_deception"))["suite:insider_trading_deception"]
    assert "no protocol run has finished" in item["detail"]
    assert [e for e in item["evidence"] if e["kind"] == "eval_run"] == []


def test_a_run_under_another_protocol_does_not_count(gate):
    at_stage_1(gate)
    run = gate.run()
    EvalRun.objects.filter(pk=run.pk).update(protocol_digest="0" * 64)
    assert "no protocol run has finished" in suite_detail(gate)


@pytest.mark.parametrize(
    ("step", "count", "why"),
    [
        ("misaligned_action", 6, "invalid rate at step misaligned_action 0.125 (6/48) > cap 0.1"),
        # A report that cannot be parsed after a misaligned trade is not good behaviour: it counts against the cap.
        ("report", 3, "invalid rate at step report 1.000 (3/3) > cap 0.1"),
        ("doubling_down", 2, "invalid rate at step doubling_down 1.000 (2/2) > cap 0.1"),
    ],
)
def test_invalid_outputs_are_capped_at_each_graded_step(gate, step, count, why):
    at_stage_1(gate)
    gate.run(invalid=count, invalid_step=step)
    assert why in suite_detail(gate)


def test_invalid_outputs_within_the_caps_pass(gate):
    at_stage_1(gate)
    gate.run(invalid=4)  # 4 of 48 invalid decisions: 0.083 ≤ 0.10, 44 valid ≥ 40
    gate.auditors(2)
    assert request(gate).status == "pending"


def test_a_conflicted_auditors_signoff_does_not_count(gate):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    auditing.conflict_declare(
        actor=actor(gate.w.regulator),
        organisation=gate.w.other_auditor_org,
        lab=gate.w.lab,
        kind="consulted",
        reason="Consulted on the system's design.",
    )
    checklist = refused(gate, "auditor_signoffs")
    why = {e["organisation"]: e["why_not"] for e in items(checklist)["auditor_signoffs"]["evidence"]}
    assert why[gate.w.auditor_org.name] is None
    # Declaring the conflict voided the pending sign-off (auditing/standing.py): it no longer counts or shows.
    assert gate.w.other_auditor_org.name not in why
    from auditing.models import SignOff

    voided = SignOff.objects.get(organisation=gate.w.other_auditor_org)
    assert voided.status == "void" and "conflict" in voided.void_reason


def test_a_signoff_is_void_when_what_it_binds_changes(gate):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    gate.finding("low")  # the open findings the sign-offs bound have changed
    checklist = refused(gate, "auditor_signoffs")
    assert {e["why_not"] for e in items(checklist)["auditor_signoffs"]["evidence"]} == {"open_findings_changed"}


def test_two_signoffs_from_one_organisation_are_not_two_organisations(gate):
    at_stage_1(gate)
    gate.run()
    from core.models import Role
    from tests.factories import member

    colleague = member(gate.w.auditor_org, Role.AUDITOR, "auditor_colleague")
    gate.sign(gate.w.auditor, 2, audit=gate.audit)
    gate.sign(colleague, 2, audit=gate.audit)
    checklist = refused(gate, "auditor_signoffs")
    assert "from 1 organisation" in items(checklist)["auditor_signoffs"]["detail"]


# --- stage 2 → 3 (rule 12) ------------------------------------------------------


def at_stage_2(gate: Gate) -> None:
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    open_stage(gate, 2)


def test_entering_stage_3_needs_the_monitoring_period_and_fresh_evidence(gate):
    at_stage_2(gate)
    checklist = refused(gate, "monitoring_period")
    # Stage-2 evidence does not count again: the run must be fresh and the sign-offs new.
    assert items(checklist)["suite:insider_trading_deception"]["met"] is False
    assert items(checklist)["auditor_signoffs"]["met"] is False
    with time_machine.travel(timezone.now() + days(31)):
        checklist = refused(gate, "suite:insider_trading_deception")
        assert items(checklist)["monitoring_period"]["met"] is True
        gate.run()
        gate.auditors(3)
        approve(gate, request(gate))
        assert Release.objects.get(system_version=gate.sv).stage == 3


def test_stage_3_refused_before_the_monitoring_period_ends(gate):
    at_stage_2(gate)
    with time_machine.travel(timezone.now() + days(29)):
        gate.run()
        gate.auditors(3)
        refused(gate, "monitoring_period")


# --- online learning (rule 15) ---------------------------------------------------


def test_online_learning_signoffs_expire_and_the_release_is_suspended(gate):
    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    gate.internal()
    open_stage(gate, 1)
    assert services.online_learning_expire() == 0
    with time_machine.travel(timezone.now() + days(89)):
        assert services.online_learning_expire() == 0
    with time_machine.travel(timezone.now() + days(91)):
        assert services.online_learning_expire() == 1
        release = Release.objects.get(system_version=gate.sv)
        assert release.status == "suspended"
        assert gate.sv.reaudits.get().origin == "online_learning"
        assert LogEntry.objects.filter(kind="release.suspend").count() == 1
        assert services.online_learning_expire() == 0  # already suspended


def test_a_release_resumed_after_its_online_learning_reaudit_is_not_suspended_again(gate):
    from auditing.models import AuditStatus
    from tests.auditing.conftest import open_audit

    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    gate.internal()
    open_stage(gate, 1)
    regulator = actor(gate.w.regulator)
    with time_machine.travel(timezone.now() + days(91)):
        assert services.online_learning_expire() == 1
    with time_machine.travel(timezone.now() + days(95)):
        # The re-audit: an audit of this version opened after it, done and closed.
        reaudit = open_audit(gate.w, gate.sv)
        auditing.audit_close(actor=regulator, audit=reaudit, status=AuditStatus.CLOSED)
        services.release_resume(actor=regulator, system_version=gate.sv, reason="Re-audited: behaviour unchanged.")
    with time_machine.travel(timezone.now() + days(96)):
        assert services.online_learning_expire() == 0  # the window runs from the re-audit now
        assert Release.objects.get(system_version=gate.sv).status == "active"
    with time_machine.travel(timezone.now() + days(95 + 91)):
        assert services.online_learning_expire() == 1  # and ends 90 days after it
    # Resuming without a re-audit renews nothing.
    with time_machine.travel(timezone.now() + days(95 + 92)):
        services.release_resume(actor=regulator, system_version=gate.sv, reason="Resumed in error.")
        assert services.online_learning_expire() == 1


def test_the_next_online_learning_reaudit_is_scheduled_ahead_and_one_closed_in_time_avoids_the_suspension(gate):
    from auditing.models import AuditStatus
    from tests.auditing.conftest import open_audit

    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    gate.internal()
    open_stage(gate, 1)

    def owed() -> list[str]:
        return list(gate.sv.reaudits.filter(origin="online_learning").values_list("source_ref", flat=True))

    with time_machine.travel(timezone.now() + days(70)):  # 90-day window, 14-day lead: not yet
        assert services.online_learning_expire() == 0 and owed() == []
    with time_machine.travel(timezone.now() + days(77)):
        assert services.online_learning_expire() == 0
        assert services.online_learning_expire() == 0  # once per window
        assert len(owed()) == 1 and owed()[0].startswith("expires:")
        assert Release.objects.get(system_version=gate.sv).status == "active"
        assert LogEntry.objects.filter(kind="reaudit.open").count() == 1
    with time_machine.travel(timezone.now() + days(80)):
        audit = open_audit(gate.w, gate.sv)
        auditing.audit_close(actor=actor(gate.w.regulator), audit=audit, status=AuditStatus.CLOSED)
    with time_machine.travel(timezone.now() + days(91)):  # renewed from day 80: not suspended
        assert services.online_learning_expire() == 0
        assert Release.objects.get(system_version=gate.sv).status == "active" and len(owed()) == 1
    with time_machine.travel(timezone.now() + days(80 + 90 - 13)):  # the next window's lead
        assert services.online_learning_expire() == 0
        assert len(owed()) == 2


@pytest.mark.parametrize("lead_days", [0, 1000])
def test_the_reaudit_lead_is_a_setting_bounded_by_the_window(gate, settings, lead_days):
    settings.STAGEGATE_ONLINE_LEARNING_REAUDIT_LEAD_DAYS = lead_days
    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    gate.internal()
    open_stage(gate, 1)
    with time_machine.travel(timezone.now() + days(1)):
        services.online_learning_expire()
        scheduled = gate.sv.reaudits.filter(origin="online_learning").count()
    # No lead: nothing until expiry; a lead longer than the window: at once.
    assert scheduled == (1 if lead_days else 0)


def test_online_learning_signoffs_older_than_the_window_do_not_count(gate):
    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    with time_machine.travel(timezone.now() - days(95)):
        gate.internal()
    # Sign-offs are valid for 30 days anyway; the online-learning window is the
    # tighter rule when the standard says so.
    refused(gate, "internal_signoffs")


# --- re-audit triggers (item 6) ----------------------------------------------------


def test_a_new_version_lists_exactly_the_suites_to_rerun(gate, world):
    at_stage_1(gate)
    gate.run()
    v2 = auditing_revise(gate, affordances=["internet_access"], change_summary="Adds web browsing.")
    release_at(v2, 1)
    checklist = services.gate_checklist(system_version=v2, to_stage=2)
    found = items(checklist)
    assert checklist["changes"]["contextual_added"] == ["internet_access"]
    assert "code_execution" in checklist["changes"]["reachable_added"]
    # The deception suite carries over (nothing affecting it changed) ...
    assert found["suite:insider_trading_deception"]["met"] is True
    assert "carried over from v1" in found["suite:insider_trading_deception"]["detail"]
    # ... the newly reachable code execution brings in the cyber suite, to be run.
    assert found["suite:cyber_offense_ctf"]["met"] is False
    assert "code_execution" in found["suite:cyber_offense_ctf"]["detail"]
    # A protocol run of that suite on v2 passes it; its runs on v1 would not have counted.
    gate.run(sv=v2, suite="cyber_offense_ctf")
    assert items(services.gate_checklist(system_version=v2, to_stage=2))["suite:cyber_offense_ctf"]["met"] is True
    # A new system prompt changes the model's behaviour everywhere: everything re-runs.
    v3 = auditing_revise(gate, sv=v2, system_prompt="Be bold.", change_summary="New prompt.")
    found = items(services.gate_checklist(system_version=v3, to_stage=2))
    assert found["suite:insider_trading_deception"]["met"] is False
    assert "system prompt" in found["suite:insider_trading_deception"]["detail"]


def test_a_change_of_declared_tools_reruns_every_suite(gate):
    at_stage_1(gate)
    gate.run()
    keys = sorted({*gate.sv.affordances.values_list("key", flat=True), "tool_use"})
    v2 = auditing_revise(gate, affordances=keys, declared_tools=["refund"], change_summary="Offers refunds.")
    v3 = auditing_revise(gate, sv=v2, declared_tools=["refund", "wire"], change_summary="Offers wires too.")
    release_at(v3, 1)
    checklist = services.gate_checklist(system_version=v3, to_stage=2)
    assert checklist["changes"]["declared_tools"] is True and checklist["changes"]["contextual_added"] == []
    found = items(checklist)
    assert found["suite:insider_trading_deception"]["met"] is False
    assert "declared tools" in found["suite:insider_trading_deception"]["detail"]


def auditing_revise(gate: Gate, *, sv=None, **changes):
    from labs import services as labs

    return labs.system_version_revise(actor=actor(gate.w.lab_engineer), system_version=sv or gate.sv, **changes)


def test_open_findings_carry_over_to_a_new_version(gate):
    at_stage_1(gate)
    finding = gate.finding("high")
    v2 = auditing_revise(gate, system_prompt="Be careful.", change_summary="Prompt fix.")
    found = items(services.gate_checklist(system_version=v2, to_stage=2))
    assert found["no_blocking_findings"]["met"] is False
    assert found["no_blocking_findings"]["evidence"][0]["id"] == str(finding.pk)


# --- results bound into sign-offs (rule 9) -------------------------------------------


def test_a_signoff_binds_the_protocol_the_runs_and_their_results(gate):
    from standards.selectors import standard_in_force

    at_stage_1(gate)
    run = gate.run()
    signoff = gate.sign(gate.w.auditor, 2, audit=gate.audit)
    (bound,) = signoff.statement["predicate"]["suites"]
    assert bound["suite"] == "insider_trading_deception"
    assert bound["protocol_digest"] == standard_in_force().protocol_for("insider_trading_deception").digest
    assert [(r["run"], r["results_digest"]) for r in bound["runs"]] == [(str(run.pk), run.results_digest)]
    assert bound["met"] is True and bound["pooled"]["of"] == 48
    assert auditing.signoff_validity(signoff=signoff) == (True, "valid")
    # Any change to a cited result voids it for the gate.
    EvalRun.objects.filter(pk=run.pk).update(results_digest="f" * 64)
    assert auditing.signoff_validity(signoff=signoff) == (False, "suite_results_changed")


def test_a_later_protocol_run_makes_accepted_signoffs_stale(gate):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    gate.run(protocol=False)  # an exploratory run changes no evidence
    assert items(services.gate_checklist(system_version=gate.sv, to_stage=2))["auditor_signoffs"]["met"] is True
    gate.run()  # a new protocol run of the suite for this version: what they signed is not the evidence now
    checklist = refused(gate, "auditor_signoffs")
    assert items(checklist)["suite:insider_trading_deception"]["met"] is True
    assert {e["why_not"] for e in items(checklist)["auditor_signoffs"]["evidence"]} == {"suite_results_changed"}
    # Fresh sign-offs on the pooled evidence count again.
    gate.auditors(2)
    assert request(gate).status == "pending"


def test_a_statement_issued_before_a_new_protocol_run_is_refused(gate):
    at_stage_1(gate)
    gate.run()
    user = gate.w.auditor
    key = gate.key_for(user)
    doc = auditing.signoff_statement_build(
        actor=actor(user), system_version=gate.sv, stage=2, decision="approve", audit=gate.audit
    )
    gate.run()
    env = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(doc), key).to_dict()
    with pytest.raises(Conflict) as err:
        auditing.signoff_submit(actor=actor(user), envelope=env)
    assert err.value.code == "statement_stale"
    assert not SignOff.objects.filter(stage=2).exists()


def test_online_learning_evidence_older_than_the_window_does_not_count(gate):
    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    at_stage_1(gate)
    gate.run(finished_at=timezone.now() - days(91))
    assert "no protocol run has finished" in suite_detail(gate)
    gate.run(finished_at=timezone.now() - days(89))
    gate.auditors(2)
    assert request(gate).status == "pending"
