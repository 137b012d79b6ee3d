"""The gate asks the one standing rule (auditing/standing.py) of every
auditor sign-off it counts, and needs the counted signers' certifications
together to cover every risk area the stage requires: each refusing, then
allowing once the certification is put right."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from auditing import services as auditing
from deploy.models import Release
from labs.models import Affordance
from tests.auditing.conftest import actor
from tests.deploy.conftest import Gate
from tests.deploy.test_gates import approve, at_stage_1, items, refused, request

pytestmark = pytest.mark.django_db


def recertify(gate: Gate, org: Any, risk_areas: list[str], level: str = "SL3") -> Any:
    """A renewal that supersedes the organisation's current certification."""
    return auditing.certification_issue(
        actor=actor(gate.w.regulator),
        organisation=org,
        expires_at=timezone.now() + datetime.timedelta(days=200),
        risk_areas=risk_areas,
        infosec_level=level,
    )


def why_not(checklist: dict[str, Any]) -> dict[str, Any]:
    return {e["organisation"]: e["why_not"] for e in items(checklist)["auditor_signoffs"]["evidence"]}


def with_code_execution(gate: Gate) -> None:
    """Declaring code execution makes stage 2 require the cyber risk area too."""
    aff = Affordance.objects.filter(key="code_execution").first() or Affordance.objects.create(
        key="code_execution", name="Code execution"
    )
    gate.sv.affordances.add(aff)


def test_the_gate_needs_the_counted_signers_to_cover_every_required_risk_area(gate):
    with_code_execution(gate)
    at_stage_1(gate)
    gate.run()
    recertify(gate, gate.w.auditor_org, ["deception"])
    recertify(gate, gate.w.other_auditor_org, ["deception"])
    gate.auditors(2)
    checklist = refused(gate, "auditor_scope")
    scope = items(checklist)["auditor_scope"]
    assert "do not cover cyber" in scope["detail"] and "deception" in scope["detail"], scope
    # Each signer still counts (each vouches for its own scope); together they fall short.
    assert items(checklist)["auditor_signoffs"]["met"] is True
    assert set(why_not(checklist).values()) == {None}
    recertify(gate, gate.w.other_auditor_org, ["cyber", "deception"])
    gate_request = request(gate)
    assert gate_request.checklist["passed"] is True
    assert items(gate_request.checklist)["auditor_scope"]["detail"] == "covered: cyber, deception"
    approve(gate, gate_request)
    assert Release.objects.get(system_version=gate.sv).stage == 2


def test_a_signer_certified_below_the_stages_infosec_level_does_not_count(gate):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    recertify(gate, gate.w.other_auditor_org, ["deception", "cyber"], level="SL2")
    checklist = refused(gate, "auditor_signoffs")
    why = why_not(checklist)
    assert why[gate.w.auditor_org.name] is None
    assert "requires infosec level SL3" in why[gate.w.other_auditor_org.name]
    assert "SL2" in why[gate.w.other_auditor_org.name]
    recertify(gate, gate.w.other_auditor_org, ["deception", "cyber"], level="SL4")
    assert set(why_not(request(gate).checklist).values()) == {None}


def test_a_signer_no_longer_in_scope_does_not_count(gate):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    # Stage 2 requires deception of this system; fairness covers none of it.
    recertify(gate, gate.w.other_auditor_org, ["fairness"])
    why = why_not(refused(gate, "auditor_signoffs"))
    assert "covers none of deception" in why[gate.w.other_auditor_org.name]
    recertify(gate, gate.w.other_auditor_org, ["deception"])
    assert request(gate).status == "pending"


def test_a_registered_relationship_stops_a_signoff_counting(gate):
    at_stage_1(gate)
    gate.run()
    gate.auditors(2)
    # Recorded with a start in the future: it does not void anything now, and
    # the gate, evaluated on the day it starts, must still see it.
    starts = timezone.localdate() + datetime.timedelta(days=3)
    auditing.relationship_record(
        actor=actor(gate.w.regulator),
        organisation=gate.w.other_auditor_org,
        counterparty=gate.w.lab,
        kind="funding",
        description="The lab funds a fellowship at the auditor.",
        starts_on=starts,
    )
    from deploy import gates

    release = Release.objects.get(system_version=gate.sv)
    now = timezone.now()
    checklist, _ = gates.evaluate(system_version=gate.sv, release=release, to_stage=2, now=now)
    assert set(why_not(checklist).values()) == {None}
    later = now + datetime.timedelta(days=4)
    checklist, _ = gates.evaluate(system_version=gate.sv, release=release, to_stage=2, now=later)
    assert "funding relationship" in why_not(checklist)[gate.w.other_auditor_org.name]
    assert items(checklist)["auditor_signoffs"]["met"] is False
