"""Notifications (issue 16, item 7): each trigger tells the right people and
nobody else, by email too; the inbox shows a person only their own; the
deadline reminder goes out once."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from auditing import services as auditing
from deploy import services as deploy
from monitoring.models import Incident
from notifications.models import Notification
from notifications.services import deadline_reminders_send
from tests.auditing.conftest import actor

pytestmark = pytest.mark.django_db


def names(qs: Any = None) -> set[str]:
    qs = Notification.objects.all() if qs is None else qs
    return set(qs.values_list("recipient__username", flat=True))


def outbox_to() -> set[str]:
    return {address for message in mail.outbox for address in message.to}


def _file(gate: Any) -> Any:
    return auditing.finding_file(
        actor=actor(gate.w.auditor),
        audit=gate.audit,
        title="Hides a tool call",
        description="The transcript omits it.",
        severity="high",
        risk_area="deception",
        capability_kind="contextual",
    )


# --- triggers ---------------------------------------------------------------------


def test_a_decided_request_tells_the_labs_admins_only(gate, django_capture_on_commit_callbacks):
    gate.internal()
    gate_request = deploy.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv)
    assert Notification.objects.count() == 0  # a request made notifies nobody
    with django_capture_on_commit_callbacks(execute=True):
        deploy.gate_request_decide(
            actor=actor(gate.w.regulator), gate_request=gate_request, decision="reject", reason="Not convinced."
        )
    assert names() == {"lab_admin"}
    n = Notification.objects.get()
    assert n.kind == "gate_request_decided" and "rejected" in n.title
    assert n.link == f"/portal/gate-requests/{gate_request.pk}" and n.target_id == str(gate_request.pk)
    assert n.event is not None and n.event.action == "gate_request.reject"
    assert outbox_to() == {gate.w.lab_admin.email}
    assert n.emailed_at is not None or Notification.objects.get(pk=n.pk).emailed_at is not None


def test_a_filed_finding_tells_the_lab_and_not_other_organisations(gate, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        finding = _file(gate)
    told = names()
    assert {"lab_admin", "lab_engineer"} <= told
    # Only the lab's members, never the filer, another lab, another auditor or a customer.
    assert told <= {"lab_admin", "lab_engineer", "lab_reviewer", "lab_reviewer_2"}
    assert set(Notification.objects.values_list("kind", flat=True)) == {"finding_filed"}
    assert set(Notification.objects.values_list("target_id", flat=True)) == {str(finding.pk)}
    assert outbox_to() == {f"{u}@example.test" for u in told}


def test_an_answer_tells_the_filing_auditor_organisation_only(gate, django_capture_on_commit_callbacks):
    finding = _file(gate)  # callbacks not run: nothing from the filing
    with django_capture_on_commit_callbacks(execute=True):
        auditing.finding_respond(actor=actor(gate.w.lab_admin), finding=finding, note="We disagree; see the logs.")
    assert names() == {"auditor"}  # not other_auditor, though assigned to the same audit
    n = Notification.objects.get()
    assert n.kind == "finding_answered" and n.link == f"/portal/findings/{finding.pk}"
    assert outbox_to() == {gate.w.auditor.email}


def test_a_halt_tells_the_lab_enrolled_customers_and_assigned_auditors_only(django_capture_on_commit_callbacks):
    from tests.test_permission_matrix import build_scene

    scene = (
        build_scene()
    )  # Acme (the world's customer) enrolled in stage2_sv; Sentinel audits it; Globex only consented
    Notification.objects.all().delete()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        deploy.release_halt(actor=actor(scene.w.regulator), system_version=scene.stage2_sv, reason="Incident.")
    told = names()
    assert {"customer", "auditor", "lab_admin"} <= told
    assert not told & {"regulator", "other_lab_admin", "other_auditor", "academic", "outsider", "globex_member"}
    assert told <= {"customer", "auditor", "lab_admin", "lab_engineer", "lab_reviewer"}
    assert set(Notification.objects.values_list("kind", flat=True)) == {"release_halted"}
    # The customer sees its enrolment, not the release page (which would be a 404 for it).
    assert Notification.objects.get(recipient=scene.w.customer).link == "/portal/enrolments"
    assert Notification.objects.get(recipient=scene.w.lab_admin).link == f"/portal/releases/{scene.stage2_sv.pk}"
    assert outbox_to() == {f"{u}@example.test" for u in told}


def test_a_suspension_notifies_with_its_own_kind(gate, django_capture_on_commit_callbacks):
    from tests.factories import release_at

    release_at(gate.sv, 1)
    with django_capture_on_commit_callbacks(execute=True):
        deploy.release_suspend(actor=actor(gate.w.regulator), system_version=gate.sv, reason="Sign-offs expired.")
    assert Notification.objects.exists()
    assert set(Notification.objects.values_list("kind", flat=True)) == {"release_suspended"}
    assert "other_lab_admin" not in names() and "customer" not in names()


def test_a_rolled_back_write_notifies_nobody(gate, django_capture_on_commit_callbacks):
    from django.db import transaction

    def write_then_fail() -> None:
        with transaction.atomic():
            _file(gate)
            raise RuntimeError("the caller fails after the write")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        write_then_fail()
    assert Notification.objects.count() == 0 and mail.outbox == []


def test_a_failing_mail_server_never_breaks_the_write(gate, django_capture_on_commit_callbacks, monkeypatch, caplog):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("notifications.services.send_mail", refuse)
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        with django_capture_on_commit_callbacks(execute=True):
            finding = _file(gate)
    assert finding.pk is not None
    assert Notification.objects.exists()  # the inbox still has it
    assert not Notification.objects.filter(emailed_at__isnull=False).exists()
    assert "could not email" in caplog.text


# --- deadlines --------------------------------------------------------------------


def _incident(gate: Any, due_in: datetime.timedelta) -> Incident:
    from monitoring import services as monitoring
    from tests.factories import release_at

    release_at(gate.sv, 1)
    aware = timezone.now() - datetime.timedelta(hours=1)
    incident = monitoring.incident_report(
        actor=actor(gate.w.auditor),
        system_version=gate.sv,
        kind="other",
        title="Reached a paid API",
        description="Through the browsing tool.",
        occurred_at=aware,
        aware_at=aware,
    )
    Incident.objects.filter(pk=incident.pk).update(lab_report_due_at=timezone.now() + due_in)
    return Incident.objects.get(pk=incident.pk)


def test_a_near_deadline_is_reminded_once(gate, django_capture_on_commit_callbacks):
    incident = _incident(gate, datetime.timedelta(hours=5))
    with django_capture_on_commit_callbacks(execute=True):
        made = deadline_reminders_send()
    told = names(Notification.objects.filter(kind="deadline_near"))
    assert made == len(told) and "lab_admin" in told
    assert told <= {"lab_admin", "lab_engineer", "lab_reviewer", "lab_reviewer_2"}
    assert set(Notification.objects.filter(kind="deadline_near").values_list("target_id", flat=True)) == {
        str(incident.pk)
    }
    sent = len(mail.outbox)
    assert sent >= 1
    # Again, and again an hour later: nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert deadline_reminders_send() == 0
        assert deadline_reminders_send(now=timezone.now() + datetime.timedelta(hours=1)) == 0
    assert Notification.objects.filter(kind="deadline_near").count() == len(told)
    assert len(mail.outbox) == sent


def test_far_filed_or_past_deadlines_are_not_reminded(gate):
    far = _incident(gate, datetime.timedelta(days=3))
    assert deadline_reminders_send() == 0
    # Once filed, a deadline that comes near is no longer owed.
    Incident.objects.filter(pk=far.pk).update(
        lab_report_due_at=timezone.now() + datetime.timedelta(hours=2), lab_reported_at=timezone.now()
    )
    assert deadline_reminders_send() == 0
    Incident.objects.filter(pk=far.pk).update(
        lab_report_due_at=timezone.now() - datetime.timedelta(hours=2), lab_reported_at=None
    )
    assert deadline_reminders_send() == 0  # overdue: flagged by monitoring, not reminded
    assert not Notification.objects.filter(kind="deadline_near").exists()


def test_the_reminder_task_runs_the_service(gate):
    from notifications.tasks import deadline_reminders_task

    _incident(gate, datetime.timedelta(hours=1))
    assert deadline_reminders_task() >= 1
    assert deadline_reminders_task() == 0


# --- the inbox ---------------------------------------------------------------------


def _notified(gate: Any, django_capture_on_commit_callbacks: Any) -> Notification:
    with django_capture_on_commit_callbacks(execute=True):
        _file(gate)
    return Notification.objects.get(recipient=gate.w.lab_admin)


def test_the_inbox_lists_only_ones_own(gate, client_for, django_capture_on_commit_callbacks):
    n = _notified(gate, django_capture_on_commit_callbacks)
    r = client_for(gate.w.lab_admin).get("/api/notifications")
    assert r.status_code == 200
    assert [item["id"] for item in r.json()["results"]] == [str(n.pk)]
    assert r.json()["results"][0]["read_at"] is None
    for other in (gate.w.other_lab_admin, gate.w.auditor, gate.w.regulator):
        r = client_for(other).get("/api/notifications")
        assert r.status_code == 200 and r.json()["results"] == []
    assert client_for(gate.w.lab_admin).get("/api/notifications?unread=maybe").status_code == 400
    # The browsable API renders it too (its own list only).
    page = client_for(gate.w.lab_admin).get("/api/notifications", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and str(n.pk) in page.content.decode()
    page = client_for(gate.w.outsider).get("/api/notifications", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and str(n.pk) not in page.content.decode()


def test_marking_read_is_for_the_recipient_only(gate, client_for, api, django_capture_on_commit_callbacks):
    n = _notified(gate, django_capture_on_commit_callbacks)
    assert api.post(f"/api/notifications/{n.pk}/read").status_code == 401
    for other in (gate.w.other_lab_admin, gate.w.lab_engineer, gate.w.regulator):
        r = client_for(other).post(f"/api/notifications/{n.pk}/read")
        assert r.status_code == 404 and r.json()["status"] == 404
    n.refresh_from_db()
    assert n.read_at is None  # nothing written by the refused attempts
    r = client_for(gate.w.lab_admin).post(f"/api/notifications/{n.pk}/read")
    assert r.status_code == 200 and r.json()["read_at"] is not None
    n.refresh_from_db()
    first = n.read_at
    assert first is not None
    client_for(gate.w.lab_admin).post(f"/api/notifications/{n.pk}/read")
    n.refresh_from_db()
    assert n.read_at == first  # read once, the first time kept
    r = client_for(gate.w.lab_admin).get("/api/notifications?unread=true")
    assert r.json()["results"] == []


def test_handling_an_event_twice_makes_nothing_new(gate, django_capture_on_commit_callbacks):
    from core.models import AuditEvent
    from notifications.services import EVENT_KINDS, notify_for_event

    with django_capture_on_commit_callbacks(execute=True):
        finding = _file(gate)
    event = AuditEvent.objects.get(action="finding.file", target_id=str(finding.pk))
    count, sent = Notification.objects.count(), len(mail.outbox)
    assert count >= 1
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_for_event(event.pk) == []
    assert (Notification.objects.count(), len(mail.outbox)) == (count, sent)
    # An action that does not notify makes nothing.
    other = AuditEvent.objects.exclude(action__in=list(EVENT_KINDS)).first()
    assert other is not None and notify_for_event(other.pk) == []


def test_the_assigned_auditors_and_the_lab_are_reminded_of_a_scheduled_online_learning_reaudit(gate):
    import time_machine

    from deploy.services import online_learning_expire
    from tests.deploy.test_gates import open_stage

    gate.sv.online_learning = True
    gate.sv.save(update_fields=["online_learning"])
    gate.internal()
    open_stage(gate, 1)
    assert deadline_reminders_send() == 0  # nothing owed yet
    with time_machine.travel(timezone.now() + datetime.timedelta(days=80)):
        online_learning_expire()
        made = deadline_reminders_send()
        told = names(Notification.objects.filter(kind="deadline_near", target_type="deploy.reaudit"))
        assert made == len(told) and {"auditor", "lab_admin"} <= told
        assert "customer" not in told and "other_lab_admin" not in told and "regulator" not in told
        assert deadline_reminders_send() == 0  # once
