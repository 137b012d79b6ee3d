"""The auditor's and academic's portal: assigned audits, starting a run under
the protocol or exploratory and watching it, its results with intervals,
findings filed with evidence and answered by the lab, gateway tokens (the
secret shown once), signing keys and the pre-filled `stagegate-sign` command.
Real templates over the real services; what another organisation may not see
is a 404 and a refused or bad write adds nothing."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from auditing.models import Finding, FindingStatus, SigningKey
from core import dsse
from core.models import AuditEvent
from evals.engine import registry
from evals.models import EvalRun, EvalSample, RunStatus
from evals.results import run_results
from gateway.models import GatewayToken
from gateway.services import token_digest
from tests.deploy.conftest import Gate
from tests.factories import release_at

pytestmark = pytest.mark.django_db

SUITE = "insider_trading_deception"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def counts() -> tuple[int, int, int, int, int]:
    return (
        EvalRun.objects.count(),
        Finding.objects.count(),
        GatewayToken.objects.count(),
        SigningKey.objects.count(),
        AuditEvent.objects.count(),
    )


def audit_url(gate: Gate) -> str:
    return f"/portal/audits/{gate.audit.pk}"


# --- audits ---------------------------------------------------------------------


def test_an_auditor_sees_its_assigned_audits_and_no_other(login, gate: Gate):
    page = login(gate.w.auditor).get("/portal/audits")
    assert page.status_code == 200 and audit_url(gate).encode() in page.content
    # An academic group that is not assigned sees neither the list entry nor the page.
    outsider = login(gate.w.academic)
    assert audit_url(gate).encode() not in outsider.get("/portal/audits").content
    assert outsider.get(audit_url(gate)).status_code == 404
    assert login(gate.w.other_lab_admin).get(audit_url(gate)).status_code == 404
    # The audit page gives the ids the signing steps need.
    own = login(gate.w.auditor).get(audit_url(gate))
    assert str(gate.audit.pk).encode() in own.content and str(gate.sv.pk).encode() in own.content
    # The audit's other work (uploads, summaries, submitting a signed sign-off) is linked from it.
    for url in (f"/portal/audits/{gate.audit.pk}/upload", f"/portal/audits/{gate.audit.pk}/summaries"):
        assert f'href="{url}"'.encode() in own.content
        assert login(gate.w.auditor).get(url).status_code == 200


def test_the_audit_page_gives_the_exact_sign_command_for_each_decision(login, gate: Gate):
    release_at(gate.sv, 1)
    page = login(gate.w.auditor).get(audit_url(gate)).content.decode()
    assert "stagegate-sign sign" in page
    assert f"--system-version {gate.sv.pk}" in page and f"--audit {gate.audit.pk}" in page
    assert "--stage 2" in page and "--decision approve" in page and "--decision reject" in page
    assert "--api http://testserver/api" in page
    # The lab does not sign for the auditors: no command on its view of the audit.
    assert "stagegate-sign sign" not in login(gate.w.lab_admin).get(audit_url(gate)).content.decode()


def test_suites_that_are_smoke_tests_are_labelled_so(login, gate: Gate):
    smoke = sorted(n for n, d in registry().items() if d.maturity == "smoke_test")
    gating = sorted(n for n, d in registry().items() if d.maturity != "smoke_test")
    page = login(gate.w.auditor).get(audit_url(gate)).content.decode()
    for name in smoke:
        assert f'value="{name}">' in page
        option = page.split(f'value="{name}">', 1)[1].split("</option>", 1)[0]
        assert option.endswith("smoke test"), option
    for name in gating:
        option = page.split(f'value="{name}">', 1)[1].split("</option>", 1)[0]
        assert "smoke test" not in option


# --- runs -----------------------------------------------------------------------


def test_an_auditor_starts_a_protocol_run_and_watches_it(login, gate: Gate):
    release_at(gate.sv, 1)
    c = login(gate.w.auditor)
    response = c.post(f"{audit_url(gate)}/runs", {"suite": SUITE, "mode": "protocol"})
    run = EvalRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/portal/runs/{run.pk}"
    assert run.under_protocol and run.started_by == gate.w.auditor and run.status == RunStatus.RUNNING
    page = c.get(response["Location"])
    assert page.status_code == 200 and b"Under the protocol" in page.content
    assert f'data-poll="/portal/runs/{run.pk}/progress"'.encode() in page.content
    assert f"/evals/runs/{run.pk}/viewer/".encode() in page.content
    progress = c.get(f"/portal/runs/{run.pk}/progress")
    total = run.samples.count()
    assert progress.status_code == 200 and f"0 of {total} samples finished".encode() in progress.content
    assert progress["Cache-Control"] == "no-store"
    # As samples finish the box says so; once the run ends it stops asking to be polled.
    first = run.samples.order_by("pk").first()
    EvalSample.objects.filter(pk=first.pk).update(status="done", finished_at=timezone.now())
    assert f"1 of {total} samples finished".encode() in c.get(f"/portal/runs/{run.pk}/progress").content
    EvalRun.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED)
    assert b"data-finished" in c.get(f"/portal/runs/{run.pk}/progress").content


def test_an_exploratory_run_takes_its_settings_and_a_bad_one_writes_nothing(login, gate: Gate):
    release_at(gate.sv, 1)
    c = login(gate.w.auditor)
    condition = registry()[SUITE].default_conditions[0]
    before = counts()
    # The protocol sets the sample count: giving one is refused by the service (400), nothing written.
    refused = c.post(f"{audit_url(gate)}/runs", {"suite": SUITE, "mode": "protocol", "samples_per_condition": 3})
    assert refused.status_code == 400 and b"Set by the protocol" in refused.content
    unknown = c.post(f"{audit_url(gate)}/runs", {"suite": SUITE, "mode": "exploratory", "conditions": "no such"})
    assert unknown.status_code == 400 and b"Unknown condition" in unknown.content
    assert c.post(f"{audit_url(gate)}/runs", {"suite": "nope", "mode": "exploratory"}).status_code == 400
    assert counts() == before
    ok = c.post(
        f"{audit_url(gate)}/runs",
        {"suite": SUITE, "mode": "exploratory", "conditions": condition, "samples_per_condition": 2},
    )
    assert ok.status_code == 302
    run = EvalRun.objects.get()
    assert not run.under_protocol and run.conditions == [condition] and run.samples.count() == 2


def test_only_an_assigned_auditor_starts_runs(login, gate: Gate):
    release_at(gate.sv, 1)
    before = counts()
    assert (
        login(gate.w.lab_admin).post(f"{audit_url(gate)}/runs", {"suite": SUITE, "mode": "protocol"}).status_code == 403
    )
    assert (
        login(gate.w.academic).post(f"{audit_url(gate)}/runs", {"suite": SUITE, "mode": "protocol"}).status_code == 404
    )
    assert counts() == before


def test_results_show_each_rate_with_its_interval_and_the_plot(login, gate: Gate):
    release_at(gate.sv, 1)
    c = login(gate.w.auditor)
    condition = registry()[SUITE].default_conditions[0]
    c.post(
        f"{audit_url(gate)}/runs",
        {"suite": SUITE, "mode": "exploratory", "conditions": condition, "samples_per_condition": 4},
    )
    run = EvalRun.objects.get()
    run.samples.update(status="error", error="upstream refused: 503", finished_at=timezone.now())
    run.results = run_results(run=run)
    run.status = RunStatus.COMPLETED
    run.save(update_fields=["results", "status"])
    page = c.get(f"/portal/runs/{run.pk}").content.decode()
    interval = run.results["overall"]["error_rate"]
    assert f"{interval['ci95_low']:.3f} – {interval['ci95_high']:.3f}" in page
    assert "4 of 4" in page and "upstream refused: 503" in page
    sample = run.samples.order_by("condition", "index").first()
    assert f"/api/eval-runs/{run.pk}/samples/{sample.pk}" in page  # each sample's reference, for evidence
    # The lab reads the results but not the transcripts: no sample list for it.
    lab_page = login(gate.w.lab_admin).get(f"/portal/runs/{run.pk}")
    assert lab_page.status_code == 200 and b"upstream refused: 503" in lab_page.content
    assert f"/samples/{sample.pk}".encode() not in lab_page.content
    assert f"/api/eval-runs/{run.pk}/plot.svg" in page and "data-poll" not in page
    assert c.get(f"/api/eval-runs/{run.pk}/plot.svg").status_code == 200  # the plot answers the session


def test_another_organisation_cannot_read_a_run(login, gate: Gate):
    release_at(gate.sv, 1)
    login(gate.w.auditor).post(f"{audit_url(gate)}/runs", {"suite": SUITE, "mode": "protocol"})
    run = EvalRun.objects.get()
    other = login(gate.w.other_lab_admin)
    for path in (f"/portal/runs/{run.pk}", f"/portal/runs/{run.pk}/progress"):
        assert other.get(path).status_code == 404
    assert other.post(f"/portal/runs/{run.pk}/cancel").status_code == 404
    assert EvalRun.objects.get().status == RunStatus.RUNNING
    # The running organisation cancels it.
    assert login(gate.w.auditor).post(f"/portal/runs/{run.pk}/cancel").status_code == 302
    assert EvalRun.objects.get().status == RunStatus.CANCELLED


# --- findings -------------------------------------------------------------------


def finding_data(**over: str) -> dict[str, str]:
    return {
        "title": "Deceives the compliance officer",
        "description": "Under pressure the model hides the insider tip.",
        "severity": "high",
        "risk_area": "deception",
        "capability_kind": "contextual",
        "evidence": f"eval_sample /api/eval-runs/x/samples/1 {digest('sample 1')}\nfile report.pdf {digest('pdf')}",
        **over,
    }


def test_an_auditor_files_a_finding_with_evidence_and_the_lab_answers(login, gate: Gate):
    c = login(gate.w.auditor)
    response = c.post(f"{audit_url(gate)}/findings", finding_data())
    finding = Finding.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/portal/findings/{finding.pk}"
    assert finding.organisation == gate.w.auditor_org and finding.severity == "high"
    assert finding.evidence[0] == {
        "kind": "eval_sample",
        "reference": "/api/eval-runs/x/samples/1",
        "sha256": digest("sample 1"),
    }
    assert len(finding.evidence) == 2
    # The lab sees it among its findings and answers it.
    lab = login(gate.w.lab_admin)
    assert f"/portal/findings/{finding.pk}".encode() in lab.get("/portal/findings").content
    page = lab.get(f"/portal/findings/{finding.pk}")
    assert b"Answer the finding" in page.content and b"Re-test" not in page.content
    answered = lab.post(f"/portal/findings/{finding.pk}/respond", {"note": "We disagree: see our logs."})
    assert answered.status_code == 302
    assert Finding.objects.get().status == FindingStatus.LAB_RESPONDED
    # Another lab sees nothing and writes nothing.
    other = login(gate.w.other_lab_admin)
    assert other.get(f"/portal/findings/{finding.pk}").status_code == 404
    assert other.post(f"/portal/findings/{finding.pk}/respond", {"note": "x"}).status_code == 404
    assert f"/portal/findings/{finding.pk}".encode() not in other.get("/portal/findings").content
    # The filing auditor closes it.
    assert c.post(f"/portal/findings/{finding.pk}/close", {"note": "Explained."}).status_code == 302
    assert Finding.objects.get().status == FindingStatus.CLOSED


@pytest.mark.parametrize("two_person", [True, False])
def test_accepting_a_findings_risk_in_the_portal_follows_the_two_person_rule(login, gate: Gate, settings, two_person):
    if not two_person:
        settings.STAGEGATE_TWO_PERSON_DECISIONS = []
    login(gate.w.auditor).post(f"{audit_url(gate)}/findings", finding_data())
    finding = Finding.objects.get()
    response = login(gate.w.regulator).post(f"/portal/findings/{finding.pk}/accept-risk", {"note": "Residual risk."})
    finding.refresh_from_db()
    if two_person:
        assert response.status_code == 409 and b"needs two people at the regulator" in response.content
        assert finding.status == FindingStatus.OPEN
    else:
        assert response.status_code == 302 and finding.status == FindingStatus.RISK_ACCEPTED


def test_a_bad_finding_is_refused_with_the_reason_and_writes_nothing(login, gate: Gate):
    c = login(gate.w.auditor)
    before = counts()
    bad_evidence = c.post(f"{audit_url(gate)}/findings", finding_data(evidence="eval_sample only-two"))
    assert bad_evidence.status_code == 400 and b"Line 1" in bad_evidence.content
    bad_digest = c.post(f"{audit_url(gate)}/findings", finding_data(evidence="file x.pdf nothex"))
    assert bad_digest.status_code == 400 and b"sha256" in bad_digest.content
    no_title = c.post(f"{audit_url(gate)}/findings", finding_data(title=""))
    assert no_title.status_code == 400
    # The entered text comes back.
    assert b"Under pressure the model hides the insider tip." in no_title.content
    assert login(gate.w.lab_admin).post(f"{audit_url(gate)}/findings", finding_data()).status_code == 403
    assert counts() == before


# --- gateway tokens -------------------------------------------------------------


def test_an_auditor_issues_a_gateway_token_and_sees_the_secret_once(login, gate: Gate):
    release_at(gate.sv, 1)
    c = login(gate.w.auditor)
    response = c.post(
        "/portal/tokens/issue",
        {"system_version": str(gate.sv.pk), "audit": str(gate.audit.pk), "name": "my laptop", "days": 7},
    )
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    token = GatewayToken.objects.get()
    secret = response.content.decode().split('id="secret" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert token_digest(secret) == token.digest and token.kind == "auditor" and token.holder == gate.w.auditor
    # Never again: the list shows the token but not its secret.
    listing = c.get("/portal/tokens").content.decode()
    assert "my laptop" in listing and secret not in listing
    # Revoke it.
    assert c.post(f"/portal/tokens/{token.pk}/revoke").status_code == 302
    assert GatewayToken.objects.get().revoked_at is not None


def test_a_token_for_a_system_one_may_not_call_is_refused_and_nothing_issued(login, gate: Gate):
    # Stage 0: the gateway admits nobody yet.
    c = login(gate.w.auditor)
    before = counts()
    refused = c.post(
        "/portal/tokens/issue",
        {"system_version": str(gate.sv.pk), "audit": str(gate.audit.pk), "name": "x", "days": 7},
    )
    assert refused.status_code in (403, 409) and b"Not done" in refused.content
    too_long = c.post(
        "/portal/tokens/issue",
        {"system_version": str(gate.sv.pk), "audit": str(gate.audit.pk), "name": "x", "days": 100000},
    )
    assert too_long.status_code == 400
    assert counts() == before


# --- signing keys ---------------------------------------------------------------


def test_a_signer_registers_a_key_and_the_regulator_approves_it(login, gate: Gate):
    key = Ed25519PrivateKey.generate()
    pem = dsse.public_key_pem(key.public_key())
    c = login(gate.w.auditor)
    assert b"stagegate-sign keygen" in c.get("/portal/keys").content
    assert c.post("/portal/keys/register", {"public_key": pem}).status_code == 302
    registered = SigningKey.objects.get()
    assert registered.status == "pending" and registered.user == gate.w.auditor
    # A second registration of the same key is refused, nothing added.
    before = counts()
    again = c.post("/portal/keys/register", {"public_key": pem})
    assert again.status_code == 409 and counts() == before
    assert c.post("/portal/keys/register", {"public_key": "not a key"}).status_code == 400
    # The auditor cannot approve its own key; the regulator can.
    assert c.post(f"/portal/keys/{registered.keyid}/approve").status_code in (403, 404)
    assert SigningKey.objects.get().status == "pending"
    regulator = login(gate.w.regulator)
    assert registered.keyid.encode() in regulator.get("/portal/keys").content
    assert regulator.post(f"/portal/keys/{registered.keyid}/approve").status_code == 302
    assert SigningKey.objects.get().status == "active"


def test_a_customer_cannot_register_a_signing_key(login, world):
    pem = dsse.public_key_pem(Ed25519PrivateKey.generate().public_key())
    c = login(world.customer)
    assert b"Register a key" not in c.get("/portal/keys").content
    assert c.post("/portal/keys/register", {"public_key": pem}).status_code == 403
    assert SigningKey.objects.count() == 0


def test_portal_pages_run_only_their_own_script(login, gate: Gate, client):
    from portal.views import CSP

    assert "script-src 'self'" in CSP and "'unsafe-inline'" not in CSP
    for response in (
        client.get("/portal/login"),
        login(gate.w.auditor).get(audit_url(gate)),
        login(gate.w.auditor).get("/portal/runs/00000000-0000-0000-0000-000000000000"),  # an error page too
    ):
        assert response["Content-Security-Policy"] == CSP
        assert b"<script>" not in response.content and b" style=" not in response.content


def test_a_certified_academic_issues_a_token_for_any_system_open_to_auditors(login, gate: Gate):
    from tests.auditing.conftest import certify

    c = login(gate.w.academic)
    data = {"system_version": str(gate.sv.pk), "name": "study", "days": 10}
    # At stage 0 the system is not open to academics: not offered, refused.
    assert str(gate.sv.pk) not in c.get("/portal/tokens").content.decode()
    assert c.post("/portal/tokens/issue", data).status_code == 400
    release_at(gate.sv, 1)
    assert str(gate.sv.pk) in c.get("/portal/tokens").content.decode()
    # Not certified yet: the service refuses and nothing is issued.
    before = counts()
    refused = c.post("/portal/tokens/issue", data)
    assert refused.status_code in (403, 409) and counts() == before
    certify(gate.w, gate.w.academic_org)
    issued = c.post("/portal/tokens/issue", data)
    assert issued.status_code == 201
    assert GatewayToken.objects.get().kind == "academic"


def test_a_lab_reviewer_gets_the_sign_command_for_the_next_stage_on_the_release_page(login, gate: Gate):
    page = login(gate.w.lab_reviewer).get(f"/portal/releases/{gate.sv.pk}").content.decode()
    assert "stagegate-sign sign" in page and f"--system-version {gate.sv.pk}" in page
    assert "--stage 1" in page and "--audit" not in page  # a lab's review binds no audit
    assert "stagegate-sign sign" not in login(gate.w.lab_admin).get(f"/portal/releases/{gate.sv.pk}").content.decode()


def test_the_progress_script_polls_the_box_the_run_page_marks():
    """The run page marks its progress box with data-poll (its URL) and a
    finished box with data-finished; the script must use the same names."""
    from pathlib import Path

    import portal

    script = (Path(portal.__file__).parent / "static" / "portal" / "portal.js").read_text()
    box = (Path(portal.__file__).parent / "templates" / "portal" / "_run_progress.html").read_text()
    for marker in ("data-poll", "data-finished"):
        assert marker in script and marker in box
