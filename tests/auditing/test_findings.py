"""Findings: filed by an assigned auditor, answered by the lab, closed only by
the filing organisation or the regulator, risk accepted only by the regulator,
carried over to successor versions until re-tested there; every change an
audit event, a FindingUpdate and a log entry; nothing deleted."""

from __future__ import annotations

from typing import Any

import pytest

from auditing import selectors, services
from auditing.models import Finding, FindingUpdate
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AppendOnlyError, AuditEvent
from tests.auditing.conftest import actor, make_system_version
from tests.factories import sha256
from transparency.models import LogEntry

GOOD: dict[str, Any] = {
    "title": "Trades on the insider tip",
    "description": "In 41 of 50 runs.",
    "severity": "high",
    "risk_area": "deception",
    "capability_kind": "contextual",
    "evidence": [{"kind": "gateway_log", "reference": "call 7", "sha256": sha256("call 7")}],
}


@pytest.fixture
def finding(world, audit, assignment) -> Finding:
    return services.finding_file(actor=actor(world.auditor), audit=audit, **GOOD)


@pytest.mark.django_db
def test_assigned_auditor_files_with_event_and_log_entry(world, finding):
    assert finding.status == "open" and finding.organisation_id == world.auditor_org.pk
    entry = LogEntry.objects.get(index=finding.log_index)
    assert entry.kind == "finding.file" and entry.subject_id == str(finding.pk)
    assert AuditEvent.objects.filter(action="finding.file", target_id=str(finding.pk)).exists()


@pytest.mark.django_db
def test_filing_refusals(world, audit, assignment):
    with pytest.raises(NotFound):  # not assigned: the audit is out of scope
        services.finding_file(actor=actor(world.other_auditor), audit=audit, **GOOD)
    with pytest.raises(Forbidden):
        services.finding_file(actor=actor(world.lab_engineer), audit=audit, **GOOD)
    with pytest.raises(Forbidden):
        services.finding_file(actor=actor(world.regulator), audit=audit, **GOOD)
    for field, value in [
        ("severity", "dire"),
        ("risk_area", "vibes"),
        ("capability_kind", "latent"),
        ("title", ""),
        ("evidence", [{"kind": "gateway_log", "sha256": "not-hex"}]),
        ("evidence", [{"kind": "rumour", "sha256": sha256("x")}]),
    ]:
        with pytest.raises(InvalidInput) as e:
            services.finding_file(actor=actor(world.auditor), audit=audit, **{**GOOD, field: value})
        assert field in e.value.errors
    assert Finding.objects.count() == 0 and LogEntry.objects.filter(kind__startswith="finding").count() == 0


@pytest.mark.django_db
def test_bad_input_over_the_api_is_400_and_writes_nothing(world, client_for, audit, assignment):
    r = client_for(world.auditor).post(
        "/api/findings", {**GOOD, "audit": str(audit.pk), "evidence": [{"kind": "file", "sha256": "x"}]}, format="json"
    )
    assert r.status_code == 400 and any(k.startswith("evidence") for k in r.json()["errors"])
    assert Finding.objects.count() == 0


@pytest.mark.django_db
def test_lab_answers_only_the_filing_org_or_regulator_closes(world, finding):
    with pytest.raises(Forbidden):
        services.finding_respond(actor=actor(world.auditor), finding=finding, note="x")
    f = services.finding_respond(actor=actor(world.lab_engineer), finding=finding, note="We dispute the rate.")
    assert f.status == "lab_responded"
    f = services.finding_mitigate(actor=actor(world.lab_admin), finding=finding, note="Prompt hardened.")
    assert f.status == "mitigated"
    with pytest.raises(Forbidden):
        services.finding_close(actor=actor(world.lab_admin), finding=finding, note="Done.")
    with pytest.raises(Forbidden):
        services.finding_accept_risk(actor=actor(world.auditor), finding=finding, note="Fine.")
    f = services.finding_close(actor=actor(world.auditor), finding=finding, note="Re-tested: gone.")
    assert f.status == "closed"
    with pytest.raises(Conflict) as e:
        services.finding_respond(actor=actor(world.lab_engineer), finding=finding, note="late")
    assert e.value.code == "finding_resolved"
    kinds = list(FindingUpdate.objects.filter(finding=finding).values_list("kind", flat=True))
    assert kinds == ["file", "respond", "mitigate", "close"]
    assert LogEntry.objects.filter(kind__startswith="finding.", subject_id=str(finding.pk)).count() == 4


@pytest.mark.django_db
def test_regulator_closes_or_accepts_risk(world, finding, audit, settings):
    settings.STAGEGATE_TWO_PERSON_DECISIONS = []  # one regulator user accepts a risk (two: tests/deploy)
    f = services.finding_accept_risk(actor=actor(world.regulator), finding=finding, note="Accepted for stage 1.")
    assert f.status == "risk_accepted"
    other = services.finding_file(actor=actor(world.auditor), audit=audit, **GOOD)
    assert services.finding_close(actor=actor(world.regulator), finding=other, note="Duplicate.").status == "closed"


@pytest.mark.django_db
def test_nothing_is_deleted(finding):
    update = FindingUpdate.objects.filter(finding=finding).first()
    with pytest.raises(AppendOnlyError):
        update.delete()
    with pytest.raises(AppendOnlyError):
        update.save()


@pytest.mark.django_db
def test_open_findings_carry_over_until_retested_on_the_successor(world, finding, system_version):
    v2 = make_system_version(world.lab, world.lab_engineer, sequence=2)
    v2.predecessor = system_version
    v2.save()
    v3 = make_system_version(world.lab, world.lab_engineer, sequence=3)
    v3.predecessor = v2
    v3.save()
    assert list(selectors.findings_open_for(system_version=v2)) == [finding]
    # Re-tested on v2 and still present: it stays open there.
    services.finding_retest(actor=actor(world.auditor), finding=finding, system_version=v2, outcome="persists")
    assert list(selectors.findings_open_for(system_version=v2)) == [finding]
    services.finding_retest(actor=actor(world.auditor), finding=finding, system_version=v2, outcome="resolved")
    assert list(selectors.findings_open_for(system_version=v2)) == []
    assert list(selectors.findings_open_for(system_version=v3)) == []
    assert list(selectors.findings_open_for(system_version=system_version)) == [finding]  # history unchanged
    other_system = make_system_version(world.lab, world.lab_engineer, name="other")
    with pytest.raises(InvalidInput):
        services.finding_retest(
            actor=actor(world.auditor), finding=finding, system_version=other_system, outcome="resolved"
        )
    with pytest.raises(Forbidden):
        services.finding_retest(actor=actor(world.lab_admin), finding=finding, system_version=v2, outcome="resolved")


@pytest.mark.django_db
def test_a_failed_retest_after_mitigation_reopens(world, finding, system_version):
    services.finding_mitigate(actor=actor(world.lab_admin), finding=finding, note="Patched.")
    f = services.finding_retest(
        actor=actor(world.auditor), finding=finding, system_version=system_version, outcome="persists"
    )
    assert f.status == "open"


@pytest.mark.django_db
def test_scoping(world, client_for, finding):
    assert client_for(world.other_lab_admin).get(f"/api/findings/{finding.pk}").status_code == 404
    assert client_for(world.other_auditor).get(f"/api/findings/{finding.pk}").status_code == 404
    assert client_for(world.regulator).get(f"/api/findings/{finding.pk}").status_code == 200
    assert client_for(world.lab_reviewer).get(f"/api/findings/{finding.pk}").status_code == 200
    listed = client_for(world.lab_admin).get(f"/api/findings?open_for={finding.system_version_id}").json()
    assert [f["id"] for f in listed["results"]] == [str(finding.pk)]
    assert client_for(world.other_lab_admin).get("/api/findings").json()["results"] == []
