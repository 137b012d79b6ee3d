"""Rule 3 (and 1, 2 at assignment): the regulator assigns certified,
conflict-free auditor organisations to open audits, subject to rotation; the
lab cannot remove an assigned auditor."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from auditing import selectors, services
from auditing.models import AuditAssignment, Certification, Fee, FeeDirection
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from standards import services as standard_services
from tests.auditing.conftest import actor, assign, certify, make_system_version, open_audit
from tests.standards.conftest import draft_payload

pytestmark = pytest.mark.django_db


def refused(world, audit, organisation, code):
    counts = (AuditAssignment.objects.count(), Fee.objects.count())
    with pytest.raises(Conflict) as exc:
        assign(world, audit, organisation)
    assert exc.value.code == code
    assert (AuditAssignment.objects.count(), Fee.objects.count()) == counts


def test_regulator_assigns_and_fixes_the_payout(world, audit, certified):
    assignment = assign(world, audit, world.auditor_org, amount="12500.00")
    assert assignment.assigned_by == world.regulator
    assert selectors.organisation_is_assigned(organisation=world.auditor_org, audit=audit)
    payout = Fee.objects.get(assignment=assignment)
    assert (payout.direction, payout.organisation, payout.amount, payout.currency) == (
        FeeDirection.REGULATOR_TO_AUDITOR,
        world.auditor_org,
        Decimal("12500.00"),
        "GBP",
    )
    event = AuditEvent.objects.get(action="assignment.create", target_id=str(assignment.pk))
    assert set(event.organisations.values_list("pk", flat=True)) == {world.lab.pk, world.auditor_org.pk}
    assert "12500" not in str(event.after)  # the lab reads this event; the payout is not in it
    fee_event = AuditEvent.objects.get(action="fee.record", target_id=str(payout.pk))
    assert set(fee_event.organisations.values_list("pk", flat=True)) == {world.auditor_org.pk}


def test_payout_is_in_the_lab_fees_currency(world, system_version, certified):
    audit = open_audit(world, system_version, currency="USD")
    assignment = assign(world, audit, world.academic_org)
    assert Fee.objects.get(assignment=assignment).currency == "USD"


@pytest.mark.parametrize("who", ["lab_admin", "auditor", "customer"])
def test_only_the_regulator_assigns(world, audit, certified, who):
    with pytest.raises(Forbidden):
        services.audit_assign(
            actor=actor(getattr(world, who)), audit=audit, organisation=world.auditor_org, payout_amount=Decimal(1)
        )
    assert not AuditAssignment.objects.exists()


def test_uncertified_organisations_are_refused(world, audit):
    refused(world, audit, world.auditor_org, "not_certified")
    certify(world, world.auditor_org)
    assign(world, audit, world.auditor_org)


def test_suspended_and_revoked_certifications_are_refused(world, audit):
    certification = certify(world, world.auditor_org)
    services.certification_suspend(actor=actor(world.regulator), certification=certification, reason="Inquiry")
    refused(world, audit, world.auditor_org, "not_certified")
    services.certification_reinstate(actor=actor(world.regulator), certification=certification, reason="Cleared")
    assign(world, audit, world.auditor_org)
    certify(world, world.other_auditor_org)
    revoked = Certification.objects.get(organisation=world.other_auditor_org)
    services.certification_revoke(actor=actor(world.regulator), certification=revoked, reason="Leak")
    refused(world, audit, world.other_auditor_org, "not_certified")


def test_expired_certifications_are_refused(world, system_version):
    with time_machine.travel(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), tick=False):
        services.certification_issue(
            actor=actor(world.regulator),
            organisation=world.auditor_org,
            expires_at=datetime.datetime(2030, 6, 1, tzinfo=datetime.UTC),
            risk_areas=["deception"],
            infosec_level="SL3",
        )
        audit = open_audit(world, system_version)
    with time_machine.travel(datetime.datetime(2030, 5, 31, tzinfo=datetime.UTC), tick=False):
        assign(world, audit, world.auditor_org)
    other = open_audit(world, make_system_version(world.lab, world.lab_engineer, name="agent"))
    with time_machine.travel(datetime.datetime(2030, 6, 1, 0, 0, 1, tzinfo=datetime.UTC), tick=False):
        refused(world, other, world.auditor_org, "not_certified")


@pytest.mark.parametrize("org", ["lab", "other_lab", "customer_org", "regulator_org"])
def test_only_auditing_organisations_are_assigned(world, audit, org):
    with pytest.raises(InvalidInput) as exc:
        assign(world, audit, getattr(world, org))
    assert "organisation" in exc.value.errors
    assert not AuditAssignment.objects.exists()


def test_conflict_of_interest_bars_assignment_until_the_regulator_ends_it(
    world, audit, certified, other_system_version
):
    conflict = services.conflict_declare(
        actor=actor(world.auditor),
        organisation=world.auditor_org,
        lab=world.lab,
        kind="developed",
        reason="Built the agent",
    )
    refused(world, audit, world.auditor_org, "conflict_of_interest")
    # Only this lab: another lab's audit is fine.
    assign(world, open_audit(world, other_system_version), world.auditor_org)
    services.conflict_end(actor=actor(world.regulator), conflict=conflict, reason="Contract ended")
    assign(world, audit, world.auditor_org)


def test_an_organisation_is_assigned_once_at_a_time(world, audit, certified):
    first = assign(world, audit, world.auditor_org)
    refused(world, audit, world.auditor_org, "already_assigned")
    assign(world, audit, world.other_auditor_org)  # a second organisation is welcome
    services.assignment_end(actor=actor(world.regulator), assignment=first, reason="Staff change")
    again = assign(world, audit, world.auditor_org)
    assert again.pk != first.pk


def test_only_open_audits_take_auditors(world, audit, certified):
    services.audit_close(actor=actor(world.regulator), audit=audit, status="cancelled", reason="Withdrawn")
    refused(world, audit, world.auditor_org, "audit_not_open")


@pytest.mark.parametrize("amount", ["0", "-5", "0.001"])
def test_payout_must_be_a_positive_amount(world, audit, certified, amount):
    with pytest.raises(InvalidInput) as exc:
        assign(world, audit, world.auditor_org, amount=amount)
    assert "payout_amount" in exc.value.errors
    assert not AuditAssignment.objects.exists()
    assert not Fee.objects.filter(direction=FeeDirection.REGULATOR_TO_AUDITOR).exists()


# Rotation


def _audits_in_sequence(world, count, start=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)):
    audits = []
    for i in range(count):
        with time_machine.travel(start + datetime.timedelta(days=30 * i), tick=False):
            audits.append(open_audit(world, make_system_version(world.lab, world.lab_engineer, name=f"sys{i}")))
    return audits


def test_rotation_limit_refuses_a_fourth_consecutive_audit(world, certified):
    # The default standard allows 3 consecutive audits of one lab by one organisation.
    *previous, current = _audits_in_sequence(world, 4)
    for a in previous:
        assign(world, a, world.auditor_org)
    refused(world, current, world.auditor_org, "rotation_limit")
    assign(world, current, world.other_auditor_org)


def test_rotation_counts_consecutive_audits_only(world, certified):
    first, second, third, fourth = _audits_in_sequence(world, 4)
    assign(world, first, world.auditor_org)
    assign(world, third, world.auditor_org)
    assign(world, second, world.other_auditor_org)  # the streak is broken by the second audit
    assign(world, fourth, world.auditor_org)


def test_rotation_looks_at_this_lab_only(world, certified, other_system_version):
    *previous, current = _audits_in_sequence(world, 4)
    for a in previous[:2]:
        assign(world, a, world.auditor_org)
    assign(world, open_audit(world, other_system_version), world.auditor_org)
    assign(world, current, world.auditor_org)  # only 2 of the lab's last 3


def test_rotation_limit_comes_from_the_audits_standard(world, certified):
    draft = standard_services.standard_create(actor=actor(world.regulator), **draft_payload(auditor_rotation_limit=1))
    with time_machine.travel(datetime.datetime(2029, 12, 1, tzinfo=datetime.UTC), tick=False):
        standard_services.standard_publish(actor=actor(world.regulator), standard=draft)
    first, second = _audits_in_sequence(world, 2)
    assert second.standard_id == draft.pk
    assign(world, first, world.auditor_org)
    refused(world, second, world.auditor_org, "rotation_limit")


def test_an_ended_assignment_still_counts_for_rotation(world, certified):
    *previous, current = _audits_in_sequence(world, 4)
    for a in previous:
        assign(world, a, world.auditor_org)
    services.assignment_end(
        actor=actor(world.regulator), assignment=AuditAssignment.objects.get(audit=previous[0]), reason="Reassigned"
    )
    refused(world, current, world.auditor_org, "rotation_limit")


# Ending an assignment


def test_only_the_regulator_ends_an_assignment(world, assignment):
    for who in ("lab_admin", "auditor"):
        with pytest.raises(Forbidden):
            services.assignment_end(actor=actor(getattr(world, who)), assignment=assignment, reason="Fired")
    with pytest.raises(InvalidInput):
        services.assignment_end(actor=actor(world.regulator), assignment=assignment, reason=" ")
    services.assignment_end(actor=actor(world.regulator), assignment=assignment, reason="Conflict discovered")
    assignment.refresh_from_db()
    assert (assignment.ended_by, assignment.end_reason) == (world.regulator, "Conflict discovered")
    payout = Fee.objects.get(assignment=assignment)
    assert payout.amount == Decimal("20000.00")  # fixed at assignment, whatever happens after
    with pytest.raises(Conflict) as exc:
        services.assignment_end(actor=actor(world.regulator), assignment=assignment, reason="again")
    assert exc.value.code == "assignment_already_ended"


# API


def test_assign_through_the_api(world, client_for, audit, certified):
    url = f"/api/audits/{audit.pk}/assignments"
    body = {"organisation": str(world.auditor_org.pk), "payout_amount": "15000.00"}
    r = client_for(world.regulator).post(url, body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["organisation"] == str(world.auditor_org.pk)
    assert "payout" not in str(r.json())
    r = client_for(world.regulator).post(url, body, format="json")
    assert r.status_code == 409
    assert r.json()["code"] == "already_assigned"


def test_assign_scoping(world, client_for, api, audit, certified):
    url = f"/api/audits/{audit.pk}/assignments"
    body = {"organisation": str(world.other_auditor_org.pk), "payout_amount": "15000.00"}
    assert client_for(world.lab_admin).post(url, body, format="json").status_code == 403  # sees the audit, may not
    for who in ("other_lab_admin", "auditor", "customer"):
        assert client_for(getattr(world, who)).post(url, body, format="json").status_code == 404, who
    assert api.post(url, body, format="json").status_code == 401
    assert not AuditAssignment.objects.exists()


def test_conflicted_assignment_is_409_through_the_api(world, client_for, audit, certified):
    services.conflict_declare(
        actor=actor(world.regulator),
        organisation=world.auditor_org,
        lab=world.lab,
        kind="economic_interest",
        reason="Shares",
    )
    r = client_for(world.regulator).post(
        f"/api/audits/{audit.pk}/assignments",
        {"organisation": str(world.auditor_org.pk), "payout_amount": "1.00"},
        format="json",
    )
    assert r.status_code == 409
    assert r.json()["code"] == "conflict_of_interest"


def test_bad_assignment_is_400_naming_the_field_and_writes_nothing(world, client_for, audit, certified):
    url = f"/api/audits/{audit.pk}/assignments"
    r = client_for(world.regulator).post(url, {"organisation": "nope", "payout_amount": "-1"}, format="json")
    assert r.status_code == 400
    assert {"organisation", "payout_amount"} <= set(r.json()["errors"])
    r = client_for(world.regulator).post(
        url, {"organisation": str(world.lab.pk), "payout_amount": "10.00"}, format="json"
    )
    assert r.status_code == 400
    assert "organisation" in r.json()["errors"]
    assert not AuditAssignment.objects.exists()
    assert Fee.objects.filter(direction=FeeDirection.REGULATOR_TO_AUDITOR).count() == 0


def test_assignment_list_scoping(world, client_for, audit, assignment):
    url = f"/api/audits/{audit.pk}/assignments"
    for who in ("regulator", "lab_admin", "auditor"):
        r = client_for(getattr(world, who)).get(url)
        assert r.status_code == 200
        assert [a["id"] for a in r.json()["results"]] == [str(assignment.pk)]
    for who in ("other_lab_admin", "other_auditor", "customer"):
        assert client_for(getattr(world, who)).get(url).status_code == 404


def test_the_lab_cannot_remove_its_auditor(world, client_for, api, audit, assignment):
    url = f"/api/audits/{audit.pk}/assignments/{assignment.pk}/end"
    body = {"reason": "We prefer another auditor"}
    for who in ("lab_admin", "lab_engineer", "auditor"):
        r = client_for(getattr(world, who)).post(url, body, format="json")
        assert r.status_code == 403, who
    for who in ("other_lab_admin", "other_auditor", "customer", "outsider"):
        assert client_for(getattr(world, who)).post(url, body, format="json").status_code == 404, who
    assert api.post(url, body, format="json").status_code == 401
    assignment.refresh_from_db()
    assert assignment.ended_at is None
    r = client_for(world.regulator).post(url, {"reason": "Capacity"}, format="json")
    assert r.status_code == 200
    assert r.json()["ended_at"] is not None
    # Once ended, the auditor no longer sees the audit.
    assert client_for(world.auditor).get(f"/api/audits/{audit.pk}").status_code == 404


def test_assignment_of_another_audit_is_not_found(world, client_for, audit, assignment, other_system_version):
    elsewhere = open_audit(world, other_system_version)
    url = f"/api/audits/{elsewhere.pk}/assignments/{assignment.pk}/end"
    assert client_for(world.regulator).post(url, {"reason": "x"}, format="json").status_code == 404


def test_an_expired_certificate_is_checked_at_assignment_time(world, audit):
    # Issued now, valid for a day: the check uses the moment of assignment.
    certify(world, world.auditor_org, days=1)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2), tick=False):
        refused(world, audit, world.auditor_org, "not_certified")
