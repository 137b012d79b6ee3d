"""The regulator's portal (server-rendered): sign-in, scoping by actor (404 for
what one may not see), the review queue, decisions, refusals that show the
checklist and write nothing, and the regulator's release, re-audit and
sanction forms. Real templates, real services."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from deploy import services
from deploy.models import GateRequest, Reaudit, Release, Sanction
from labs import services as labs
from monitoring import services as monitoring
from tests.auditing.conftest import actor, make_system_version
from tests.deploy.conftest import Gate, days
from tests.factories import release_at
from transparency.models import LogEntry

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int, int, int]:
    """Rows a refused action must not add to."""
    return (
        GateRequest.objects.count(),
        LogEntry.objects.count(),
        AuditEvent.objects.count(),
        Sanction.objects.count(),
        Reaudit.objects.count(),
    )


def pending_request(gate: Gate, note: str = "Two reviewers signed.") -> GateRequest:
    gate.internal()
    return services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv, note=note)


def release_url(gate: Gate) -> str:
    return f"/portal/releases/{gate.sv.pk}"


def stage_of(gate: Gate) -> tuple[int, str]:
    release = Release.objects.filter(system_version=gate.sv).first()
    return (release.stage, release.status) if release else (0, "active")


# --- signing in -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/portal/", "/portal/releases/00000000-0000-0000-0000-000000000000", "/portal/sanctions", "/portal/incidents"],
)
def test_every_page_needs_a_signed_in_user(client: Client, path: str):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login?next=")


def test_a_form_post_while_signed_out_changes_nothing(client: Client, gate: Gate):
    gate_request = pending_request(gate)
    before = counts()
    response = client.post(f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "approve", "reason": "ok"})
    assert response.status_code == 302 and response["Location"].startswith("/portal/login")
    assert counts() == before and stage_of(gate) == (0, "active")


def test_sign_in_and_out_with_the_session(client: Client, world):
    assert client.get("/").headers["Location"] == "/portal/"
    page = client.get("/portal/login")
    assert page.status_code == 200 and b'<label for="id_username">' in page.content
    wrong = client.post("/portal/login", {"username": "regulator", "password": "not it"})
    assert wrong.status_code == 200 and b"did not match" in wrong.content
    signed_in = client.post("/portal/login", {"username": "regulator", "password": "correct horse battery staple"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/portal/"
    assert b"Review queue" in client.get("/portal/").content
    assert client.post("/portal/logout").status_code == 302
    assert client.get("/portal/").status_code == 302


def test_forms_need_the_csrf_token(world, gate: Gate):
    gate_request = pending_request(gate)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.regulator)
    response = strict.post(f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "approve", "reason": "ok"})
    assert response.status_code == 403
    assert GateRequest.objects.get(pk=gate_request.pk).status == "pending"


# --- what each person sees ------------------------------------------------------


def test_a_lab_member_cannot_see_another_labs_release(login, gate: Gate):
    gate_request = pending_request(gate)
    other = login(gate.w.other_lab_admin)
    assert other.get(release_url(gate)).status_code == 404
    assert other.get(f"/portal/gate-requests/{gate_request.pk}").status_code == 404
    before = counts()
    assert other.post(f"{release_url(gate)}/halt", {"reason": "mine now"}).status_code == 404
    assert other.post(f"{release_url(gate)}/request", {"to_stage": 1}).status_code == 404
    assert counts() == before
    # Nor does it list it.
    assert str(gate.sv.pk).encode() not in other.get("/portal/").content
    # The lab's own people and an assigned auditor see it.
    assert login(gate.w.lab_engineer).get(release_url(gate)).status_code == 200
    assert login(gate.w.auditor).get(release_url(gate)).status_code == 200
    assert login(gate.w.outsider).get(release_url(gate)).status_code == 404


def test_the_regulators_home_takes_the_same_queries_however_long_the_queue(login, gate: Gate):
    def one_more(name: str) -> None:
        sv = make_system_version(gate.w.lab, gate.w.lab_engineer, name=name)
        gate.sign(gate.w.lab_reviewer, 1, sv=sv)
        gate.sign(gate.reviewer_2, 1, sv=sv)
        services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=sv)
        release_at(sv, 0, "halted")
        services.reaudit_open(actor=actor(gate.w.regulator), system_version=sv, source="regulator", reason="Check.")

    regulator = login(gate.w.regulator)
    one_more("first")
    regulator.get("/portal/")  # warm the session
    with CaptureQueriesContext(connection) as few:
        regulator.get("/portal/")
    for name in ("second", "third", "fourth"):
        one_more(name)
    with CaptureQueriesContext(connection) as many:
        page = regulator.get("/portal/")
    assert page.content.decode().count("Review the request for stage 1") == 4
    assert len(many) == len(few)


def test_a_lab_member_sees_the_labs_versions_with_stage_and_status(login, gate: Gate):
    release_at(gate.sv, 2, "suspended")
    page = login(gate.w.lab_reviewer).get("/portal/")
    text = page.content.decode()
    assert page.status_code == 200 and "Your lab's system versions" in text
    assert f'href="/portal/releases/{gate.sv.pk}"' in text
    assert "Stage 2: limited release to vetted customers" in text and "Suspended" in text
    assert "Review queue" not in text


def test_the_regulators_queue_lists_a_pending_request(login, gate: Gate):
    gate_request = pending_request(gate)
    release_at(gate.sv, 0, "halted")  # and the halted list shows the release
    text = login(gate.w.regulator).get("/portal/").content.decode()
    queue = text.split("Halted and suspended releases")[0]
    assert f'href="/portal/gate-requests/{gate_request.pk}"' in queue
    assert "Aurora v1" in queue and "Aurora Labs" in queue and "0 → 1" in queue and "passed" in queue
    stopped = text.split("Halted and suspended releases")[1]
    assert f'href="/portal/releases/{gate.sv.pk}"' in stopped and "Halted by the regulator" in stopped


def test_the_release_page_shows_the_checklist_before_anyone_asks(login, gate: Gate):
    gate.sign(gate.w.lab_reviewer, 1)
    page = login(gate.w.lab_admin).get(release_url(gate))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Checklist for Stage 1" in text
    assert "Not met</span>" not in text  # the mark is words, not a class
    assert "✘</span> Not met:" in text and "✔</span> Met:" in text
    assert "lab-internal sign-offs from distinct reviewers" in text
    assert "1 distinct lab reviewer(s) signed; the standard needs 2" in text
    assert "/api/signoffs/" in text  # evidence links
    assert "Request stage 1" in text  # the lab admin's form
    # The first version runs every suite the standard requires.
    assert "This is the first version of the system" in text and "must be run" in text
    # Only the lab admin gets the request form; only the regulator the halt form.
    assert "Request stage 1" not in login(gate.w.lab_engineer).get(release_url(gate)).content.decode()
    assert "Halt the release" not in text
    assert "Halt the release" in login(gate.w.regulator).get(release_url(gate)).content.decode()


def test_a_successor_shows_what_changed_and_which_suites_to_run(login, gate: Gate):
    successor = labs.system_version_revise(
        actor=actor(gate.w.lab_engineer),
        system_version=gate.sv,
        change_summary="Firmer prompt",
        system_prompt="You are a very careful assistant.",
    )
    text = login(gate.w.lab_admin).get(f"/portal/releases/{successor.pk}").content.decode()
    assert f'href="/portal/releases/{gate.sv.pk}">v1</a>' in text
    changed = text.split("Parts of the system")[1].split("</table>")[0]
    assert "System prompt</th><td>changed" in changed and "Weights (model version)</th><td>unchanged" in changed
    suites = text.split("Suites the standard requires before stage 2")[1].split("</table>")[0]
    assert "insider_trading_deception" in suites and "must be run on this version" in suites
    assert "system prompt" in suites  # the gate's reason for the re-run


def test_a_release_at_the_last_stage_has_no_further_gate(login, gate: Gate):
    release_at(gate.sv, 3)
    page = login(gate.w.lab_admin).get(release_url(gate))
    text = page.content.decode()
    assert page.status_code == 200 and "no further gate" in text and "Request stage" not in text


# --- the lab's request ----------------------------------------------------------


def test_a_refused_request_shows_the_unmet_item_and_writes_nothing(login, gate: Gate):
    gate.sign(gate.w.lab_reviewer, 1)  # one reviewer: the standard needs two
    before = counts()
    response = login(gate.w.lab_admin).post(f"{release_url(gate)}/request", {"to_stage": 1, "note": "Please."})
    text = response.content.decode()
    assert response.status_code == 409
    assert "The checklist that refused the request" in text
    assert "✘</span> Not met:</span>\n      ≥ 2 lab-internal sign-offs from distinct reviewers" in text
    assert "requirement(s) of the standard are not met" in text
    assert "Please." in text  # the note is kept in the form
    assert counts() == before and stage_of(gate) == (0, "active")


def test_a_lab_admin_requests_and_withdraws_through_the_forms(login, gate: Gate):
    gate.internal()
    admin = login(gate.w.lab_admin)
    response = admin.post(f"{release_url(gate)}/request", {"to_stage": 1, "note": "Ready for auditors."})
    gate_request = GateRequest.objects.get(system_version=gate.sv)
    assert response.status_code == 302 and response["Location"] == f"/portal/releases/{gate.sv.pk}"
    assert gate_request.status == "pending" and gate_request.note == "Ready for auditors."
    page = admin.get(release_url(gate)).content.decode()
    assert "Requested stage 1" in page and "waiting for the regulator" in page
    # A lab engineer may see the page but not ask or withdraw.
    engineer = login(gate.w.lab_engineer)
    before = counts()
    assert engineer.post(f"/portal/gate-requests/{gate_request.pk}/withdraw").status_code == 403
    assert counts() == before
    assert admin.post(f"/portal/gate-requests/{gate_request.pk}/withdraw").status_code == 302
    assert GateRequest.objects.get(pk=gate_request.pk).status == "withdrawn"


def test_a_request_for_the_wrong_stage_or_a_bad_form_is_refused(login, gate: Gate):
    gate.internal()
    admin = login(gate.w.lab_admin)
    before = counts()
    assert admin.post(f"{release_url(gate)}/request", {"to_stage": 2}).status_code == 409
    assert admin.post(f"{release_url(gate)}/request", {"to_stage": "x"}).status_code == 400
    assert admin.post(f"{release_url(gate)}/request", {"to_stage": 1, "note": "n" * 2001}).status_code == 400
    assert counts() == before


# --- the regulator's decision -----------------------------------------------------


def test_the_regulator_approves_through_the_form(login, gate: Gate):
    gate_request = pending_request(gate)
    regulator = login(gate.w.regulator)
    page = regulator.get(f"/portal/gate-requests/{gate_request.pk}").content.decode()
    assert "The checklist as it is now" in page and "The checklist as stored with the request" in page
    assert 'value="approve"' in page and 'value="reject"' in page
    response = regulator.post(
        f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "approve", "reason": "Both reviewers signed."}
    )
    assert response.status_code == 302 and response["Location"] == f"/portal/gate-requests/{gate_request.pk}"
    gate_request.refresh_from_db()
    assert gate_request.status == "approved" and gate_request.decision_reason == "Both reviewers signed."
    assert stage_of(gate) == (1, "active")
    entry = LogEntry.objects.get(index=gate_request.decision_log_index)
    assert entry.kind == "gate.approved"
    page = regulator.get(response["Location"]).content.decode()
    assert "Approved: the release is now at stage 1" in page
    assert f'href="/portal/log/{entry.index}"' in page
    assert "Sign-offs this approval consumed" in page
    assert 'value="approve"' not in page  # decided: no form


def test_the_regulator_rejects_with_a_reason(login, gate: Gate):
    gate_request = pending_request(gate)
    regulator = login(gate.w.regulator)
    before = counts()
    # A decision needs a reason: 400, nothing written.
    missing = regulator.post(f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "reject", "reason": ""})
    assert missing.status_code == 400 and b"reason" in missing.content
    assert (
        regulator.post(
            f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "maybe", "reason": "x"}
        ).status_code
        == 400
    )
    assert counts() == before
    response = regulator.post(
        f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "reject", "reason": "Not convinced."}
    )
    assert response.status_code == 302
    gate_request.refresh_from_db()
    assert gate_request.status == "rejected" and stage_of(gate) == (0, "active")
    assert LogEntry.objects.get(index=gate_request.decision_log_index).kind == "gate.rejected"


@pytest.mark.parametrize("who", ["lab_admin", "lab_engineer", "auditor"])
def test_a_non_regulator_posting_the_approve_form_gets_403(login, gate: Gate, who: str):
    gate_request = pending_request(gate)
    before = counts()
    response = login(getattr(gate.w, who)).post(
        f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "approve", "reason": "Looks fine to me."}
    )
    assert response.status_code == 403
    assert b"Only the regulator may do this." in response.content
    assert GateRequest.objects.get(pk=gate_request.pk).status == "pending"
    assert counts() == before and stage_of(gate) == (0, "active")


def test_an_approval_the_re_evaluation_refuses_shows_the_new_checklist(login, gate: Gate):
    gate_request = pending_request(gate)
    services.release_halt(actor=actor(gate.w.regulator), system_version=gate.sv, reason="Investigating.")
    before = counts()
    response = login(gate.w.regulator).post(
        f"/portal/gate-requests/{gate_request.pk}/decide", {"decision": "approve", "reason": "Looks fine."}
    )
    text = response.content.decode()
    assert response.status_code == 409
    assert "The checklist now, which refused the approval" in text
    assert "✘</span> Not met:</span>\n      The release is active" in text
    assert "The release is halted: Investigating." in text
    assert GateRequest.objects.get(pk=gate_request.pk).status == "pending"
    assert counts() == before and stage_of(gate) == (0, "halted")


# --- halt, resume, re-audit -------------------------------------------------------


def test_sending_a_release_back_or_sanctioning_takes_two_people_in_the_portal_too(login, gate: Gate):
    # The default (STAGEGATE_TWO_PERSON_DECISIONS): the one-person forms refuse,
    # as the API does, and write nothing; the decision goes to /portal/decisions.
    release_at(gate.sv, 2)
    regulator = login(gate.w.regulator)
    before = counts()
    back = regulator.post(f"{release_url(gate)}/halt", {"reason": "Serious incident.", "to_stage": "1"})
    assert back.status_code == 409 and b"needs two people at the regulator" in back.content
    sanction = regulator.post("/portal/sanctions/issue", {"lab": str(gate.w.lab.pk), "reason": "Ignored a finding."})
    assert sanction.status_code == 409 and b"needs two people at the regulator" in sanction.content
    assert counts() == before and stage_of(gate) == (2, "active")
    assert not Sanction.objects.exists()
    # A halt that only stops the release stays one person's.
    assert regulator.post(f"{release_url(gate)}/halt", {"reason": "Stop now."}).status_code == 302
    assert stage_of(gate) == (2, "halted")


def test_the_regulator_halts_through_the_form(login, gate: Gate, settings):
    settings.STAGEGATE_TWO_PERSON_DECISIONS = []  # a standard that lets one person send a release back
    release_at(gate.sv, 2)
    regulator = login(gate.w.regulator)
    page = regulator.get(release_url(gate)).content.decode()
    assert '<option value="1">Stage 1: certified auditors' in page and '<option value="3"' not in page
    before = LogEntry.objects.count()
    response = regulator.post(
        f"{release_url(gate)}/halt", {"reason": "Serious incident under review.", "to_stage": "1"}
    )
    assert response.status_code == 302
    release = Release.objects.get(system_version=gate.sv)
    assert (release.stage, release.status, release.reason) == (1, "halted", "Serious incident under review.")
    assert LogEntry.objects.count() == before + 1
    assert LogEntry.objects.order_by("-index").first().kind == "release.halt"
    page = regulator.get(release_url(gate)).content.decode()
    assert "The release is halted at stage 1" in page and "Resume the release" in page


def test_a_halt_without_a_reason_or_by_someone_else_changes_nothing(login, gate: Gate):
    release_at(gate.sv, 2)
    before = counts()
    missing = login(gate.w.regulator).post(f"{release_url(gate)}/halt", {"reason": ""})
    assert missing.status_code == 400 and b"This field is required." in missing.content
    higher = login(gate.w.regulator).post(f"{release_url(gate)}/halt", {"reason": "x", "to_stage": "3"})
    assert higher.status_code == 400
    refused = login(gate.w.lab_admin).post(f"{release_url(gate)}/halt", {"reason": "Our own halt."})
    assert refused.status_code == 403 and b"Only the regulator may do this." in refused.content
    assert counts() == before and stage_of(gate) == (2, "active")


def test_the_regulator_resumes_and_requires_a_reaudit(login, gate: Gate):
    release_at(gate.sv, 1, "halted")
    regulator = login(gate.w.regulator)
    assert regulator.post(f"{release_url(gate)}/resume", {"reason": "Cleared."}).status_code == 302
    assert stage_of(gate) == (1, "active")
    # Resuming an active release is a conflict, shown on the page.
    again = regulator.post(f"{release_url(gate)}/resume", {"reason": "Again."})
    assert again.status_code == 409 and b"cannot be resumed" in again.content
    assert login(gate.w.lab_admin).post(f"{release_url(gate)}/reaudit", {"reason": "x"}).status_code == 403
    assert Reaudit.objects.count() == 0
    response = regulator.post(f"{release_url(gate)}/reaudit", {"reason": "New jailbreak class published."})
    assert response.status_code == 302
    reaudit = Reaudit.objects.get(system_version=gate.sv)
    assert reaudit.origin == "regulator" and reaudit.log_index is not None
    page = regulator.get(release_url(gate)).content.decode()
    assert "New jailbreak class published." in page
    assert "Re-audit required (required by the regulator) is done" in page  # now on the checklist


# --- sanctions --------------------------------------------------------------------


def test_the_regulator_issues_and_lifts_a_sanction(login, gate: Gate, settings):
    settings.STAGEGATE_TWO_PERSON_DECISIONS = []  # one person may sanction under this setting
    regulator = login(gate.w.regulator)
    page = regulator.get("/portal/sanctions").content.decode()
    assert "escalates automatically" in page and "Aurora Labs (next sanction: warning)" in page
    response = regulator.post("/portal/sanctions/issue", {"lab": str(gate.w.lab.pk), "reason": "Ignored a finding."})
    assert response.status_code == 302
    sanction = Sanction.objects.get(lab=gate.w.lab)
    assert sanction.level == "warning" and sanction.log_index is not None
    page = regulator.get("/portal/sanctions").content.decode()
    assert "Aurora Labs is sanctioned: warning." in page
    assert "Aurora Labs (next sanction: extra audit required)" in page
    # The second is an extra audit: it needs the system version that owes it.
    before = counts()
    second = regulator.post("/portal/sanctions/issue", {"lab": str(gate.w.lab.pk), "reason": "Again."})
    assert second.status_code == 400 and b"name the system version" in second.content
    assert counts() == before
    second = regulator.post(
        "/portal/sanctions/issue",
        {"lab": str(gate.w.lab.pk), "reason": "Again.", "system_version": str(gate.sv.pk)},
    )
    assert second.status_code == 302
    assert Reaudit.objects.filter(system_version=gate.sv, origin="sanction").exists()
    # Lift the warning.
    assert regulator.post(f"/portal/sanctions/{sanction.pk}/lift", {"reason": ""}).status_code == 400
    assert regulator.post(f"/portal/sanctions/{sanction.pk}/lift", {"reason": "Finding answered."}).status_code == 302
    sanction.refresh_from_db()
    assert sanction.lifted_at is not None and sanction.lift_reason == "Finding answered."


def test_a_lab_sees_only_its_own_sanctions_and_cannot_issue_or_lift(login, gate: Gate, settings):
    settings.STAGEGATE_TWO_PERSON_DECISIONS = []  # set-up: one regulator user issues the sanction
    sanction = services.sanction_issue(actor=actor(gate.w.regulator), lab=gate.w.lab, reason="Late incident report.")
    own = login(gate.w.lab_admin)
    page = own.get("/portal/sanctions").content.decode()
    assert "Late incident report." in page and "Issue a sanction" not in page and "Lift this sanction" not in page
    other = login(gate.w.other_lab_admin)
    assert "Late incident report." not in other.get("/portal/sanctions").content.decode()
    before = counts()
    assert other.post(f"/portal/sanctions/{sanction.pk}/lift", {"reason": "x"}).status_code == 404
    assert own.post(f"/portal/sanctions/{sanction.pk}/lift", {"reason": "x"}).status_code == 403
    refused = own.post("/portal/sanctions/issue", {"lab": str(gate.w.other_lab.pk), "reason": "They did worse."})
    assert refused.status_code == 403
    assert counts() == before


# --- incidents --------------------------------------------------------------------


def test_the_regulator_lists_open_incidents_with_overdue_flags(login, gate: Gate):
    release_at(gate.sv, 2)
    now = timezone.now()
    incident = monitoring.incident_report(
        actor=actor(gate.w.regulator),
        system_version=gate.sv,
        kind="other",
        title="Tool misuse seen in the wild",
        description="Reached a paid service through browsing.",
        occurred_at=now - days(1),
        aware_at=now - days(1),
    )
    regulator = login(gate.w.regulator)
    text = regulator.get("/portal/incidents").content.decode()
    assert "Tool misuse seen in the wild" in text and f'href="/portal/releases/{gate.sv.pk}"' in text
    assert "Overdue</strong>" not in text
    with time_machine.travel(incident.lab_report_due_at + days(1)):
        # (signed in afresh: the session would have expired by then)
        text = login(gate.w.regulator).get("/portal/incidents").content.decode()
    assert "⚠</span> Overdue" in text
    # The other lab sees none of it.
    assert "Tool misuse" not in login(gate.w.other_lab_admin).get("/portal/incidents").content.decode()
