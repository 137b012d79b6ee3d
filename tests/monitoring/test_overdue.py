"""Overdue lab reports: computed live, and flagged once each (logged as
``incident.overdue``) by the periodic task, under frozen time."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from core.models import AuditEvent
from monitoring import services as monitoring
from monitoring.tasks import incidents_flag_overdue_task
from tests.auditing.conftest import actor
from tests.monitoring.conftest import report
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db

SERIOUS = "critical_infrastructure"  # 2 days


def later(days: float):
    return time_machine.travel(timezone.now() + datetime.timedelta(days=days), tick=False)


def test_an_unfiled_lab_report_becomes_overdue_and_is_flagged_once(world, sv, audited, client_for):
    incident = report(world.auditor, sv, kind=SERIOUS)
    own = report(world.lab_admin, sv, kind=SERIOUS)  # the lab's own report owes nothing more
    assert incidents_flag_overdue_task() == 0
    with later(1):
        assert monitoring.incidents_flag_overdue() == 0
        assert client_for(world.regulator).get(f"/api/incidents/{incident.pk}").json()["overdue"] is False
    with later(2.1):
        body = client_for(world.regulator).get(f"/api/incidents/{incident.pk}").json()
        assert body["overdue"] is True and body["overdue_flagged_at"] is None  # live, before the task runs
        overdue = client_for(world.regulator).get("/api/incidents", {"overdue": "true"}).json()["results"]
        assert [i["id"] for i in overdue] == [str(incident.pk)]
        assert incidents_flag_overdue_task() == 1
        assert incidents_flag_overdue_task() == 0  # once
    incident.refresh_from_db()
    own.refresh_from_db()
    assert incident.overdue_flagged and incident.overdue_flagged_at is not None
    assert not own.overdue_flagged
    assert LogEntry.objects.filter(kind="incident.overdue", subject_id=str(incident.pk)).count() == 1
    event = AuditEvent.objects.get(action="incident.overdue")
    assert event.actor is None and event.actor_label == "system:monitoring.incidents_flag_overdue"
    # Filing late clears "overdue"; the flag stays as the record that it was.
    with later(3):
        monitoring.incident_lab_report(actor=actor(world.lab_admin), incident=incident, report="Late, sorry.")
        incident.refresh_from_db()
        assert not incident.is_overdue() and incident.lab_report_late and incident.overdue_flagged


def test_closed_incidents_and_filed_reports_are_not_flagged(world, sv, audited):
    dismissed = report(world.auditor, sv, kind=SERIOUS)
    monitoring.incident_dismiss(actor=actor(world.regulator), incident=dismissed, note="Not an incident.")
    filed = report(world.auditor, sv, kind=SERIOUS)
    monitoring.incident_lab_report(actor=actor(world.lab_admin), incident=filed, report="On time.")
    confirmed = report(world.auditor, sv, kind=SERIOUS)
    monitoring.incident_confirm(actor=actor(world.regulator), incident=confirmed)
    with later(10):
        assert monitoring.incidents_flag_overdue() == 1
    confirmed.refresh_from_db()
    assert confirmed.overdue_flagged
