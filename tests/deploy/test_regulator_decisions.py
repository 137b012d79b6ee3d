"""Two people at the regulator (issue 13, item 8): a sanction, a risk
acceptance and a long halt (sending a release back a stage) take effect only
when a second, different regulator user approves the proposal; a halt that
only stops the release stays immediate. Audit events and transparency-log
entries of the decision appear only when it takes effect."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from auditing.models import Finding
from core.audit import AuditEvent
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Role
from deploy import decisions
from deploy.models import RegulatorDecision, Release, Sanction
from tests.auditing.conftest import actor
from tests.deploy.conftest import Gate
from tests.deploy.test_gates import at_stage_1, open_stage
from tests.factories import member
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def regulator_2(world):
    return member(world.regulator_org, Role.REGULATOR_STAFF, "regulator_2")


def log_kinds() -> list[str]:
    return list(LogEntry.objects.order_by("index").values_list("kind", flat=True))


def test_a_sanction_takes_effect_only_when_a_second_regulator_approves(world, regulator_2):
    proposed = decisions.regulator_decision_propose(
        actor=actor(world.regulator), kind="sanction", lab=world.lab, reason="Ignored two findings."
    )
    before_log = log_kinds()
    assert proposed.status == "pending" and not Sanction.objects.exists()
    assert AuditEvent.objects.filter(action="regulator_decision.propose").count() == 1
    assert AuditEvent.objects.filter(action="sanction.issue").count() == 0
    # The proposer cannot approve their own: nothing happens.
    with pytest.raises(Forbidden) as err:
        decisions.regulator_decision_approve(actor=actor(world.regulator), decision=proposed, reason="Agreed.")
    assert err.value.code == "proposer_cannot_approve"
    assert not Sanction.objects.exists() and log_kinds() == before_log
    approved = decisions.regulator_decision_approve(actor=actor(regulator_2), decision=proposed, reason="Agreed.")
    sanction = Sanction.objects.get()
    assert (approved.status, approved.result_id, approved.decided_by) == ("approved", str(sanction.pk), regulator_2)
    assert sanction.issued_by == regulator_2 and sanction.reason == "Ignored two findings."
    assert log_kinds()[len(before_log) :] == ["sanction.issue", "regulator_decision.approve"]
    entry = LogEntry.objects.get(kind="regulator_decision.approve")
    assert entry.index == approved.log_index
    assert AuditEvent.objects.filter(action__in=["sanction.issue", "regulator_decision.approve"]).count() == 2
    # Once decided, it is decided.
    with pytest.raises(Conflict) as err:
        decisions.regulator_decision_approve(actor=actor(regulator_2), decision=proposed, reason="Again.")
    assert err.value.code == "decision_not_pending"


def test_the_database_refuses_an_approval_by_the_proposer(world):
    proposed = decisions.regulator_decision_propose(
        actor=actor(world.regulator), kind="sanction", lab=world.lab, reason="Late reports."
    )
    proposed.status, proposed.decided_by, proposed.decided_at = "approved", world.regulator, timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        proposed.save()


def test_a_rejected_or_withdrawn_proposal_never_takes_effect(world, regulator_2):
    proposed = decisions.regulator_decision_propose(
        actor=actor(world.regulator), kind="sanction", lab=world.lab, reason="Late reports."
    )
    before_log = log_kinds()
    withdrawn = decisions.regulator_decision_reject(actor=actor(world.regulator), decision=proposed, reason="Mine.")
    assert withdrawn.status == "rejected" and not Sanction.objects.exists() and log_kinds() == before_log
    with pytest.raises(Conflict):
        decisions.regulator_decision_approve(actor=actor(regulator_2), decision=proposed, reason="Too late.")
    assert not Sanction.objects.exists()


def test_risk_acceptance_needs_two_regulators_through_the_api(gate: Gate, client_for, regulator_2):
    finding = gate.finding("critical")
    one = client_for(gate.w.regulator)
    r = one.post(f"/api/findings/{finding.pk}/accept-risk", {"note": "Acceptable."}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "second_regulator_required", r.content
    assert Finding.objects.get(pk=finding.pk).status == "open"
    r = one.post(
        "/api/regulator-decisions",
        {"kind": "risk_acceptance", "finding": str(finding.pk), "reason": "Mitigated by the deployment."},
        format="json",
    )
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    assert Finding.objects.get(pk=finding.pk).status == "open"
    assert one.post(f"/api/regulator-decisions/{pk}/approve", {"reason": "Mine."}, format="json").status_code == 403
    r = client_for(regulator_2).post(f"/api/regulator-decisions/{pk}/approve", {"reason": "Agreed."}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "approved" and r.json()["decided_by"] == "regulator_2"
    assert Finding.objects.get(pk=finding.pk).status == "risk_accepted"


def test_a_short_halt_is_immediate_and_sending_back_needs_a_second_regulator(gate: Gate, client_for, regulator_2):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    open_stage(gate, 2)
    one = client_for(gate.w.regulator)
    url = f"/api/releases/{gate.sv.pk}/halt"
    r = one.post(url, {"reason": "Serious incident.", "to_stage": 1}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "second_regulator_required", r.content
    assert Release.objects.get(system_version=gate.sv).status == "active"
    # Stopping harm does not wait: a halt alone takes effect at once.
    r = one.post(url, {"reason": "Serious incident."}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "halted"
    r = one.post(
        "/api/regulator-decisions",
        {"kind": "halt", "system_version": str(gate.sv.pk), "to_stage": 1, "reason": "Back to auditors."},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert Release.objects.get(system_version=gate.sv).stage == 2
    r = client_for(regulator_2).post(
        f"/api/regulator-decisions/{r.json()['id']}/approve", {"reason": "Agreed."}, format="json"
    )
    assert r.status_code == 200, r.content
    release = Release.objects.get(system_version=gate.sv)
    assert (release.stage, release.status) == (1, "halted")
    assert log_kinds()[-2:] == ["release.send_back", "regulator_decision.approve"]


def test_a_long_halt_of_a_running_release_halts_and_sends_it_back_on_approval(gate: Gate, regulator_2):
    at_stage_1(gate)
    proposed = decisions.regulator_decision_propose(
        actor=actor(gate.w.regulator), kind="halt", system_version=gate.sv, to_stage=0, reason="Back to the lab."
    )
    assert Release.objects.get(system_version=gate.sv).status == "active"
    decisions.regulator_decision_approve(actor=actor(regulator_2), decision=proposed, reason="Agreed.")
    release = Release.objects.get(system_version=gate.sv)
    assert (release.stage, release.status) == (0, "halted")


def test_bad_proposals_are_refused_and_write_nothing(world, gate: Gate, client_for):
    reg = actor(world.regulator)
    cases = [
        {"kind": "pardon", "reason": "x"},
        {"kind": "sanction", "reason": "x", "lab": world.auditor_org},
        {"kind": "sanction", "reason": "", "lab": world.lab},
        {"kind": "risk_acceptance", "reason": "x"},
        {"kind": "halt", "reason": "x", "system_version": gate.sv},  # a halt alone is immediate, not proposed
        {"kind": "halt", "reason": "x", "system_version": gate.sv, "to_stage": 2},  # not below stage 0
    ]
    for case in cases:
        with pytest.raises(InvalidInput):
            decisions.regulator_decision_propose(actor=reg, **case)
    assert not RegulatorDecision.objects.exists()
    r = client_for(world.regulator).post("/api/regulator-decisions", {"kind": "sanction"}, format="json")
    assert r.status_code == 400
    assert not RegulatorDecision.objects.exists()


def test_only_the_regulator_proposes_sees_and_decides(world, client_for, regulator_2):
    with pytest.raises(Forbidden):
        decisions.regulator_decision_propose(actor=actor(world.lab_admin), kind="sanction", lab=world.lab, reason="x")
    proposed = decisions.regulator_decision_propose(
        actor=actor(world.regulator), kind="sanction", lab=world.lab, reason="Late reports."
    )
    lab = client_for(world.lab_admin)
    assert lab.get("/api/regulator-decisions").json()["results"] == []
    assert lab.get(f"/api/regulator-decisions/{proposed.pk}").status_code == 404
    assert (
        lab.post(f"/api/regulator-decisions/{proposed.pk}/approve", {"reason": "x"}, format="json").status_code == 404
    )
    r = client_for(regulator_2).get("/api/regulator-decisions?status=pending")
    assert [d["id"] for d in r.json()["results"]] == [str(proposed.pk)]
    assert client_for(regulator_2).get("/api/regulator-decisions?status=bogus").status_code == 400


def test_with_two_person_sanctions_switched_off_one_regulator_sanctions(world, client_for, settings):
    settings.STAGEGATE_TWO_PERSON_DECISIONS = ["risk_acceptance", "halt"]
    r = client_for(world.regulator).post("/api/sanctions", {"lab": str(world.lab.pk), "reason": "Late."}, format="json")
    assert r.status_code == 201, r.content
    settings.STAGEGATE_TWO_PERSON_DECISIONS = ["sanction"]
    r = client_for(world.regulator).post("/api/sanctions", {"lab": str(world.lab.pk), "reason": "Late."}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "second_regulator_required"
