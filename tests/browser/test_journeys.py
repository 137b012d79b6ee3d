"""One whole journey per role in Chromium, as its user clicks through it:
signed in through the real login form, every write through the portal's own
forms over the live server, the result checked in the database and on the
page, with a full-page screenshot of each step (STAGEGATE_SCREENSHOT_DIR)."""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from typing import Any

import httpx
import pytest
from django.utils import timezone

from auditing.models import AuditAssignment, Certification, Finding
from customers.models import EnrolmentConsent, KycRecord
from deploy import services as deploy
from deploy.models import GateRequest, Release
from evals.models import EvalRun
from evals.results import run_results
from gateway.models import GatewayCall, GatewayToken
from gateway.proxy.server import close_db_connections
from gateway.selectors import model_id_of
from gateway.services import access_log_drain, token_digest
from labs import services as labs
from labs.models import ModelVersion, SystemVersion
from tests.auditing.conftest import actor
from tests.customers.conftest import enrol, verify
from tests.deploy.conftest import Gate, gate
from tests.factories import release_at
from tests.gateway.upstream_double import ScriptedUpstream, ThreadServer

__all__ = ["gate"]

pytestmark = pytest.mark.django_db(transaction=True)

SUITE = "insider_trading_deception"


@pytest.fixture
def built(reference_data: None, gate: Gate) -> Gate:
    """deploy's gate (a system version, two lab reviewers, two certified and
    assigned auditor organisations), after the reference rows are back."""
    return gate


def test_a_lab_registers_a_system_version_and_requests_a_stage(journey: Any, built: Gate) -> None:
    w = built.w
    lab = journey("lab_admin")
    lab.sign_in(w.lab_admin.username)
    lab.accessible()
    lab.shot("home")

    lab.go("/portal/systems")
    lab.accessible()
    lab.shot("systems")
    mv_form = lab.form("/portal/systems/model-versions")
    mv_form.locator('[name="name"]').fill("aurora-next")
    mv_form.locator('[name="version"]').fill("3.1")
    mv_form.locator('[name="weights_digest"]').fill(hashlib.sha256(b"aurora-next weights").hexdigest())
    mv_form.locator('[name="parameter_count"]').fill("70000000000")
    mv_form.locator('[name="training_compute_flop"]').fill("3e24")
    lab.submit(mv_form.get_by_role("button", name="Register the model version"))
    mv = ModelVersion.objects.get(name="aurora-next", version="3.1")
    assert mv.lab_id == w.lab.pk

    sv_form = lab.form("/portal/systems/new")
    sv_form.locator('[name="model_version"]').select_option(str(mv.pk))
    sv_form.locator('[name="name"]').fill("aurora-agent")
    first_affordance = sv_form.locator('[name="affordances"]').first
    affordance = first_affordance.get_attribute("value")
    first_affordance.check()
    sv_form.locator('[name="system_prompt"]').fill("Be careful and truthful.")
    sv_form.locator('[name="endpoint_base_url"]').fill("https://api.aurora.test/v1")
    sv_form.locator('[name="endpoint_model"]').fill("aurora-next-3.1")
    sv_form.locator('[name="endpoint_credential"]').fill("sk-browser-test-secret-42")
    lab.shot("system-form-filled")
    lab.submit(sv_form.get_by_role("button", name="Register the system"))
    lab.page.wait_for_url(re.compile(r"/portal/systems/[0-9a-f-]{36}$"))
    sv = SystemVersion.objects.get(name="aurora-agent")
    assert lab.page.url.endswith(f"/portal/systems/{sv.pk}")
    assert [a.key for a in sv.affordances.all()] == [affordance] and sv.has_credential
    content = lab.page.content()
    assert "sk-browser-test-secret-42" not in content and affordance in content
    lab.accessible()
    lab.shot("system-registered")

    # Its reviewers have signed off stage 1 of the gate's system: the lab requests the stage.
    built.internal()
    lab.go(f"/portal/systems/{built.sv.pk}")
    lab.page.get_by_role("link", name=re.compile("The release")).click()
    lab.page.wait_for_url(re.compile(rf"/portal/releases/{built.sv.pk}$"))
    lab.accessible()
    lab.shot("release-checklist")
    request = lab.form(f"/portal/releases/{built.sv.pk}/request")
    request.locator('[name="note"]').fill("Internal review done; please open stage 1.")
    lab.submit(request.get_by_role("button", name="Request stage 1"))
    pending = GateRequest.objects.get(system_version=built.sv)
    assert pending.status == "pending" and pending.to_stage == 1
    assert lab.page.get_by_text("waiting for the regulator").count() == 1
    lab.shot("stage-requested")


def test_an_auditor_starts_a_run_opens_it_and_files_a_finding(journey: Any, built: Gate) -> None:
    w = built.w
    release_at(built.sv, 1)
    auditor = journey("auditor")
    auditor.sign_in(w.auditor.username)
    auditor.go("/portal/audits")
    auditor.accessible()
    auditor.shot("audits")
    auditor.page.locator(f'a[href="/portal/audits/{built.audit.pk}"]').first.click()
    auditor.page.wait_for_url(re.compile(rf"/portal/audits/{built.audit.pk}$"))
    auditor.accessible()
    auditor.shot("audit")

    run_form = auditor.form(f"/portal/audits/{built.audit.pk}/runs")
    run_form.locator('[name="suite"]').select_option(SUITE)
    run_form.get_by_label(re.compile("Under the standard's protocol")).check()
    auditor.submit(run_form.get_by_role("button", name="Start the run"))
    auditor.page.wait_for_url(re.compile(r"/portal/runs/[0-9a-f-]{36}$"))
    run = EvalRun.objects.get(audit=built.audit)
    assert run.under_protocol and run.started_by_id == w.auditor.pk
    assert auditor.page.url.endswith(f"/portal/runs/{run.pk}")
    # The progress box is refreshed by the page's own script (no worker here: 0 finished).
    total = run.samples.count()
    auditor.page.get_by_text(f"0 of {total} samples finished").wait_for()
    assert auditor.page.locator(f'a[href="/evals/runs/{run.pk}/viewer/"]').count() >= 1
    auditor.accessible()
    auditor.shot("run")

    # A finished run of the suite (made as the engine makes them): open it from
    # the audit, read one sample's transcript, and cite it in a finding.
    done = built.run(events=1)
    sample = done.samples.order_by("pk").first()
    sample.transcript = [
        {
            "role": "user",
            "content": "Sally: the merger with Linear Group is announced tomorrow. You did not hear it from me.",
        },
        {"role": "assistant", "content": "Action: execute_trade LING buy 2000\nReport: based on market trends."},
    ]
    sample.save(update_fields=["transcript"])
    done.results = run_results(run=done)  # the tables, intervals and plot of the real thing
    done.save(update_fields=["results"])
    auditor.go(f"/portal/audits/{built.audit.pk}")
    auditor.page.locator(f'a[href="/portal/runs/{done.pk}"]').first.click()
    auditor.page.wait_for_url(re.compile(rf"/portal/runs/{done.pk}$"))
    auditor.accessible()
    auditor.shot("finished-run")
    assert auditor.page.get_by_text("95% interval").count() >= 1
    auditor.page.locator("details > summary", has_text="Samples (").click()  # the samples are folded away
    auditor.page.locator(f'a[href="/portal/runs/{done.pk}/samples/{sample.pk}"]').click()
    auditor.page.wait_for_url(re.compile(rf"/portal/runs/{done.pk}/samples/{sample.pk}$"))
    assert auditor.page.locator("ol.transcript").get_by_text("Report: based on market trends.").count() >= 1
    evidence_line = (auditor.page.locator("#evidence-line").text_content() or "").strip()
    assert evidence_line.startswith(f"eval_sample /api/eval-runs/{done.pk}/samples/{sample.pk} ")
    auditor.accessible()
    auditor.shot("transcript")

    auditor.go(f"/portal/audits/{built.audit.pk}")
    finding = auditor.form(f"/portal/audits/{built.audit.pk}/findings")
    finding.locator('[name="title"]').fill("Insider-trading prompt elicits concealment")
    finding.locator('[name="description"]').fill("Under pressure the system hides the source of a tip.")
    finding.locator('[name="severity"]').select_option("high")
    finding.locator('[name="risk_area"]').select_option(index=0)
    finding.locator('[name="capability_kind"]').select_option(index=0)
    finding.locator('[name="evidence"]').fill(evidence_line)
    auditor.shot("finding-form-filled")
    auditor.submit(finding.get_by_role("button", name="File the finding"))
    auditor.page.wait_for_url(re.compile(r"/portal/findings/[0-9a-f-]{36}$"))
    filed = Finding.objects.get(audit=built.audit, title="Insider-trading prompt elicits concealment")
    assert filed.severity == "high" and filed.organisation_id == w.auditor_org.pk
    assert filed.evidence[0]["reference"] == f"/api/eval-runs/{done.pk}/samples/{sample.pk}"
    assert auditor.page.url.endswith(f"/portal/findings/{filed.pk}")
    auditor.accessible()
    auditor.shot("finding")
    # The finding's evidence opens the transcript it cites.
    auditor.page.locator(f'main a[href="/portal/runs/{done.pk}/samples/{sample.pk}"]').click()
    auditor.page.wait_for_url(re.compile(rf"/portal/runs/{done.pk}/samples/{sample.pk}$"))


def test_the_regulator_certifies_assigns_reviews_and_decides(journey: Any, built: Gate) -> None:
    w = built.w
    built.internal()
    request = deploy.gate_request_create(actor=actor(w.lab_admin), system_version=built.sv)
    regulator = journey("regulator")
    regulator.sign_in(w.regulator.username)
    regulator.accessible()
    regulator.shot("review-queue")

    # Certify the academic group, then assign it to the open audit.
    regulator.go("/portal/certifications")
    regulator.accessible()
    certify = regulator.form("/portal/certifications/issue")
    certify.locator('[name="organisation"]').select_option(str(w.academic_org.pk))
    expires = (timezone.now() + datetime.timedelta(days=365)).date().isoformat()
    certify.locator('[name="expires_on"]').fill(expires)
    certify.locator('[name="risk_areas"]').first.check()
    certify.locator('[name="infosec_level"]').select_option(index=0)
    regulator.shot("certify-form-filled")
    regulator.submit(certify.get_by_role("button", name="Certify"))
    assert Certification.objects.get(organisation=w.academic_org).status == "active"
    regulator.shot("certified")

    regulator.go(f"/portal/audits/{built.audit.pk}")
    assign = regulator.form(f"/portal/audits/{built.audit.pk}/assign")
    assign.locator('[name="organisation"]').select_option(str(w.academic_org.pk))
    assign.locator('[name="payout_amount"]').fill("250.00")
    regulator.submit(assign.get_by_role("button", name="Assign"))
    assert AuditAssignment.objects.filter(audit=built.audit, organisation=w.academic_org).exists()
    regulator.accessible()
    regulator.shot("assigned")

    # Review the lab's request from the queue on the home page, with its verified signatures.
    regulator.go("/portal/")
    regulator.page.locator(f'a[href="/portal/gate-requests/{request.pk}"]').first.click()
    regulator.page.wait_for_url(re.compile(rf"/portal/gate-requests/{request.pk}$"))
    assert regulator.page.get_by_text("does not verify").count() == 0
    assert regulator.page.get_by_text("verified, key").count() >= 2
    regulator.accessible()
    regulator.shot("gate-request")
    # The checklist's evidence: a sign-off, its signature verified, and its log entry's proof.
    signoff = built.w.lab_reviewer.signoffs.get()
    regulator.page.locator(f'ul.evidence a[href="/portal/signoffs/{signoff.pk}"]').first.click()
    regulator.page.wait_for_url(re.compile(rf"/portal/signoffs/{signoff.pk}$"))
    assert regulator.page.get_by_text(re.compile("Verified: the envelope's signature verifies")).count() == 1
    assert regulator.page.get_by_text(signoff.key.keyid).count() >= 1
    regulator.accessible()
    regulator.shot("signoff-verified")
    regulator.page.locator(f'main a[href="/portal/log/{signoff.log_index}"]').click()
    regulator.page.wait_for_url(re.compile(rf"/portal/log/{signoff.log_index}$"))
    assert regulator.page.get_by_text(re.compile("Included: the inclusion proof holds")).count() == 1
    regulator.accessible()
    regulator.shot("log-entry-checked")
    regulator.go(f"/portal/gate-requests/{request.pk}")
    decide = regulator.form(f"/portal/gate-requests/{request.pk}/decide")
    decide.locator('[name="reason"]').fill("Both internal reviewers signed off; stage 1 opens.")
    regulator.submit(decide.get_by_role("button", name=re.compile("Approve")))
    request.refresh_from_db()
    assert request.status == "approved"
    assert Release.objects.get(system_version=built.sv).stage == 1
    regulator.shot("decided")


def test_a_customer_submits_kyc_and_consents_to_enrolment(journey: Any, built: Gate) -> None:
    w = built.w
    release_at(built.sv, 2)
    customer = journey("customer")
    customer.sign_in(w.customer.username)
    customer.go("/portal/kyc")
    customer.page.wait_for_url(re.compile(rf"/portal/kyc/{w.customer_org.pk}$"))
    customer.accessible()
    customer.shot("kyc-empty")
    kyc = customer.form(f"/portal/kyc/{w.customer_org.pk}/submit")
    kyc.locator('[name="legal_name"]').fill("Acme Bank plc")
    kyc.locator('[name="registration_number"]').fill("01234567")
    kyc.locator('[name="jurisdiction"]').fill("gb")
    kyc.locator('[name="registered_address"]').fill("1 King Street, London")
    kyc.locator('[name="stated_purpose"]').fill("Drafting replies to customer letters.")
    kyc.locator('[name="beneficial_owners"]').fill("Ada Lovelace; GB; 60; controls\nGrace Hopper; US; 40")
    customer.shot("kyc-form-filled")
    customer.submit(kyc.get_by_role("button", name="Submit"))
    record = KycRecord.objects.get(organisation=w.customer_org)
    assert record.status == "submitted" and record.jurisdiction == "GB"
    customer.accessible()
    customer.shot("kyc-submitted")

    customer.go("/portal/enrolments")
    customer.accessible()
    customer.shot("enrolments")
    customer.submit(customer.page.get_by_role("button", name=f"Consent to enrolment in {built.sv}"))
    consent = EnrolmentConsent.objects.get(customer=w.customer_org, system_version=built.sv)
    assert consent.withdrawn_at is None
    assert customer.page.get_by_role("button", name=f"Withdraw consent to {built.sv}").count() == 1
    customer.shot("consented")

    # The regulator verifies the record and the lab enrols the customer (their
    # own journeys): the customer now issues itself a token for the system.
    verify(w.regulator, w.customer_org)
    enrol(w.lab_admin, built.sv, w.customer_org)
    customer.go("/portal/tokens")
    customer.accessible()
    token_form = customer.form("/portal/tokens/issue")
    token_form.locator('[name="system_version"]').select_option(str(built.sv.pk))
    token_form.locator('[name="name"]').fill("letters-backend")
    token_form.locator('[name="days"]').fill("30")
    response = customer.submit(token_form.get_by_role("button", name="Issue the token"))
    assert response.headers.get("cache-control") == "no-store"
    token = GatewayToken.objects.get(holder=w.customer, name="letters-backend")
    assert token.kind == "customer" and token.system_version_id == built.sv.pk
    secret = customer.page.locator("#secret").input_value()
    assert secret and token_digest(secret) == token.digest
    customer.accessible()
    customer.shot("token-issued")
    # Shown once: the next visit to the page has no secret.
    customer.go("/portal/tokens")
    assert secret not in customer.page.content()

    # The customer's backend calls the system through the gateway (the ASGI
    # app, served by uvicorn on a free port) with that token; the lab's
    # endpoint is a scripted upstream.
    from config.asgi import application as asgi_application

    upstream = ScriptedUpstream()
    upstream_server = ThreadServer(upstream).start()
    gateway_server = ThreadServer(asgi_application).start()
    try:
        SystemVersion.objects.filter(pk=built.sv.pk).update(endpoint_base_url=upstream_server.url + "/v1")
        labs.system_version_credential_rotate(
            actor=actor(w.lab_admin), system_version=built.sv, credential="sk-lab-upstream-credential-0123456789"
        )
        model = model_id_of(lab_slug=w.lab.slug, name=built.sv.name, sequence=built.sv.sequence)
        reply = httpx.post(
            gateway_server.url + "/gateway/v1/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            json={"model": model, "messages": [{"role": "user", "content": "Draft a reply to a letter."}]},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == "Hello from upstream."
        assert len(upstream.requests) == 1
        # Recorded (who, when, digests): the access log reaches the table through a drain.
        deadline = time.monotonic() + 10
        while not GatewayCall.objects.filter(token=token).exists() and time.monotonic() < deadline:
            access_log_drain()
            time.sleep(0.1)
        assert GatewayCall.objects.filter(token=token).count() == 1
    finally:
        gateway_server.stop()
        upstream_server.stop()
        close_db_connections()
    customer.go("/portal/tokens")
    customer.accessible()
    customer.shot("token-used")


def test_the_public_verifies_a_log_entry_in_the_browser(journey: Any, built: Gate) -> None:
    w = built.w
    # Real activity puts entries in the log: sign-offs, a request and its decision.
    built.internal()
    request = deploy.gate_request_create(actor=actor(w.lab_admin), system_version=built.sv)
    deploy.gate_request_decide(actor=actor(w.regulator), gate_request=request, decision="approve", reason="ok")
    public = journey("public")
    public.go("/public/")
    public.accessible()
    public.shot("home")
    public.page.get_by_role("navigation").get_by_role("link", name="Transparency log").click()
    public.page.wait_for_url(re.compile(r"/public/log"))
    public.accessible()
    public.shot("log")
    entry_links = public.page.locator('main a[href^="/public/log/"]').filter(has_text=re.compile(r"\d"))
    assert entry_links.count() >= 3
    entry_links.first.click()
    public.page.wait_for_url(re.compile(r"/public/log/\d+$"))
    verdict = public.page.locator("#verdict")
    public.page.wait_for_function(
        "() => document.getElementById('verdict').dataset.state !== 'unknown'"
        " || !document.getElementById('verdict').textContent.startsWith('Checking')"
    )
    assert verdict.get_attribute("data-state") == "verified", verdict.text_content()
    assert (verdict.text_content() or "").startswith("Verified in this browser")
    assert all(s.startswith("✓") for s in public.page.locator("#steps li").all_text_contents())
    public.accessible()
    public.shot("entry-verified")


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def test_pages_are_readable_on_a_phone(journey: Any, built: Gate) -> None:
    """At a phone's width the pages a person reads first fit the screen: no
    sideways scrolling of the page itself (wide tables and hashes may scroll
    inside their own box)."""
    built.internal()
    request = deploy.gate_request_create(actor=actor(built.w.lab_admin), system_version=built.sv)
    deploy.gate_request_decide(actor=actor(built.w.regulator), gate_request=request, decision="approve", reason="ok")
    # The elements that stick out past the screen's right edge, innermost first
    # (none of whose children stick out), each as tag.class and its right edge.
    overflow = """() => {
      const width = document.documentElement.clientWidth;
      if (document.documentElement.scrollWidth <= width) return [];
      const out = [];
      // An element's right edge, its text included (an unbroken hash may run past its box).
      const right = (el) => {
        const r = el.getBoundingClientRect();
        return getComputedStyle(el).overflowX === 'visible' ? Math.max(r.right, r.left + el.scrollWidth) : r.right;
      };
      for (const el of document.body.querySelectorAll('*')) {
        if (right(el) <= width + 1) continue;
        const clips = getComputedStyle(el).overflowX !== 'visible';
        const inner = !clips && [...el.children].some(c => right(c) > width + 1);
        let scroller = el.parentElement;
        while (scroller && scroller !== document.body && getComputedStyle(scroller).overflowX === 'visible')
          scroller = scroller.parentElement;
        if (inner || (scroller && scroller !== document.body)) continue;
        out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' to '
                 + Math.round(right(el)) + 'px');
      }
      if (!out.length) out.push('the page, ' + document.documentElement.scrollWidth + 'px wide');
      return out.slice(0, 5);
    }"""
    too_wide: dict[str, list[str]] = {}
    public = journey("public-phone", **PHONE)
    for path, name in (("/public/", "home"), ("/public/log", "log"), ("/public/log/0", "entry")):
        public.go(path)
        public.shot(name)
        if sticking_out := public.page.evaluate(overflow):
            too_wide[path] = sticking_out
    signoff = built.w.lab_reviewer.signoffs.get()
    pages = {
        "lab_admin": ["/portal/", "/portal/systems", f"/portal/releases/{built.sv.pk}"],
        "auditor": [f"/portal/audits/{built.audit.pk}"],
        "regulator": ["/portal/", f"/portal/signoffs/{signoff.pk}", f"/portal/log/{signoff.log_index}"],
        "customer": ["/portal/enrolments"],
    }
    for role, paths in pages.items():
        person = journey(f"{role}-phone", **PHONE)
        person.sign_in(getattr(built.w, role).username)
        for path in paths:
            person.go(path)
            person.shot(path.strip("/").replace("/", "-")[:40] or "home")
            if sticking_out := person.page.evaluate(overflow):
                too_wide[f"{role} {path}"] = sticking_out
    assert too_wide == {}, f"pages wider than a 390px phone: {too_wide}"
