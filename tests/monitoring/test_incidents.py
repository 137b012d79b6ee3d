"""Incidents: who reports what (rule 2 of the brief), rule 14's automatic
suspension and re-audit and who triggers it, deadlines and lateness, the
regulator's confirm / resolve / dismiss, the log and the audit trail."""

from __future__ import annotations

import datetime
import json

import pytest
import time_machine
from django.utils import timezone

from auditing import services as auditing
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEvent, OrganisationKind
from deploy.models import Reaudit, Release
from deploy.services import release_halt
from labs.models import SystemVersion
from monitoring import services as monitoring
from monitoring.models import Incident
from standards.models import IncidentKind, Standard
from tests.auditing.conftest import actor, make_system_version
from tests.factories import OrganisationFactory, member, release_at
from tests.monitoring.conftest import ago, body, enrol, report
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db

SERIOUS = "critical_infrastructure"  # 2 days, serious, suspends the stage (the default standard)


def kinds() -> list[str]:
    return list(LogEntry.objects.order_by("index").values_list("kind", flat=True))


def unresolved_serious(sv) -> bool:
    # What the stage-3 gate reads (monitoring.gates, registered with deploy.gates).
    return SystemVersion.objects.filter(pk=sv.pk, incidents__serious=True, incidents__resolved_at__isnull=True).exists()


# Who reports


@pytest.mark.parametrize("who", ["lab_admin", "lab_engineer", "lab_reviewer"])
def test_every_lab_member_reports_on_its_lab_systems(world, sv, who):
    incident = report(getattr(world, who), sv)
    assert (incident.reporter_kind, incident.reporter_organisation_id) == ("lab", world.lab.pk)
    assert incident.reported_by == getattr(world, who)
    with pytest.raises(Forbidden) as err:
        report(world.other_lab_admin, sv)
    assert err.value.code == "not_a_reporter"


def test_an_assigned_certified_auditor_reports_others_do_not(world, sv, audited):
    assert report(world.auditor, sv).reporter_kind == "auditor"
    for user in (world.other_auditor, world.academic, world.outsider):
        with pytest.raises(Forbidden):
            report(user, sv)
    # Assigned but no longer certified: refused, nothing written.
    cert = world.auditor_org.certifications.get()
    auditing.certification_suspend(actor=actor(world.regulator), certification=cert, reason="Controls review.")
    count = Incident.objects.count()
    with pytest.raises(Conflict) as err:
        report(world.auditor, sv)
    assert err.value.code == "not_certified"
    assert Incident.objects.count() == count


def test_a_customer_reports_only_on_releases_it_is_enrolled_in(world, sv, at_stage):
    at_stage(2)
    with pytest.raises(Forbidden):
        report(world.customer, sv)
    enrolment = enrol(world, sv)
    assert report(world.customer, sv).reporter_kind == "customer"
    # A rival customer, enrolled elsewhere, cannot report on this system.
    rival_org = OrganisationFactory(kind=OrganisationKind.CUSTOMER, name="Rival Bank", slug="rival")
    rival = member(rival_org, "customer_member", "rival")
    other = make_system_version(world.lab, world.lab_engineer, name="other")
    release_at(other, 2)
    enrol(world, other, rival_org)
    with pytest.raises(Forbidden):
        report(rival, sv)
    # A withdrawn enrolment no longer counts.
    enrolment.status, enrolment.withdrawn_at = "withdrawn", timezone.now()
    enrolment.save()
    with pytest.raises(Forbidden):
        report(world.customer, sv)


def test_the_regulator_reports_on_any_system(world, sv):
    incident = report(world.regulator, sv)
    assert (incident.reporter_kind, incident.reporter_organisation_id) == ("regulator", world.regulator_org.pk)


# Rule 14: automatic suspension and re-audit


@pytest.mark.parametrize("who", ["lab_engineer", "auditor", "regulator"])
@pytest.mark.parametrize("stage", [2, 3])
def test_a_trusted_report_of_a_serious_kind_at_stage_2_or_3_suspends_and_opens_a_reaudit(
    world, sv, audited, at_stage, who, stage
):
    at_stage(stage)
    incident = report(getattr(world, who), sv, kind=SERIOUS)
    release = Release.objects.get(system_version=sv)
    assert release.status == "suspended"
    assert incident.suspended_release_at is not None and incident.stage == stage
    reaudit = Reaudit.objects.get(system_version=sv)
    assert reaudit.source_ref == str(incident.pk) and incident.reaudit == reaudit
    assert incident.status == "open"  # still the regulator's to confirm
    log = kinds()
    assert log.index("incident.report") < log.index("release.suspend") < log.index("reaudit.open")
    assert unresolved_serious(sv)


def test_a_customers_report_waits_for_the_regulator_then_suspends(world, limited):
    incident = report(world.customer, limited, kind=SERIOUS)
    assert Release.objects.get(system_version=limited).status == "active"
    assert not Reaudit.objects.exists() and incident.suspended_release_at is None
    # Only the regulator confirms.
    for user in (world.lab_admin, world.auditor, world.customer):
        with pytest.raises((Forbidden, NotFound)):
            monitoring.incident_confirm(actor=actor(user), incident=incident)
    incident = monitoring.incident_confirm(actor=actor(world.regulator), incident=incident, note="Verified.")
    assert incident.status == "confirmed" and incident.confirmation_note == "Verified."
    assert Release.objects.get(system_version=limited).status == "suspended"
    assert Reaudit.objects.get().source_ref == str(incident.pk)
    with pytest.raises(Conflict) as err:
        monitoring.incident_confirm(actor=actor(world.regulator), incident=incident)
    assert err.value.code == "incident_not_open"


@pytest.mark.parametrize("status", ["halted", "suspended"])
def test_a_release_already_halted_or_suspended_is_left_as_it_is(world, sv, at_stage, status):
    at_stage(2, status)
    before = Release.objects.get(system_version=sv)
    incident = report(world.lab_admin, sv, kind=SERIOUS)
    after = Release.objects.get(system_version=sv)
    assert (after.status, after.status_changed_at, after.reason) == (status, before.status_changed_at, before.reason)
    assert incident.suspended_release_at is None
    assert Reaudit.objects.get().source_ref == str(incident.pk)  # the re-audit is owed all the same
    assert "release.suspend" not in kinds()


def test_a_confirmed_customer_report_leaves_a_halted_release_halted(world, limited):
    release_halt(actor=actor(world.regulator), system_version=limited, reason="Investigating.")
    incident = report(world.customer, limited, kind=SERIOUS)
    monitoring.incident_confirm(actor=actor(world.regulator), incident=incident)
    assert Release.objects.get(system_version=limited).status == "halted"
    assert Reaudit.objects.count() == 1


@pytest.mark.parametrize("stage", [None, 0, 1])
def test_below_stage_2_nothing_happens_automatically(world, sv, at_stage, stage):
    if stage is not None:
        at_stage(stage)
    incident = report(world.lab_admin, sv, kind=SERIOUS)
    assert incident.stage == (stage or 0)
    assert not Reaudit.objects.exists()
    assert not Release.objects.filter(status="suspended").exists()


def test_a_non_serious_kind_never_escalates(world, sv, at_stage):
    at_stage(2)
    incident = report(world.lab_admin, sv, kind="other")
    assert not incident.serious
    assert Release.objects.get(system_version=sv).status == "active"
    assert not Reaudit.objects.exists() and not unresolved_serious(sv)


def test_a_serious_kind_that_does_not_suspend_opens_only_a_reaudit(world, sv, at_stage):
    IncidentKind.objects.create(
        standard=Standard.objects.in_force().get(),
        key="data_leak",
        name="Leak of personal data",
        reporting_deadline_days=3,
        serious=True,
        suspends_stage=False,
    )
    at_stage(3)
    incident = report(world.lab_admin, sv, kind="data_leak")
    assert Release.objects.get(system_version=sv).status == "active"
    assert incident.reaudit is not None and incident.suspended_release_at is None


# Deadlines


def test_the_labs_report_is_late_after_the_kinds_deadline_from_awareness(world, sv):
    on_time = report(world.lab_admin, sv, kind=SERIOUS, occurred_at=ago(days=3), aware_at=ago(days=1, hours=23))
    assert on_time.deadline_at == on_time.aware_at + datetime.timedelta(days=2)
    assert not on_time.late
    assert (on_time.lab_reported_at, on_time.lab_report_due_at) == (on_time.created_at, on_time.deadline_at)
    assert on_time.lab_report_late is False and not on_time.is_overdue()
    late = report(world.lab_admin, sv, kind=SERIOUS, occurred_at=ago(days=3), aware_at=ago(days=2, hours=1))
    assert late.late and late.lab_report_late
    other = report(world.lab_admin, sv, kind="other", occurred_at=ago(days=20), aware_at=ago(days=14))
    assert not other.late  # 15 days for "other"


def test_when_someone_else_reports_the_lab_owes_its_own_report(world, sv, audited):
    incident = report(world.auditor, sv, kind=SERIOUS, aware_at=ago(days=5), occurred_at=ago(days=6))
    assert incident.late  # the auditor's awareness: told, not binding
    assert incident.lab_reported_at is None
    assert incident.lab_report_due_at == incident.created_at + datetime.timedelta(days=2)
    for user in (world.auditor, world.regulator):
        with pytest.raises(Forbidden) as err:
            monitoring.incident_lab_report(actor=actor(user), incident=incident, report="Not ours to file.")
        assert err.value.code == "lab_only"
    with pytest.raises(NotFound):
        monitoring.incident_lab_report(actor=actor(world.other_lab_admin), incident=incident, report="x")
    with pytest.raises(InvalidInput):
        monitoring.incident_lab_report(actor=actor(world.lab_reviewer), incident=incident, report="  ")
    incident = monitoring.incident_lab_report(
        actor=actor(world.lab_reviewer), incident=incident, report="Root cause: the browsing tool's allowlist."
    )
    assert incident.lab_reported_by == world.lab_reviewer and incident.lab_report_late is False
    with pytest.raises(Conflict) as err:
        monitoring.incident_lab_report(actor=actor(world.lab_admin), incident=incident, report="Again.")
    assert err.value.code == "lab_report_filed"
    assert "incident.lab_report" in kinds()


def test_a_lab_report_after_the_due_date_is_late(world, sv, audited):
    incident = report(world.auditor, sv, kind=SERIOUS)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2, hours=1)):
        assert incident.is_overdue()
        incident = monitoring.incident_lab_report(actor=actor(world.lab_admin), incident=incident, report="Sorry.")
    assert incident.lab_report_late is True and not incident.is_overdue()


# The regulator's decisions


def test_resolve_and_dismiss_are_the_regulators_and_set_resolved_at(world, sv, at_stage):
    at_stage(2)
    first = report(world.lab_admin, sv, kind=SERIOUS)
    second = report(world.lab_admin, sv, kind=SERIOUS)
    for service in (monitoring.incident_resolve, monitoring.incident_dismiss):
        with pytest.raises(Forbidden):
            service(actor=actor(world.lab_admin), incident=first, note="Fixed.")
        with pytest.raises(InvalidInput):
            service(actor=actor(world.regulator), incident=first, note="")
    resolved = monitoring.incident_resolve(actor=actor(world.regulator), incident=first, note="Allowlist fixed.")
    assert (resolved.status, resolved.resolution_note) == ("resolved", "Allowlist fixed.")
    assert resolved.resolved_at is not None and resolved.resolved_by == world.regulator
    assert unresolved_serious(sv)  # the second is still open
    dismissed = monitoring.incident_dismiss(actor=actor(world.regulator), incident=second, note="Duplicate.")
    assert dismissed.status == "dismissed" and dismissed.resolved_at is not None
    assert not unresolved_serious(sv)
    # Resolving does not resume the release: that is the regulator's separate decision in deploy.
    assert Release.objects.get(system_version=sv).status == "suspended"
    for service in (monitoring.incident_resolve, monitoring.incident_dismiss, monitoring.incident_confirm):
        with pytest.raises(Conflict):
            service(actor=actor(world.regulator), incident=first, note="Again.")


# Bad input


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "no_such_kind"}, "kind"),
        ({"kind": None}, "kind"),
        ({"title": " "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": ""}, "description"),
        ({"aware_at": ago(days=2), "occurred_at": ago(days=1)}, "aware_at"),
        ({"aware_at": timezone.now() + datetime.timedelta(hours=1)}, "aware_at"),
        ({"occurred_at": datetime.datetime(2026, 1, 1)}, "occurred_at"),  # naive
    ],
)
def test_bad_input_is_refused_and_writes_nothing(world, sv, at_stage, overrides, field):
    at_stage(2)
    before = (Incident.objects.count(), LogEntry.objects.count(), AuditEvent.objects.count(), Reaudit.objects.count())
    with pytest.raises(InvalidInput) as err:
        report(world.lab_admin, sv, **{"kind": SERIOUS, **overrides})
    assert field in err.value.errors
    after = (Incident.objects.count(), LogEntry.objects.count(), AuditEvent.objects.count(), Reaudit.objects.count())
    assert after == before
    assert Release.objects.get(system_version=sv).status == "active"


# Records


def test_the_log_holds_ids_and_digests_never_the_text_nor_a_customers_name(world, limited):
    incident = report(world.customer, limited, title="Leaked the quarterly report", description="Secret detail 42.")
    entry = LogEntry.objects.get(kind="incident.report")
    leaf = json.loads(entry.leaf)
    assert leaf["record"]["incident"] == str(incident.pk)
    assert leaf["record"]["reporter_kind"] == "customer" and leaf["record"]["reporter_organisation"] is None
    assert leaf["record"]["content_sha256"]
    assert b"quarterly" not in entry.leaf and b"Secret detail" not in entry.leaf
    assert str(world.customer_org.pk).encode() not in entry.leaf
    assert incident.log_index == entry.index
    event = AuditEvent.objects.get(action="incident.report")
    assert set(event.organisations.values_list("pk", flat=True)) == {world.lab.pk, world.customer_org.pk}


# API


def _post(client, path, data):
    return client.post(path, json.dumps(data, default=str), content_type="application/json")


def test_api_report_read_and_scope(world, limited, client_for):
    data = {**body(kind=SERIOUS), "system_version": str(limited.pk)}
    r = _post(client_for(world.customer), "/api/incidents", data)
    assert r.status_code == 201, r.content
    incident = r.json()
    assert (incident["reporter_kind"], incident["status"], incident["serious"]) == ("customer", "open", True)
    assert incident["overdue"] is False and incident["lab_report"] is None
    # Someone who may not report there names a system that "does not exist".
    r = _post(client_for(world.other_lab_admin), "/api/incidents", data)
    assert r.status_code == 400 and "system_version" in r.json()["errors"]
    # The lab answers; the customer who reported sees the incident, not the lab's account.
    lab = client_for(world.lab_engineer)
    r = _post(lab, f"/api/incidents/{incident['id']}/lab-report", {"report": "Confidential root cause."})
    assert r.status_code == 200 and r.json()["lab_report"] == "Confidential root cause."
    customer_view = client_for(world.customer).get(f"/api/incidents/{incident['id']}").json()
    assert customer_view["lab_report"] is None and customer_view["lab_reported_at"] is not None
    assert client_for(world.auditor).get(f"/api/incidents/{incident['id']}").json()["lab_report"]
    # Who sees which incidents.
    seen = {
        who: {i["id"] for i in client_for(getattr(world, who)).get("/api/incidents").json()["results"]}
        for who in ("regulator", "lab_reviewer", "auditor", "customer", "other_lab_admin", "other_auditor", "outsider")
    }
    assert seen["regulator"] == seen["lab_reviewer"] == seen["auditor"] == seen["customer"] == {incident["id"]}
    assert seen["other_lab_admin"] == seen["other_auditor"] == seen["outsider"] == set()
    assert client_for(world.other_lab_admin).get(f"/api/incidents/{incident['id']}").status_code == 404
    # Filters.
    reg = client_for(world.regulator)
    assert reg.get("/api/incidents", {"serious": "false"}).json()["results"] == []
    assert len(reg.get("/api/incidents", {"system_version": str(limited.pk), "status": "open"}).json()["results"]) == 1
    assert reg.get("/api/incidents", {"status": "bogus"}).status_code == 400
    # The regulator confirms: the release is suspended.
    r = _post(reg, f"/api/incidents/{incident['id']}/confirm", {"note": "Checked with the lab."})
    assert r.status_code == 200 and r.json()["suspended_release_at"] and r.json()["reaudit"]
    assert _post(lab, f"/api/incidents/{incident['id']}/resolve", {"note": "x"}).status_code == 403
    r = _post(reg, f"/api/incidents/{incident['id']}/resolve", {"note": "Fixed and re-audited."})
    assert r.status_code == 200 and r.json()["status"] == "resolved" and r.json()["resolved_at"]
    assert _post(reg, f"/api/incidents/{incident['id']}/dismiss", {"note": "x"}).status_code == 409


def test_api_list_query_count_does_not_grow_with_incidents(world, sv, client_for, django_assert_max_num_queries):
    for _ in range(3):
        report(world.lab_admin, sv)
    client = client_for(world.lab_admin)
    with django_assert_max_num_queries(8) as one:
        client.get("/api/incidents")
    for _ in range(5):
        report(world.lab_admin, sv)
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(client.get("/api/incidents").json()["results"]) == 8
