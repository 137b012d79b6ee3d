"""Regulator powers beyond approve/reject (rule 13): halts back to a lower
stage, required re-audits, and sanctions that escalate on repeat
non-compliance; and the HTTP surface of gates."""

from __future__ import annotations

import json

import pytest

from auditing import services as auditing
from core.errors import Conflict, Forbidden, InvalidInput
from deploy import services
from deploy.models import GateRequest, Reaudit, Release, Sanction
from tests.auditing.conftest import actor, assign, open_audit
from tests.deploy.test_gates import approve, items, refused, request
from tests.factories import release_at
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_person_decisions(settings):
    """These tests are of the ladder, halts and re-audits themselves, under a
    standard that lets one regulator user sanction and send a release back;
    two people: tests/deploy/test_two_person_services.py."""
    settings.STAGEGATE_TWO_PERSON_DECISIONS = []


def test_sanctions_escalate_warning_extra_audit_suspension(gate):
    reg = actor(gate.w.regulator)
    first = services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Late incident report.")
    assert first.level == "warning"
    # The second is an extra audit, which must name the version to re-audit; the refusal writes nothing.
    with pytest.raises(InvalidInput):
        services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Ignored a finding.")
    assert Sanction.objects.count() == 1
    second = services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Ignored a finding.", system_version=gate.sv)
    assert second.level == "extra_audit"
    reaudit = Reaudit.objects.get(source_ref=str(second.pk))
    assert reaudit.origin == "sanction"
    third = services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Again.")
    assert third.level == "suspension"
    assert services.sanction_issue(actor=reg, lab=gate.w.lab, reason="And again.").level == "suspension"
    # Another lab starts at a warning.
    assert services.sanction_issue(actor=reg, lab=gate.w.other_lab, reason="First time.").level == "warning"
    kinds = list(LogEntry.objects.filter(kind="sanction.issue").values_list("kind", flat=True))
    assert len(kinds) == 5


def test_a_suspension_sanction_blocks_advancement_until_lifted(gate):
    reg = actor(gate.w.regulator)
    services.sanction_issue(actor=reg, lab=gate.w.lab, reason="One.")
    services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Two.", system_version=gate.sv)
    suspension = services.sanction_issue(actor=reg, lab=gate.w.lab, reason="Three.")
    gate.internal()
    refused(gate, "no_advancement_suspension")
    services.sanction_lift(actor=reg, sanction=suspension, reason="Compliance restored.")
    # The extra audit's re-audit is still owed.
    refused(gate, "reaudit:" + str(Reaudit.objects.get().pk))
    with pytest.raises(Conflict):
        services.sanction_lift(actor=reg, sanction=suspension, reason="Twice.")


def test_only_the_regulator_sanctions_and_only_labs(gate):
    with pytest.raises(Forbidden):
        services.sanction_issue(actor=actor(gate.w.lab_admin), lab=gate.w.lab, reason="Self.")
    with pytest.raises(InvalidInput):
        services.sanction_issue(actor=actor(gate.w.regulator), lab=gate.w.auditor_org, reason="Not a lab.")
    with pytest.raises(InvalidInput):
        services.sanction_issue(
            actor=actor(gate.w.regulator), lab=gate.w.other_lab, reason="Wrong system.", system_version=gate.sv
        )
    assert not Sanction.objects.exists()


def test_a_required_reaudit_is_met_by_an_audit_opened_after_it_and_closed(gate):
    reg = actor(gate.w.regulator)
    gate.internal()
    reaudit = services.reaudit_open(actor=reg, system_version=gate.sv, source="regulator", reason="Check the fix.")
    refused(gate, f"reaudit:{reaudit.pk}")
    # The audit that was already open does not count: it predates the requirement.
    auditing.audit_close(actor=reg, audit=gate.audit, status="closed", reason="Done.")
    refused(gate, f"reaudit:{reaudit.pk}")
    second = open_audit(gate.w, gate.sv)
    assign(gate.w, second, gate.w.auditor_org)
    auditing.audit_close(actor=reg, audit=second, status="closed", reason="Re-audit done.")
    approved = approve(gate, request(gate))
    reaudit.refresh_from_db()
    assert reaudit.closed_at is not None and reaudit.closed_by_audit_id == second.pk
    assert Release.objects.get(system_version=gate.sv).stage == 1 and approved.status == "approved"
    with pytest.raises(Forbidden):
        services.reaudit_open(actor=actor(gate.w.lab_admin), system_version=gate.sv, source="regulator", reason="x")


def test_a_halt_can_send_the_release_back_to_a_lower_stage(gate):
    reg = actor(gate.w.regulator)
    release_at(gate.sv, 2)
    with pytest.raises(InvalidInput):
        services.release_halt(actor=reg, system_version=gate.sv, reason="Up?", to_stage=3)
    release = services.release_halt(actor=reg, system_version=gate.sv, reason="Serious incident.", to_stage=1)
    assert (release.stage, release.status) == (1, "halted")
    record = json.loads(bytes(LogEntry.objects.get(kind="release.halt").leaf))["record"]
    assert (record["from_stage"], record["stage"], record["status"]) == (2, 1, "halted")
    services.release_resume(actor=reg, system_version=gate.sv, reason="Cleared.")
    assert Release.objects.get(system_version=gate.sv).status == "active"


def test_suspension_is_for_the_service_or_the_regulator(gate):
    from core.actors import system_actor

    release_at(gate.sv, 2)
    with pytest.raises(Forbidden):
        services.release_suspend(actor=actor(gate.w.lab_admin), system_version=gate.sv, reason="x")
    release = services.release_suspend(actor=system_actor("incident"), system_version=gate.sv, reason="Incident.")
    assert release.status == "suspended"
    with pytest.raises(Conflict) as err:
        services.release_suspend(actor=system_actor("incident"), system_version=gate.sv, reason="Again.")
    assert err.value.code == "cannot_suspend"


# --- the HTTP surface ---------------------------------------------------------------


def test_the_checklist_is_shown_before_anyone_asks_and_a_refusal_carries_it(gate, client_for):
    lab = client_for(gate.w.lab_admin)
    r = lab.get(f"/api/releases/{gate.sv.pk}/checklist")
    assert r.status_code == 200
    body = r.json()
    assert (body["from_stage"], body["to_stage"], body["passed"]) == (0, 1, False)
    assert items(body)["internal_signoffs"]["met"] is False
    r = lab.post(f"/api/releases/{gate.sv.pk}/gate-requests", {"note": "Ready."}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "gate_requirements_unmet"
    assert items(r.json()["checklist"])["internal_signoffs"]["met"] is False
    assert not GateRequest.objects.exists()
    assert lab.get(f"/api/releases/{gate.sv.pk}/checklist?to_stage=x").status_code == 400
    # An auditor of another lab's system cannot see it at all.
    assert client_for(gate.w.other_lab_admin).get(f"/api/releases/{gate.sv.pk}/checklist").status_code == 404


def test_request_queue_and_decision_over_http(gate, client_for):
    gate.internal()
    lab = client_for(gate.w.lab_admin)
    r = lab.post(f"/api/releases/{gate.sv.pk}/gate-requests", {"note": "Ready."}, format="json")
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    assert r.json()["checklist"]["passed"] is True
    reg = client_for(gate.w.regulator)
    queue = reg.get("/api/gate-requests?status=pending").json()["results"]
    assert [g["id"] for g in queue] == [pk]
    assert reg.get("/api/gate-requests?status=nope").status_code == 400
    r = reg.post(f"/api/gate-requests/{pk}/decide", {"decision": "maybe", "reason": "x"}, format="json")
    assert r.status_code == 400
    r = reg.post(f"/api/gate-requests/{pk}/decide", {"decision": "approve", "reason": "Met."}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "approved" and len(r.json()["signoffs"]) == 2
    assert lab.get(f"/api/releases/{gate.sv.pk}").json()["stage"] == 1
    assert reg.get("/api/gate-requests?status=pending").json()["results"] == []


def test_the_log_holds_digests_of_reasons_and_roles_never_the_text_or_a_name(gate):
    """The transparency log is read by every signed-in user: a halt reason once
    repeated a confidential incident report there."""
    from transparency.records import text_digest

    gate.w.regulator.username = "dana.reyes"
    gate.w.regulator.save(update_fields=["username"])
    reg = actor(gate.w.regulator)
    release_at(gate.sv, 2)
    secret = "Confidential: the incident report from a customer says the model leaked patient records."
    services.release_halt(actor=reg, system_version=gate.sv, reason=secret, to_stage=1)
    services.release_resume(actor=reg, system_version=gate.sv, reason=secret + " Cleared.")
    services.reaudit_open(actor=reg, system_version=gate.sv, source="regulator", reason=secret)
    sanction = services.sanction_issue(actor=reg, lab=gate.w.lab, reason=secret)
    services.sanction_lift(actor=reg, sanction=sanction, reason=secret)
    leaves = [bytes(e.leaf) for e in LogEntry.objects.order_by("index")]
    kinds = set(LogEntry.objects.values_list("kind", flat=True))
    assert {"release.halt", "release.resume", "reaudit.open", "sanction.issue", "sanction.lift"} <= kinds
    for leaf in leaves:
        assert b"Confidential" not in leaf and b"patient" not in leaf
        assert b"dana.reyes" not in leaf
    halt = json.loads(bytes(LogEntry.objects.get(kind="release.halt").leaf))["record"]
    # What the log does hold: the reason's digest (the text stays in the service) and the role that acted.
    assert halt["reason_sha256"] == text_digest(secret) and halt["by"] == "regulator"
    issued = json.loads(bytes(LogEntry.objects.get(kind="sanction.issue").leaf))["record"]
    assert issued["reason_sha256"] == text_digest(secret) and "reason" not in issued
