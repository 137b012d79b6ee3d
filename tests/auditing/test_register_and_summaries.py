"""The regulator's register of relationships between organisations (who
writes, who reads, the cooling-off period at assignment) and academic
summaries (filed by assigned academics, published after the embargo, never
vetoed by the lab)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from auditing import services
from auditing.models import AcademicSummary, AuditAssignment, Finding, OrganisationRelationship
from auditing.standing import DEFAULT_ACADEMIC_EMBARGO_DAYS, DEFAULT_COOLING_OFF_DAYS
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEvent
from tests.auditing.conftest import actor, open_audit
from transparency.models import LogEntry

DAY = datetime.timedelta(days=1)


def record(client: Any, world: Any, **overrides: Any) -> Any:
    data = {
        "organisation": str(world.auditor_org.pk),
        "counterparty": str(world.lab.pk),
        "kind": "consulting",
        "description": "Advised the lab on its evaluation pipeline.",
        "starts_on": str(timezone.localdate() - 400 * DAY),
        **overrides,
    }
    return client.post("/api/relationships", data, format="json")


# The register


@pytest.mark.django_db
def test_the_regulator_records_and_the_organisations_involved_read_theirs(world, client_for):
    r = record(client_for(world.regulator), world)
    assert r.status_code == 201, r.content
    rid = r.json()["id"]
    assert AuditEvent.objects.filter(action="relationship.record", target_id=rid).exists()
    for user in (world.auditor, world.lab_admin):
        listed = client_for(user).get("/api/relationships").json()["results"]
        assert [x["id"] for x in listed] == [rid]
        assert client_for(user).get(f"/api/relationships/{rid}").status_code == 200
    for user in (world.other_auditor, world.other_lab_admin, world.customer):
        assert client_for(user).get("/api/relationships").json()["results"] == []
        assert client_for(user).get(f"/api/relationships/{rid}").status_code == 404


@pytest.mark.django_db
def test_only_the_regulator_writes_the_register(world, client_for):
    for user in (world.auditor, world.lab_admin):
        r = record(client_for(user), world)
        assert r.status_code == 403, r.content
    assert not OrganisationRelationship.objects.exists()
    with pytest.raises(Forbidden):
        services.relationship_record(
            actor=actor(world.auditor),
            organisation=world.auditor_org,
            counterparty=world.lab,
            kind="funding",
            description="x",
            starts_on=timezone.localdate(),
        )


@pytest.mark.django_db
def test_bad_register_entries_are_refused_and_write_nothing(world, client_for):
    client = client_for(world.regulator)
    for overrides, field in [
        ({"kind": "friendship"}, "kind"),
        ({"counterparty": str(world.auditor_org.pk)}, "counterparty"),
        ({"starts_on": "yesterday"}, "starts_on"),
        ({"ends_on": str(timezone.localdate() - 500 * DAY)}, "ends_on"),
        ({"description": ""}, "description"),
    ]:
        r = record(client, world, **overrides)
        assert r.status_code == 400, (overrides, r.content)
        assert field in str(r.json()), r.json()
    assert not OrganisationRelationship.objects.exists()
    assert record(client, world).status_code == 201
    assert record(client, world).json()["code"] == "relationship_already_recorded"


@pytest.mark.django_db
def test_assignment_is_refused_while_in_force_and_during_the_cooling_off_period(world, audit, certified, client_for):
    reg = actor(world.regulator)
    rel = services.relationship_record(
        actor=reg,
        organisation=world.lab,  # either side: the register is about the pair
        counterparty=world.auditor_org,
        kind="ownership",
        description="The lab's parent holds a stake in the auditor.",
        starts_on=timezone.localdate() - 400 * DAY,
    )
    with pytest.raises(Conflict) as e:
        services.audit_assign(actor=reg, audit=audit, organisation=world.auditor_org, payout_amount=Decimal("100"))
    assert e.value.code == "relationship_in_force"
    ended = timezone.localdate() - 10 * DAY
    r = client_for(world.regulator).post(
        f"/api/relationships/{rel.pk}/end", {"ends_on": str(ended), "reason": "Stake sold."}, format="json"
    )
    assert r.status_code == 200, r.content
    with pytest.raises(Conflict) as e:
        services.audit_assign(actor=reg, audit=audit, organisation=world.auditor_org, payout_amount=Decimal("100"))
    lifts = ended + (DEFAULT_COOLING_OFF_DAYS + 1) * DAY
    assert e.value.code == "relationship_cooling_off"
    assert e.value.extra["barred_until"] == lifts.isoformat() and f"{lifts:%Y-%m-%d}" in e.value.detail
    assert not AuditAssignment.objects.filter(organisation=world.auditor_org).exists()
    # Another auditor with no relationship is assigned as before.
    services.audit_assign(actor=reg, audit=audit, organisation=world.other_auditor_org, payout_amount=Decimal("100"))
    # Once the period has passed, the bar lifts (the certification is renewed to stay valid).
    with time_machine.travel(timezone.now() + (DEFAULT_COOLING_OFF_DAYS - 9) * DAY, tick=False):
        services.certification_issue(
            actor=actor(world.regulator),
            organisation=world.auditor_org,
            expires_at=timezone.now() + 30 * DAY,
            risk_areas=["deception"],
            infosec_level="SL3",
        )
        assignment = services.audit_assign(
            actor=reg, audit=audit, organisation=world.auditor_org, payout_amount=Decimal("100")
        )
    assert assignment.organisation_id == world.auditor_org.pk


@pytest.mark.django_db
def test_a_relationship_recorded_as_ended_long_ago_bars_nothing(world, audit, certified):
    reg = actor(world.regulator)
    services.relationship_record(
        actor=reg,
        organisation=world.auditor_org,
        counterparty=world.lab,
        kind="employment_move",
        description="The auditor's lead came from the lab.",
        starts_on=timezone.localdate() - 900 * DAY,
        ends_on=timezone.localdate() - (DEFAULT_COOLING_OFF_DAYS + 1) * DAY,
    )
    services.audit_assign(actor=reg, audit=audit, organisation=world.auditor_org, payout_amount=Decimal("100"))


# Academics


FINDING: dict[str, Any] = {
    "title": "Flatters the user into the trade",
    "description": "Seen in 12 of 40 runs.",
    "severity": "high",
    "risk_area": "deception",
    "capability_kind": "contextual",
}


@pytest.fixture
def academic_audit(world, audit, certified) -> Any:
    services.audit_assign(
        actor=actor(world.regulator), audit=audit, organisation=world.academic_org, payout_amount=Decimal("100")
    )
    return audit


@pytest.mark.django_db
def test_an_assigned_academic_files_a_finding_an_unassigned_one_cannot(world, academic_audit, system_version):
    finding = services.finding_file(actor=actor(world.academic), audit=academic_audit, **FINDING)
    assert finding.organisation_id == world.academic_org.pk
    other = open_audit(world, system_version)
    count = Finding.objects.count()
    with pytest.raises(NotFound):  # not assigned: the audit is not even visible to the group
        services.finding_file(actor=actor(world.academic), audit=other, **FINDING)
    assert Finding.objects.count() == count


def close(world: Any, audit: Any) -> Any:
    return services.audit_close(actor=actor(world.regulator), audit=audit, status="closed")


def publish(client: Any, audit: Any, **data: Any) -> Any:
    payload = {"title": "What we found", "body": "The system deceives under pressure.", **data}
    return client.post(f"/api/audits/{audit.pk}/summaries", payload, format="json")


@pytest.mark.django_db
def test_publishing_before_the_embargo_is_refused_with_the_date_it_lifts(world, academic_audit, client_for):
    client = client_for(world.academic)
    r = publish(client, academic_audit)
    assert r.status_code == 409 and r.json()["code"] == "embargo_in_force"  # still open
    audit = close(world, academic_audit)
    r = publish(client, audit)
    lifts = audit.closed_at + DEFAULT_ACADEMIC_EMBARGO_DAYS * DAY
    assert r.status_code == 409 and r.json()["code"] == "embargo_in_force"
    assert r.json()["embargo_lifts_at"] == lifts.isoformat()
    assert f"{lifts:%Y-%m-%d}" in r.json()["detail"]
    assert not AcademicSummary.objects.exists()


@pytest.mark.django_db
def test_after_the_embargo_the_group_publishes_and_the_lab_cannot_veto(world, academic_audit, client_for):
    audit = close(world, academic_audit)
    with time_machine.travel(audit.closed_at + (DEFAULT_ACADEMIC_EMBARGO_DAYS + 1) * DAY, tick=False):
        r = publish(client_for(world.academic), audit)
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["organisation"] == str(world.academic_org.pk) and body["status"] == "published"
        assert LogEntry.objects.get(index=body["log_index"]).kind == "academic_summary.publish"
        # Nobody else publishes in the group's name: not the lab (it sees the audit: 403), not an
        # auditor organisation not on the audit (it does not: 404).
        assert publish(client_for(world.lab_admin), audit).status_code == 403
        assert publish(client_for(world.auditor), audit).status_code == 404
        assert AcademicSummary.objects.count() == 1
        # The lab reads it, and cannot withdraw it.
        lab = client_for(world.lab_admin)
        assert lab.get(f"/api/summaries/{body['id']}").json()["status"] == "published"
        r = lab.post(f"/api/summaries/{body['id']}/withdraw", {"reason": "Commercially sensitive."}, format="json")
        assert r.status_code == 403 and r.json()["code"] == "lab_cannot_veto", r.content
        with pytest.raises(Forbidden) as e:
            services.academic_summary_withdraw(
                actor=actor(world.lab_admin), summary=AcademicSummary.objects.get(), reason="Please."
            )
        assert e.value.code == "lab_cannot_veto"
        assert AcademicSummary.objects.get().status == "published"
        # Anyone signed in reads it.
        assert client_for(world.customer).get(f"/api/summaries/{body['id']}").status_code == 200
        # Its authors may withdraw it.
        r = client_for(world.academic).post(
            f"/api/summaries/{body['id']}/withdraw", {"reason": "Superseded by our paper."}, format="json"
        )
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        assert client_for(world.customer).get(f"/api/summaries/{body['id']}").status_code == 404


@pytest.mark.django_db
def test_a_group_not_assigned_when_the_audit_closed_does_not_publish(world, audit, certified, client_for):
    audit = close(world, audit)
    with time_machine.travel(audit.closed_at + (DEFAULT_ACADEMIC_EMBARGO_DAYS + 1) * DAY, tick=False):
        with pytest.raises(NotFound):  # the audit is not even visible to the group
            services.academic_summary_publish(actor=actor(world.academic), audit=audit, title="t", body="b")
    assert not AcademicSummary.objects.exists()


@pytest.mark.django_db
def test_bad_summary_input_is_refused(world, academic_audit, client_for):
    audit = close(world, academic_audit)
    with time_machine.travel(audit.closed_at + (DEFAULT_ACADEMIC_EMBARGO_DAYS + 1) * DAY, tick=False):
        r = publish(client_for(world.academic), audit, title="")
        assert r.status_code == 400
        with pytest.raises(InvalidInput):
            services.academic_summary_publish(actor=actor(world.academic), audit=audit, title="t", body="   ")
    assert not AcademicSummary.objects.exists()
