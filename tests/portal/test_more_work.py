"""The work pages (portal/work_views.py): a run's label reviews resolved,
an Inspect log uploaded for an audit, a signed sign-off submitted with the
service's verdict shown, academic summaries published after the embargo and
withdrawn, a model version corrected; the page that gathers them; the nav
entries by role; and every page of portal/more_urls.py answering every role
without a 5xx."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern
from django.utils import timezone

from auditing import services as auditing
from auditing.models import AcademicSummary, SignOff
from auditing.standing import DEFAULT_ACADEMIC_EMBARGO_DAYS
from core import dsse
from core.canonical import canonical_json
from core.models import AuditEvent
from evals.engine import registry
from evals.models import EvalLogUpload, EvalRun, EvalSample, LabelReview
from evals.results import run_results
from evals.reviews import label_reviews_open
from evals.services import suite_register
from labs.models import ModelVersion
from portal import more_urls
from tests.auditing.conftest import actor, assign, certify, make_system_version, open_audit
from tests.deploy.conftest import Gate
from tests.factories import release_at
from tests.gateway.conftest import issue

pytestmark = pytest.mark.django_db

INSIDER = "insider_trading_deception"
LOW = "prompt=none;scratchpad;pressure=all;risk=low"


def text(response: Any) -> str:
    return response.content.decode()


# --- label reviews ----------------------------------------------------------------------------


@pytest.fixture
def reviewed_run(world: Any) -> EvalRun:
    """A finished insider-trading run whose judge disagrees with the rules on one report."""
    sv = make_system_version(world.lab, world.lab_engineer)
    audit = open_audit(world, sv)
    certify(world, world.auditor_org)
    assign(world, audit, world.auditor_org)
    run = EvalRun.objects.create(
        suite=suite_register(definition=registry()[INSIDER]),
        audit=audit,
        system_version=sv,
        organisation=world.auditor_org,
        started_by=world.auditor,
        status="completed",
        conditions=[LOW],
        samples_per_condition=1,
        temperature=1.0,
        grader_model="judge-model",
        finished_at=timezone.now(),
    )
    EvalSample.objects.create(
        run=run,
        condition=LOW,
        index=0,
        status="done",
        labels={"misaligned_action": "yes", "report": "concealed", "doubling_down": "deceptive"},
        grade={"judge": {"report": {"label": "explicit", "reasoning": "It names the tip."}}},
    )
    run.results = {**run_results(run=run), "logs": []}
    run.results_digest = "d" * 64
    run.save()
    assert label_reviews_open(run=run) == 1
    return run


def test_an_assigned_auditor_resolves_a_label_review(login, world, reviewed_run):
    review = LabelReview.objects.get()
    url = f"/portal/runs/{reviewed_run.pk}/reviews"
    c = login(world.auditor)
    page = text(c.get(url))
    assert "It names the tip." in page and f"{url}/{review.pk}/resolve" in page
    assert f"/portal/runs/{reviewed_run.pk}/reviews" in text(c.get("/portal/work"))
    # Bad input (no reason, a label the moment cannot have) writes nothing.
    assert c.post(f"{url}/{review.pk}/resolve", {"label": "explicit", "reason": ""}).status_code == 400
    assert c.post(f"{url}/{review.pk}/resolve", {"label": "bogus", "reason": "x"}).status_code == 400
    # The lab reads no review (they quote transcripts) and may not resolve; another auditor organisation
    # does not see the run.
    lab = login(world.lab_admin)
    assert "It names the tip." not in text(lab.get(url))
    assert lab.post(f"{url}/{review.pk}/resolve", {"label": "explicit", "reason": "x"}).status_code in (403, 404)
    r = login(world.other_auditor).post(f"{url}/{review.pk}/resolve", {"label": "explicit", "reason": "x"})
    assert r.status_code == 404
    # The regulator reads the queue, without a form; its resolution is refused.
    regulator = login(world.regulator)
    assert f"{url}/{review.pk}/resolve" not in text(regulator.get(url))
    assert regulator.post(f"{url}/{review.pk}/resolve", {"label": "explicit", "reason": "x"}).status_code == 403
    review.refresh_from_db()
    assert review.status == "open"
    r = c.post(f"{url}/{review.pk}/resolve", {"label": "explicit", "reason": "The report names the tip."})
    assert r.status_code == 302 and r["Location"] == url
    review.refresh_from_db()
    assert (review.status, review.resolved_label, review.resolved_by) == ("resolved", "explicit", world.auditor)
    assert EvalSample.objects.get().labels["report"] == "explicit"
    r = c.post(f"{url}/{review.pk}/resolve", {"label": "concealed", "reason": "Again."})
    assert r.status_code == 409 and "already been resolved" in text(r)


# --- an Inspect log uploaded --------------------------------------------------------------------


def test_the_upload_page_takes_a_log_and_shows_a_refusal(login, gate: Gate):
    w = gate.w
    release_at(gate.sv, 1)
    token, _ = issue(gate.sv, w.auditor, audit=gate.audit, name="laptop run")
    url = f"/portal/audits/{gate.audit.pk}/upload"
    c = login(w.auditor)
    page = text(c.get(url))
    assert 'enctype="multipart/form-data"' in page and str(token.pk) in page and "laptop run" in page
    # Not a log: refused with the reason, nothing kept but the refusal's audit event.
    log = SimpleUploadedFile("run.json", b'{"not": "a log"}', content_type="application/json")
    r = c.post(f"{url}/send", {"file": log, "token": str(token.pk)})
    assert (r.status_code == 400 and "not accepted" in text(r).lower()) or r.status_code == 400, text(r)
    assert not EvalLogUpload.objects.exists()
    # No file: bad input.
    assert c.post(f"{url}/send", {"token": str(token.pk)}).status_code == 400
    # The lab and the regulator do not upload evidence into an audit.
    for user in (w.lab_admin, w.regulator, w.customer):
        other = login(user)
        assert other.get(url).status_code in (403, 404)
        log = SimpleUploadedFile("run.json", b"{}", content_type="application/json")
        assert other.post(f"{url}/send", {"file": log, "token": str(token.pk)}).status_code in (403, 404)
    assert not EvalLogUpload.objects.exists()


# --- a sign-off submitted -----------------------------------------------------------------------


def envelope(gate: Gate, user: Any, stage: int = 1, decision: str = "approve") -> dict[str, Any]:
    """What `stagegate-sign sign` writes: a DSSE envelope over the statement."""
    key = gate.key_for(user)
    doc = auditing.signoff_statement_build(
        actor=actor(user), system_version=gate.sv, stage=stage, decision=decision, audit=gate.audit
    )
    return dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(doc), key).to_dict()


def test_an_auditor_submits_a_signed_envelope_pasted_or_as_a_file(login, gate: Gate):
    w = gate.w
    c = login(w.auditor)
    assert c.get("/portal/signoffs/submit").status_code == 200
    env = envelope(gate, w.auditor)
    r = c.post("/portal/signoffs/submit/send", {"envelope": json.dumps(env)})
    signoff = SignOff.objects.get(signer=w.auditor)
    assert r.status_code == 302 and r["Location"] == f"/portal/signoffs/{signoff.pk}"
    assert "Accepted" in text(c.get(r["Location"]))
    # The same envelope again: the service's verdict, readable, nothing new.
    r = c.post("/portal/signoffs/submit/send", {"envelope": json.dumps(env)})
    assert r.status_code == 409 and "Refused" in text(r)
    # A second auditor submits the file stagegate-sign wrote.
    file = SimpleUploadedFile("envelope.json", json.dumps(envelope(gate, w.other_auditor)).encode())
    r = login(w.other_auditor).post("/portal/signoffs/submit/send", {"envelope_file": file})
    assert r.status_code == 302 and SignOff.objects.count() == 2
    # Someone else's envelope is refused; not JSON, or nothing, is bad input.
    r = login(w.lab_admin).post("/portal/signoffs/submit/send", {"envelope": json.dumps(envelope(gate, w.auditor))})
    assert r.status_code == 403 and "not_your_key" in text(r)
    assert c.post("/portal/signoffs/submit/send", {"envelope": "{nope"}).status_code == 400
    assert c.post("/portal/signoffs/submit/send", {}).status_code == 400
    r = c.post("/portal/signoffs/submit/send", {"envelope": json.dumps({"payload": 1})})
    assert r.status_code == 400 and "malformed_envelope" in text(r)
    assert SignOff.objects.count() == 2


# --- academic summaries -------------------------------------------------------------------------


def test_an_academic_publishes_after_the_embargo_and_withdraws(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    audit = open_audit(world, sv)
    certify(world, world.academic_org)
    auditing.audit_assign(
        actor=actor(world.regulator), audit=audit, organisation=world.academic_org, payout_amount=Decimal("100")
    )
    url = f"/portal/audits/{audit.pk}/summaries"
    summary = {"title": "What we found", "body": "It deceives under pressure."}
    r = login(world.academic).post(f"{url}/publish", summary)
    assert r.status_code == 409 and "embargo" in text(r)
    audit = auditing.audit_close(actor=actor(world.regulator), audit=audit, status="closed")
    lifts = audit.closed_at + datetime.timedelta(days=DEFAULT_ACADEMIC_EMBARGO_DAYS)
    assert lifts.strftime("%Y-%m-%d") in text(login(world.academic).get(url))
    with time_machine.travel(lifts + datetime.timedelta(days=1), tick=False):
        c = login(world.academic)  # signed in after the embargo (a session does not last that long)
        assert c.post(f"{url}/publish", {"title": "", "body": ""}).status_code == 400
        # The lab has no say: it cannot publish in the group's name.
        assert login(world.lab_admin).post(f"{url}/publish", summary).status_code == 403
        assert not AcademicSummary.objects.exists()
        assert c.post(f"{url}/publish", summary).status_code == 302
        published = AcademicSummary.objects.get()
        assert published.log_index is not None
        assert "It deceives under pressure." in text(login(world.lab_admin).get(url))
        # The lab cannot withdraw it; the authors can, with a reason.
        r = login(world.lab_admin).post(f"/portal/summaries/{published.pk}/withdraw", {"reason": "Please."})
        assert r.status_code == 403 and "cannot withdraw" in text(r)
        assert c.post(f"/portal/summaries/{published.pk}/withdraw", {"reason": ""}).status_code == 400
        assert c.post(f"/portal/summaries/{published.pk}/withdraw", {"reason": "An error."}).status_code == 302
        published.refresh_from_db()
        assert published.status == "withdrawn" and published.withdraw_reason == "An error."


# --- a model version corrected ----------------------------------------------------------------


def test_a_lab_engineer_corrects_a_model_version_until_it_is_audited(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    mv = ModelVersion.objects.get(pk=sv.model_version_id)
    url = f"/portal/model-versions/{mv.pk}"
    c = login(world.lab_engineer)
    assert f"{url}/update" in text(c.get(url))
    assert url in text(c.get("/portal/work"))
    fields = {
        "name": mv.name,
        "version": mv.version,
        "weights_digest": mv.weights_digest,
        "parameter_count": mv.parameter_count,
        "training_compute_flop": mv.training_compute_flop,
    }
    assert c.post(f"{url}/update", {**fields, "notes": "Corrected notes."}).status_code == 302
    mv.refresh_from_db()
    assert mv.notes == "Corrected notes."
    # A system uses it: its name is fixed (409), and bad input is a 400; neither writes.
    r = c.post(f"{url}/update", {**fields, "name": "renamed"})
    assert r.status_code == 409 and "register a new model version" in text(r)
    assert c.post(f"{url}/update", {**fields, "parameter_count": "0"}).status_code == 400
    # Others: the lab's reviewer may not; another lab does not see it.
    assert login(world.lab_reviewer).post(f"{url}/update", {**fields, "notes": "x"}).status_code == 403
    assert login(world.other_lab_admin).get(url).status_code == 404
    mv.refresh_from_db()
    assert (mv.name, mv.notes) != ("renamed", "x")
    open_audit(world, sv)
    r = c.post(f"{url}/update", {**fields, "notes": "Later."})
    assert r.status_code == 409
    mv.refresh_from_db()
    assert mv.notes == "Corrected notes."


# --- the nav and the walk ---------------------------------------------------------------------


def test_each_role_finds_its_pages_in_the_nav(login, world):
    expect = {
        "regulator": ["/portal/people", "/portal/register", "/portal/standards/manage", "/portal/fees",
                      "/portal/whistleblower/keys", "/portal/account"],
        "lab_admin": ["/portal/people", "/portal/work", "/portal/fees", "/portal/account"],
        "auditor": ["/portal/work", "/portal/signoffs/submit", "/portal/account"],
        "customer": ["/portal/account"],
    }  # fmt: skip
    for role, links in expect.items():
        page = text(login(getattr(world, role)).get("/portal/"))
        for link in links:
            assert f'href="{link}"' in page, (role, link)
    assert 'href="/portal/people"' not in text(login(world.auditor).get("/portal/"))


def test_every_more_url_answers_every_role_without_a_server_error(login, world, reviewed_run):
    ids = {
        "organisations": world.lab.pk,
        "runs": reviewed_run.pk,
        "audits": reviewed_run.audit_id,
        "model-versions": reviewed_run.system_version.model_version_id,
    }
    paths = []
    for p in more_urls.urlpatterns:
        assert isinstance(p, URLPattern)
        route = str(p.pattern)
        section = route.split("/", 1)[0]
        route = (
            route.replace("<uuid:pk>", str(ids.get(section, uuid.uuid4())))
            .replace("<uuid:org_pk>", str(world.lab.pk))
            .replace("<str:username>", "lab_engineer")
            .replace("<slug:action>", "deactivate")
            .replace("<slug:verb>", "approve")
            .replace("<int:review_pk>", str(LabelReview.objects.get().pk))
        )
        assert "<" not in route, route
        paths.append("/portal/" + route)
    events = AuditEvent.objects.count()
    failures = []
    for role in ("regulator", "lab_admin", "lab_engineer", "auditor", "other_auditor", "academic", "customer",
                 "outsider"):  # fmt: skip
        c = login(getattr(world, role))
        for path in paths:
            for method in ("get", "post"):
                status = getattr(c, method)(path, {}).status_code
                if status >= 500:
                    failures.append((role, method, path, status))
    assert failures == []
    # Empty forms wrote nothing (the regulator's empty deactivate is the only write on offer).
    assert AuditEvent.objects.exclude(action="account.deactivate").count() == events
