"""Rule 1: an auditor acts only while its certification is valid. Only the
regulator issues, suspends, reinstates and revokes; revocation is final and
ends the organisation's assignments."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from auditing import selectors, services
from auditing.models import AuditAssignment, Certification, CertificationStatus
from auditing.tasks import certifications_expire_task
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from tests.auditing.conftest import actor, assign, certify, open_audit

pytestmark = pytest.mark.django_db


def in_days(days: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


def issue(world, organisation, **overrides):
    fields = {"expires_at": in_days(365), "risk_areas": ["deception"], "infosec_level": "SL3"}
    fields.update(overrides)
    return services.certification_issue(actor=actor(world.regulator), organisation=organisation, **fields)


# Issuing


@pytest.mark.parametrize("org", ["auditor_org", "academic_org"])
def test_regulator_certifies_auditors_and_academic_groups(world, org):
    organisation = getattr(world, org)
    assert not selectors.organisation_is_certified(organisation=organisation)
    certification = issue(world, organisation)
    assert certification.status == CertificationStatus.ACTIVE
    assert certification.issued_by == world.regulator
    assert selectors.organisation_is_certified(organisation=organisation)
    event = AuditEvent.objects.get(action="certification.issue", target_id=str(certification.pk))
    assert set(event.organisations.values_list("pk", flat=True)) == {organisation.pk}


@pytest.mark.parametrize("org", ["lab", "customer_org", "regulator_org"])
def test_only_auditing_organisations_are_certified(world, org):
    with pytest.raises(InvalidInput) as exc:
        issue(world, getattr(world, org))
    assert "organisation" in exc.value.errors
    assert not Certification.objects.exists()


@pytest.mark.parametrize("who", ["auditor", "lab_admin", "academic", "customer"])
def test_only_the_regulator_certifies(world, who):
    with pytest.raises(Forbidden):
        services.certification_issue(
            actor=actor(getattr(world, who)),
            organisation=world.auditor_org,
            expires_at=in_days(30),
            risk_areas=["cyber"],
            infosec_level="SL2",
        )
    assert not Certification.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"expires_at": in_days(-1)}, "expires_at"),
        ({"expires_at": datetime.datetime(2099, 1, 1)}, "expires_at"),  # naive
        ({"risk_areas": ["astrology"]}, "risk_areas"),
        ({"risk_areas": []}, "risk_areas"),
        ({"risk_areas": ["cyber", "cyber"]}, "risk_areas"),
        ({"infosec_level": "SL9"}, "infosec_level"),
    ],
)
def test_invalid_certifications_are_refused(world, overrides, field):
    with pytest.raises(InvalidInput) as exc:
        issue(world, world.auditor_org, **overrides)
    assert field in exc.value.errors
    assert not Certification.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="certification.").exists()


@pytest.mark.parametrize("first_status", ["active", "suspended"])
def test_issuing_again_renews_by_superseding_the_current_one(world, first_status):
    first = issue(world, world.auditor_org)
    if first_status == "suspended":
        services.certification_suspend(actor=actor(world.regulator), certification=first, reason="Late report")
    second = issue(world, world.auditor_org, expires_at=in_days(700))
    first.refresh_from_db()
    assert first.status == CertificationStatus.SUPERSEDED
    assert second.status == CertificationStatus.ACTIVE
    assert Certification.objects.filter(organisation=world.auditor_org, status__in=["active", "suspended"]).count() == 1
    event = AuditEvent.objects.get(action="certification.supersede", target_id=str(first.pk))
    assert event.after["superseded_by"] == str(second.pk)
    # A superseded certification cannot be brought back or revoked.
    with pytest.raises(Conflict) as exc:
        services.certification_reinstate(actor=actor(world.regulator), certification=first, reason="x")
    assert exc.value.code == "certification_superseded"


def test_renewing_after_a_revocation_is_a_new_certification(world):
    first = issue(world, world.auditor_org)
    services.certification_revoke(actor=actor(world.regulator), certification=first, reason="Leak")
    second = issue(world, world.auditor_org)
    first.refresh_from_db()
    assert first.status == CertificationStatus.REVOKED  # stays revoked: not superseded
    assert second.status == CertificationStatus.ACTIVE


# Validity over time


def test_validity_follows_the_expiry_date(world):
    with time_machine.travel(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), tick=False):
        certification = issue(world, world.auditor_org, expires_at=datetime.datetime(2030, 7, 1, tzinfo=datetime.UTC))
        assert selectors.organisation_is_certified(organisation=world.auditor_org)
    with time_machine.travel(datetime.datetime(2030, 6, 30, 23, 59, tzinfo=datetime.UTC), tick=False):
        assert selectors.organisation_is_certified(organisation=world.auditor_org)
    with time_machine.travel(datetime.datetime(2030, 7, 1, tzinfo=datetime.UTC), tick=False):
        assert not selectors.organisation_is_certified(organisation=world.auditor_org)
        assert not certification.is_valid_at()
    # `at` asks about another moment, e.g. when a sign-off was made.
    assert selectors.organisation_is_certified(
        organisation=world.auditor_org.pk, at=datetime.datetime(2030, 3, 1, tzinfo=datetime.UTC)
    )
    assert not selectors.organisation_is_certified(
        organisation=world.auditor_org, at=datetime.datetime(2029, 12, 31, tzinfo=datetime.UTC)
    )


def test_suspension_and_reinstatement(world):
    certification = issue(world, world.auditor_org)
    services.certification_suspend(
        actor=actor(world.regulator), certification=certification, reason="Audit of SL3 controls"
    )
    assert not selectors.organisation_is_certified(organisation=world.auditor_org)
    with pytest.raises(Conflict) as exc:
        services.certification_suspend(actor=actor(world.regulator), certification=certification, reason="again")
    assert exc.value.code == "certification_not_active"
    services.certification_reinstate(actor=actor(world.regulator), certification=certification, reason="Controls fixed")
    assert selectors.organisation_is_certified(organisation=world.auditor_org)
    with pytest.raises(Conflict) as exc:
        services.certification_reinstate(actor=actor(world.regulator), certification=certification, reason="again")
    assert exc.value.code == "certification_not_suspended"
    actions = list(
        AuditEvent.objects.filter(target_id=str(certification.pk)).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["certification.issue", "certification.suspend", "certification.reinstate"]


@pytest.mark.parametrize("change", ["certification_suspend", "certification_reinstate", "certification_revoke"])
def test_only_the_regulator_changes_a_certification(world, change):
    certification = issue(world, world.auditor_org)
    with pytest.raises(Forbidden):
        getattr(services, change)(actor=actor(world.auditor), certification=certification, reason="mine")
    certification.refresh_from_db()
    assert certification.status == CertificationStatus.ACTIVE


@pytest.mark.parametrize("change", ["certification_suspend", "certification_reinstate", "certification_revoke"])
def test_a_reason_is_required(world, change):
    certification = issue(world, world.auditor_org)
    with pytest.raises(InvalidInput) as exc:
        getattr(services, change)(actor=actor(world.regulator), certification=certification, reason="  ")
    assert "reason" in exc.value.errors


def test_revocation_is_final(world):
    certification = issue(world, world.auditor_org)
    services.certification_revoke(actor=actor(world.regulator), certification=certification, reason="Leaked weights")
    assert not selectors.organisation_is_certified(organisation=world.auditor_org)
    for change in (services.certification_reinstate, services.certification_suspend, services.certification_revoke):
        with pytest.raises(Conflict) as exc:
            change(actor=actor(world.regulator), certification=certification, reason="undo")
        assert exc.value.code == "certification_revoked"
    certification.refresh_from_db()
    assert certification.status == CertificationStatus.REVOKED


def test_a_suspended_certification_can_be_revoked(world):
    certification = issue(world, world.auditor_org)
    services.certification_suspend(actor=actor(world.regulator), certification=certification, reason="Inquiry")
    services.certification_revoke(actor=actor(world.regulator), certification=certification, reason="Inquiry upheld")
    certification.refresh_from_db()
    assert certification.status == CertificationStatus.REVOKED


def test_revocation_ends_the_organisations_assignments_only(world, system_version, other_system_version):
    certify(world, world.auditor_org)
    certify(world, world.other_auditor_org)
    audit = open_audit(world, system_version)
    other_audit = open_audit(world, other_system_version)
    mine = [assign(world, audit, world.auditor_org), assign(world, other_audit, world.auditor_org)]
    theirs = assign(world, audit, world.other_auditor_org)
    certification = Certification.objects.get(organisation=world.auditor_org)
    services.certification_revoke(actor=actor(world.regulator), certification=certification, reason="Bribery")
    for a in mine:
        a.refresh_from_db()
        assert a.ended_at is not None
        assert a.end_reason == "certification revoked"
        assert a.ended_by == world.regulator
    theirs.refresh_from_db()
    assert theirs.ended_at is None
    assert AuditEvent.objects.filter(action="assignment.end").count() == 2


def test_revocation_keeps_assignments_on_finished_audits(world, system_version, other_system_version):
    certify(world, world.auditor_org)
    finished = open_audit(world, system_version)
    done = assign(world, finished, world.auditor_org)
    services.audit_close(actor=actor(world.regulator), audit=finished, status="closed")
    ongoing = open_audit(world, other_system_version)
    current = assign(world, ongoing, world.auditor_org)
    certification = Certification.objects.get(organisation=world.auditor_org)
    services.certification_revoke(actor=actor(world.regulator), certification=certification, reason="Bribery")
    done.refresh_from_db()
    current.refresh_from_db()
    assert done.ended_at is None  # the record of work done stays, and stays visible to the auditor
    assert current.ended_at is not None


def test_suspension_keeps_assignments(world, assignment):
    certification = Certification.objects.get(organisation=world.auditor_org)
    services.certification_suspend(actor=actor(world.regulator), certification=certification, reason="Inquiry")
    assert AuditAssignment.objects.in_force().filter(pk=assignment.pk).exists()


# Expiry in the audit trail


def test_expiry_is_recorded_once(world):
    with time_machine.travel(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), tick=False):
        expiring = issue(world, world.auditor_org, expires_at=datetime.datetime(2030, 2, 1, tzinfo=datetime.UTC))
        lasting = issue(world, world.other_auditor_org, expires_at=datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC))
        assert services.certifications_expire() == 0
    with time_machine.travel(datetime.datetime(2030, 3, 1, tzinfo=datetime.UTC), tick=False):
        assert services.certifications_expire() == 1
        assert services.certifications_expire() == 0
    events = AuditEvent.objects.filter(action="certification.expired")
    assert [e.target_id for e in events] == [str(expiring.pk)]
    event = events.get()
    assert event.actor is None
    assert event.actor_label == "system:certifications_expire"
    assert set(event.organisations.values_list("pk", flat=True)) == {world.auditor_org.pk}
    expiring.refresh_from_db()
    assert expiring.expiry_recorded_at is not None
    lasting.refresh_from_db()
    assert lasting.expiry_recorded_at is None


def test_expiry_skips_revoked_and_superseded_certifications(world):
    with time_machine.travel(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), tick=False):
        revoked = issue(world, world.auditor_org, expires_at=datetime.datetime(2030, 2, 1, tzinfo=datetime.UTC))
        services.certification_revoke(actor=actor(world.regulator), certification=revoked, reason="Leak")
        issue(world, world.other_auditor_org, expires_at=datetime.datetime(2030, 2, 1, tzinfo=datetime.UTC))
        renewed = issue(world, world.other_auditor_org, expires_at=datetime.datetime(2031, 2, 1, tzinfo=datetime.UTC))
    suspended_at = datetime.datetime(2030, 1, 2, tzinfo=datetime.UTC)
    with time_machine.travel(suspended_at, tick=False):
        suspended = issue(world, world.academic_org, expires_at=datetime.datetime(2030, 2, 1, tzinfo=datetime.UTC))
        services.certification_suspend(actor=actor(world.regulator), certification=suspended, reason="Inquiry")
    assert services.certifications_expire(now=datetime.datetime(2030, 3, 1, tzinfo=datetime.UTC)) == 1
    assert list(AuditEvent.objects.filter(action="certification.expired").values_list("target_id", flat=True)) == [
        str(suspended.pk)
    ]
    assert renewed.pk  # the renewal itself has not expired


def test_expiry_task_runs_the_service_eagerly(world):
    with time_machine.travel(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), tick=False):
        issue(world, world.auditor_org, expires_at=datetime.datetime(2030, 2, 1, tzinfo=datetime.UTC))
    assert certifications_expire_task.name == "stagegate.maintenance.certifications_expire"
    with time_machine.travel(datetime.datetime(2030, 3, 1, tzinfo=datetime.UTC), tick=False):
        assert certifications_expire_task.apply().get() == 1
        assert certifications_expire_task.apply().get() == 0
    assert AuditEvent.objects.filter(action="certification.expired").count() == 1


# API


@pytest.mark.parametrize("who", ["regulator", "lab_admin", "auditor", "academic", "customer", "outsider"])
def test_the_register_is_public_to_signed_in_users(world, client_for, who):
    certification = issue(world, world.auditor_org)
    r = client_for(getattr(world, who)).get("/api/certifications")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["results"]] == [str(certification.pk)]
    detail = client_for(getattr(world, who)).get(f"/api/certifications/{certification.pk}")
    assert detail.status_code == 200
    assert detail.json()["valid_now"] is True


def test_register_filters(world, client_for):
    issue(world, world.auditor_org)
    academic = issue(world, world.academic_org)
    c = client_for(world.customer)
    r = c.get("/api/certifications", {"organisation": str(world.academic_org.pk)})
    assert [x["id"] for x in r.json()["results"]] == [str(academic.pk)]
    assert c.get("/api/certifications", {"organisation": "nope"}).status_code == 400


def test_anonymous_cannot_read_the_register(world, api):
    assert api.get("/api/certifications").status_code == 401


def test_issue_through_the_api(world, client_for):
    body = {
        "organisation": str(world.auditor_org.pk),
        "expires_at": in_days(365).isoformat(),
        "risk_areas": ["deception", "cyber"],
        "infosec_level": "SL4",
    }
    r = client_for(world.regulator).post("/api/certifications", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "active"
    assert r.json()["risk_areas"] == ["deception", "cyber"]
    for who in ("auditor", "lab_admin", "customer"):
        refused = client_for(getattr(world, who)).post("/api/certifications", body, format="json")
        assert refused.status_code == 403
    assert Certification.objects.count() == 1


def test_bad_issue_is_400_naming_fields_and_writes_nothing(world, client_for):
    body = {
        "organisation": str(world.customer_org.pk),
        "expires_at": "not a date",
        "risk_areas": ["astrology"],
        "infosec_level": "SL0",
    }
    r = client_for(world.regulator).post("/api/certifications", body, format="json")
    assert r.status_code == 400
    assert {"expires_at", "infosec_level"} <= set(r.json()["errors"])
    assert any(k.startswith("risk_areas") for k in r.json()["errors"])
    # Shape valid, rules broken: the service names the field.
    body = {
        "organisation": str(world.lab.pk),
        "expires_at": in_days(-2).isoformat(),
        "risk_areas": ["cyber"],
        "infosec_level": "SL1",
    }
    r = client_for(world.regulator).post("/api/certifications", body, format="json")
    assert r.status_code == 400
    assert {"organisation", "expires_at"} <= set(r.json()["errors"])
    assert not Certification.objects.exists()


def test_status_changes_through_the_api(world, client_for):
    certification = issue(world, world.auditor_org)
    url = f"/api/certifications/{certification.pk}"
    assert client_for(world.lab_admin).post(f"{url}/suspend", {"reason": "x"}, format="json").status_code == 403
    assert client_for(world.auditor).post(f"{url}/revoke", {"reason": "x"}, format="json").status_code == 403
    assert client_for(world.regulator).post(f"{url}/suspend", {}, format="json").status_code == 400
    r = client_for(world.regulator).post(f"{url}/suspend", {"reason": "Inquiry"}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "suspended"
    assert r.json()["valid_now"] is False
    r = client_for(world.regulator).post(f"{url}/reinstate", {"reason": "Cleared"}, format="json")
    assert r.json()["status"] == "active"
    r = client_for(world.regulator).post(f"{url}/revoke", {"reason": "Leak"}, format="json")
    assert r.json()["status"] == "revoked"
    r = client_for(world.regulator).post(f"{url}/reinstate", {"reason": "Sorry"}, format="json")
    assert r.status_code == 409
    assert r.json()["code"] == "certification_revoked"
    assert (
        client_for(world.regulator)
        .post("/api/certifications/00000000-0000-0000-0000-000000000000/revoke", {"reason": "x"}, format="json")
        .status_code
        == 404
    )
