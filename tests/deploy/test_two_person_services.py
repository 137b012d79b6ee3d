"""Two people at the regulator, held by the services that carry the decisions
out (issue 13, item 8), not by their entry points: ``finding_accept_risk``,
``sanction_issue``, ``release_halt`` sending a release back and
``_release_send_back`` refuse (409 ``second_regulator_required``) unless they
are handed an approved RegulatorDecision for exactly that act, approved by a
second regulator user and not carried out before. So a new entry point that
calls a service alone (a view, a command, a task) is refused too.

``approved`` below puts a proposal in the state ``regulator_decision_approve``
gives it just before it calls the service (approved, not yet carried out), so
each check can be seen on its own; the product writes that state only in
deploy.decisions (tests/test_rule_homes.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from auditing.models import Finding
from auditing.services import finding_accept_risk
from core.errors import Conflict
from core.models import Role
from deploy import decisions, services
from deploy.models import RegulatorDecision, Release, Sanction
from tests.auditing.conftest import actor
from tests.deploy.conftest import Gate
from tests.factories import member, release_at
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def regulator_2(world):
    return member(world.regulator_org, Role.REGULATOR_STAFF, "regulator_2")


def approved(decision: RegulatorDecision, by: Any) -> RegulatorDecision:
    """The proposal approved by ``by`` but not yet carried out (test setup)."""
    RegulatorDecision.objects.filter(pk=decision.pk).update(status="approved", decided_by=by, decided_at=timezone.now())
    decision.refresh_from_db()
    return decision


def refused(call: Any) -> str:
    """The act is refused as a two-person decision; the refusal's message."""
    before = LogEntry.objects.count()
    with pytest.raises(Conflict) as err:
        call()
    assert err.value.code == "second_regulator_required", err.value
    assert LogEntry.objects.count() == before
    return str(err.value)


def test_each_service_refuses_one_person_by_default(gate: Gate):
    reg = actor(gate.w.regulator)
    finding = gate.finding("critical")
    refused(lambda: finding_accept_risk(actor=reg, finding=finding, note="Acceptable."))
    assert Finding.objects.get(pk=finding.pk).status == "open"
    refused(lambda: services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Late report."))
    assert not Sanction.objects.exists()
    release_at(gate.sv, 2)
    refused(lambda: services.release_halt(actor=reg, system_version=gate.sv, reason="Incident.", to_stage=1))
    assert (Release.objects.get(system_version=gate.sv).stage, Release.objects.get(system_version=gate.sv).status) == (
        2,
        "active",
    )
    # A halt that only stops the release (or names its current stage) stays one person's.
    assert services.release_halt(actor=reg, system_version=gate.sv, reason="Incident.", to_stage=2).stage == 2
    refused(lambda: services._release_send_back(actor=reg, system_version=gate.sv, to_stage=1, reason="Back."))
    assert Release.objects.get(system_version=gate.sv).stage == 2


def test_an_approved_decision_for_exactly_this_act_lets_the_approver_carry_it_out(gate: Gate, regulator_2):
    reg, reg2 = actor(gate.w.regulator), actor(regulator_2)
    finding = gate.finding("critical")
    decision = decisions.regulator_decision_propose(
        actor=reg, kind="risk_acceptance", finding=finding, reason="Mitigated by the deployment."
    )
    approved(decision, regulator_2)
    # The proposer cannot carry out what the second regulator approved.
    assert "only the regulator user who approved" in refused(
        lambda: finding_accept_risk(actor=reg, finding=finding, note="x", decision=decision)
    )
    accepted = finding_accept_risk(actor=reg2, finding=finding, note="Accepted.", decision=decision)
    assert accepted.status == "risk_accepted"


def test_a_decision_for_another_subject_or_kind_is_refused(gate: Gate, regulator_2):
    reg, reg2 = actor(gate.w.regulator), actor(regulator_2)
    first, second = gate.finding("critical"), gate.finding("high")
    decision = approved(
        decisions.regulator_decision_propose(actor=reg, kind="risk_acceptance", finding=first, reason="Fine."),
        regulator_2,
    )
    assert "another finding" in refused(
        lambda: finding_accept_risk(actor=reg2, finding=second, note="x", decision=decision)
    )
    assert "not one of this kind" in refused(
        lambda: services.sanction_issue(actor=reg2, lab=gate.w.lab, reason="x", decision=decision)
    )
    sanction = approved(
        decisions.regulator_decision_propose(actor=reg, kind="sanction", lab=gate.w.lab, reason="Late."), regulator_2
    )
    assert "another lab" in refused(
        lambda: services.sanction_issue(actor=reg2, lab=gate.w.other_lab, reason="Late.", decision=sanction)
    )
    release_at(gate.sv, 2)
    halt = approved(
        decisions.regulator_decision_propose(
            actor=reg, kind="halt", system_version=gate.sv, to_stage=1, reason="Back to stage 1."
        ),
        regulator_2,
    )
    assert "another stage" in refused(
        lambda: services.release_halt(actor=reg2, system_version=gate.sv, reason="x", to_stage=0, decision=halt)
    )
    # Another model's row is no authority, even with the right fields.
    assert "only an approved regulator decision" in refused(
        lambda: finding_accept_risk(actor=reg2, finding=first, note="x", decision=first)
    )
    assert Finding.objects.get(pk=first.pk).status == "open" and not Sanction.objects.exists()
    assert Release.objects.get(system_version=gate.sv).stage == 2


def test_a_decision_approved_by_its_proposer_or_not_approved_is_refused(gate: Gate, regulator_2):
    reg = actor(gate.w.regulator)
    decision = decisions.regulator_decision_propose(actor=reg, kind="sanction", lab=gate.w.lab, reason="Late.")
    # Pending: no authority yet.
    assert "not approved" in refused(
        lambda: services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Late.", decision=decision)
    )
    # The database refuses a row approved by the proposer (test_regulator_decisions); an object that
    # only says so in memory is read back from the database and refused.
    decision.status, decision.decided_by, decision.decided_at = "approved", gate.w.regulator, timezone.now()
    assert "not approved" in refused(
        lambda: services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Late.", decision=decision)
    )
    unsaved = RegulatorDecision(
        kind="sanction", status="approved", lab=gate.w.lab, proposed_by=gate.w.regulator, decided_by=regulator_2
    )
    assert "no such decision" in refused(
        lambda: services.sanction_issue(actor=actor(regulator_2), lab=gate.w.lab, reason="Late.", decision=unsaved)
    )
    # Approved by someone who is not a regulator user: not two people at the regulator.
    approved(decision, gate.w.lab_admin)
    assert "not both regulator users" in refused(
        lambda: services.sanction_issue(actor=actor(regulator_2), lab=gate.w.lab, reason="Late.", decision=decision)
    )
    assert not Sanction.objects.exists()


def test_a_carried_out_decision_cannot_be_used_again(gate: Gate, regulator_2):
    reg, reg2 = actor(gate.w.regulator), actor(regulator_2)
    proposed = decisions.regulator_decision_propose(actor=reg, kind="sanction", lab=gate.w.lab, reason="Late.")
    done = decisions.regulator_decision_approve(actor=reg2, decision=proposed, reason="Agreed.")
    assert done.status == "approved" and Sanction.objects.count() == 1
    assert "already been carried out" in refused(
        lambda: services.sanction_issue(actor=reg2, lab=gate.w.lab, reason="Late.", decision=done)
    )
    assert Sanction.objects.count() == 1


def test_a_long_halt_through_both_paths_of_the_decision(gate: Gate, regulator_2):
    """Approval halts a running release and sends it back, or sends back one a
    short halt already stopped: both services take the decision."""
    reg, reg2 = actor(gate.w.regulator), actor(regulator_2)
    release_at(gate.sv, 2)
    running = decisions.regulator_decision_propose(
        actor=reg, kind="halt", system_version=gate.sv, to_stage=1, reason="Back."
    )
    decisions.regulator_decision_approve(actor=reg2, decision=running, reason="Agreed.")
    release = Release.objects.get(system_version=gate.sv)
    assert (release.stage, release.status) == (1, "halted")
    stopped = decisions.regulator_decision_propose(
        actor=reg, kind="halt", system_version=gate.sv, to_stage=0, reason="Further back."
    )
    decisions.regulator_decision_approve(actor=reg2, decision=stopped, reason="Agreed.")
    assert Release.objects.get(system_version=gate.sv).stage == 0
    assert "already been carried out" in refused(
        lambda: services._release_send_back(
            actor=reg2, system_version=gate.sv, to_stage=0, reason="Again.", decision=stopped
        )
    )


def test_with_the_kinds_switched_off_one_person_suffices(gate: Gate, settings):
    settings.STAGEGATE_TWO_PERSON_DECISIONS = []
    reg = actor(gate.w.regulator)
    finding = gate.finding("critical")
    assert finding_accept_risk(actor=reg, finding=finding, note="Accepted.").status == "risk_accepted"
    assert services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Late.").level == "warning"
    release_at(gate.sv, 2)
    assert services.release_halt(actor=reg, system_version=gate.sv, reason="Incident.", to_stage=1).stage == 1
    assert services._release_send_back(actor=reg, system_version=gate.sv, to_stage=0, reason="Back.").stage == 0
    # Switched off one kind at a time: the others still refuse.
    settings.STAGEGATE_TWO_PERSON_DECISIONS = ["sanction"]
    refused(lambda: services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Again."))
