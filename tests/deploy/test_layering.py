"""The answers an upper app gives a lower one (issue 13, item 9): monitoring
decides the stage-3 gate's incident item and deploy gives the suite evidence
a sign-off binds, each through a function it registers at ready(), not a
relation name or a setting. A lower app without the registration fails
closed. The release state itself is the low app ``releases``."""

from __future__ import annotations

import pytest

from auditing import selectors as auditing_selectors
from deploy import gates
from monitoring import gates as monitoring_gates
from releases.models import Release
from releases.selectors import release_state
from tests.factories import release_at
from tests.monitoring.conftest import report

pytestmark = pytest.mark.django_db

CODE = "no_unresolved_serious_incident"


def stage_3_item(gate) -> dict:
    release = Release.objects.get(system_version=gate.sv)
    checklist, _ = gates.evaluate(system_version=gate.sv, release=release, to_stage=3)
    return {i["code"]: i for i in checklist["items"]}[CODE]


def test_the_upper_apps_register_their_answers_at_startup():
    assert gates._upper_checks[CODE] is monitoring_gates.unresolved_serious_incident_item
    assert auditing_selectors._suite_results == [gates.suite_evidence_bound]


def test_a_serious_incident_holds_stage_3_through_monitorings_item(gate):
    release_at(gate.sv, 2)
    assert stage_3_item(gate)["met"] is True
    incident = report(gate.w.lab_admin, gate.sv, kind="critical_infrastructure")
    item = stage_3_item(gate)
    assert item["met"] is False
    assert [e["id"] for e in item["evidence"]] == [str(incident.pk)]


def test_a_non_serious_incident_does_not_hold_stage_3(gate):
    release_at(gate.sv, 2)
    report(gate.w.lab_admin, gate.sv, kind="other")
    assert stage_3_item(gate)["met"] is True


def test_without_monitorings_check_the_item_is_unmet(gate, monkeypatch):
    release_at(gate.sv, 2)
    monkeypatch.setattr(gates, "_upper_checks", {})
    item = stage_3_item(gate)
    assert item["met"] is False
    assert "not checked" in item["detail"]


def test_only_an_item_a_stage_requires_can_be_registered():
    with pytest.raises(ValueError, match="no stage requires"):
        gates.gate_item_register(code="no_bad_weather", check=monitoring_gates.unresolved_serious_incident_item)


def test_without_deploys_function_a_signoff_binds_nothing_and_is_refused(gate, monkeypatch):
    monkeypatch.setattr(auditing_selectors, "_suite_results", [])
    with pytest.raises(RuntimeError, match="no suite results registered"):
        auditing_selectors.suite_results_for(system_version=gate.sv, stage=2)


def test_the_release_state_reads_stage_0_without_a_row_and_the_row_when_there_is_one(gate):
    assert release_state(system_version_id=gate.sv.pk) == (0, "active")
    release_at(gate.sv, 2, status="halted")
    assert release_state(system_version_id=gate.sv.pk) == (2, "halted")
