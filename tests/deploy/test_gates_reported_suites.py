"""A suite the standard requires as reported only (a smoke test: the default
standard 2026.3 publishes cyber offence, autonomous replication and human
manipulation so) is shown at the gate with its evidence and maturity, never
blocks, and never counts as passed. The same requirement with ``gates`` on
blocks as any other."""

from __future__ import annotations

import pytest

from core.errors import Conflict
from core.models import Role
from deploy import services
from standards.models import SuiteRequirement
from standards.selectors import standard_in_force
from tests.auditing.conftest import actor, assign, certify, open_audit
from tests.deploy.conftest import Gate, make_sv
from tests.factories import World, member

pytestmark = pytest.mark.django_db

CYBER = "suite:cyber_offense_ctf"
INSIDER = "suite:insider_trading_deception"


@pytest.fixture
def gate(world: World) -> Gate:
    """A system that can execute code, so the cyber suite is required before stage 2."""
    sv = make_sv(world, affordances=["code_execution"])
    certify(world, world.auditor_org)
    certify(world, world.other_auditor_org)
    audit = open_audit(world, sv)
    assign(world, audit, world.auditor_org)
    assign(world, audit, world.other_auditor_org)
    return Gate(w=world, sv=sv, audit=audit, reviewer_2=member(world.lab, Role.LAB_REVIEWER, "lab_reviewer_2"))


def items(checklist):
    return {item["code"]: item for item in checklist["items"]}


def at_stage_1(gate: Gate) -> None:
    gate.internal()
    gate_request = services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv, to_stage=1)
    services.gate_request_decide(
        actor=actor(gate.w.regulator), gate_request=gate_request, decision="approve", reason="ok"
    )


def checklist(gate: Gate):
    return services.gate_checklist(system_version=gate.sv, to_stage=2)


def test_the_default_standard_reports_the_smoke_test_without_gating_on_it(gate):
    at_stage_1(gate)
    found = items(checklist(gate))
    cyber, insider = found[CYBER], found[INSIDER]
    assert (cyber["gates"], cyber["maturity"], cyber["outcome"]) == (False, "smoke_test", "reported")
    assert "reported, smoke test — does not gate" in cyber["title"]
    assert cyber["detail"].startswith("reported, smoke test — does not gate; its evidence would not pass")
    assert "code_execution" in cyber["detail"]
    assert (insider["gates"], insider["maturity"], insider["outcome"]) == (True, "gating", "unmet")
    # With the gating suite's evidence and the sign-offs, the gate passes without any cyber run.
    gate.run()
    gate.auditors(2)
    now = checklist(gate)
    assert now["passed"] is True
    assert items(now)[CYBER]["met"] is False and items(now)[CYBER]["outcome"] == "reported"
    assert items(now)[INSIDER]["outcome"] == "met"
    gate_request = services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv, to_stage=2)
    assert gate_request.status == "pending"


def test_a_passing_smoke_test_is_still_only_reported(gate):
    at_stage_1(gate)
    gate.run(suite="cyber_offense_ctf")  # no flag captured: its own evidence would pass
    cyber = items(checklist(gate))[CYBER]
    assert cyber["outcome"] == "reported" and cyber["gates"] is False
    assert "its evidence would pass" in cyber["detail"]
    assert [e["kind"] for e in cyber["evidence"]] == ["protocol", "eval_run"]
    # It does not stand in for the gating suite's evidence.
    assert checklist(gate)["passed"] is False


def test_the_same_requirement_with_gates_on_blocks(gate):
    at_stage_1(gate)
    SuiteRequirement.objects.filter(standard=standard_in_force(), suite="cyber_offense_ctf").update(gates=True)
    gate.run()
    gate.auditors(2)
    with pytest.raises(Conflict) as err:
        services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv, to_stage=2)
    cyber = items(err.value.extra["checklist"])[CYBER]
    assert (cyber["gates"], cyber["outcome"], cyber["met"]) == (True, "unmet", False)
    assert "does not gate" not in cyber["title"]
    # Maturity is the suite's own, whatever the standard says.
    assert cyber["maturity"] == "smoke_test"


def test_a_new_run_of_a_reported_suite_does_not_make_signoffs_stale(gate):
    at_stage_1(gate)
    gate.run()
    signoffs = gate.auditors(2)
    # What the auditors signed binds the gating suite's evidence only.
    assert [s["suite"] for s in signoffs[0].statement["predicate"]["suites"]] == ["insider_trading_deception"]
    gate.run(suite="cyber_offense_ctf", events=20)  # a smoke test, run again, badly
    now = checklist(gate)
    assert items(now)["auditor_signoffs"]["met"] is True
    assert items(now)[CYBER]["outcome"] == "reported" and items(now)[CYBER]["met"] is False
    assert now["passed"] is True
