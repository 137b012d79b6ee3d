"""The regulator's and the customer's portal: releases found by filter and
search, certification, audits opened, assigned and closed, conflicts, KYC
submitted and decided, consents and enrolments, whistleblower triage, the
audit trail, and sign-off signatures verified on the gate request page.
Refused or bad writes add nothing; another organisation's objects are 404s."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.utils import timezone

from auditing.models import Audit, AuditAssignment, Certification, ConflictOfInterest
from core.models import AuditEvent
from customers.models import EnrolmentConsent, KycRecord
from deploy import services as deploy_services
from monitoring import hpke
from monitoring import services as monitoring_services
from monitoring.models import Incident, WhistleblowerReport
from tests.auditing.conftest import actor, make_system_version
from tests.customers.conftest import OWNERS
from tests.deploy.conftest import Gate
from tests.factories import release_at

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return (
        Certification.objects.count(),
        Audit.objects.count(),
        AuditAssignment.objects.filter(ended_at__isnull=True).count(),
        ConflictOfInterest.objects.count(),
        KycRecord.objects.count(),
        EnrolmentConsent.objects.count(),
        Incident.objects.count(),
        AuditEvent.objects.count(),
    )


# --- releases -------------------------------------------------------------------


def test_the_regulator_finds_every_release_by_filter_and_search(login, world):
    chat = make_system_version(world.lab, world.lab_engineer, name="chat")
    agent = make_system_version(world.other_lab, world.other_lab_admin, name="agent")
    release_at(agent, 2, status="halted")
    c = login(world.regulator)
    everything = c.get("/portal/releases").content.decode()
    assert f"/portal/releases/{chat.pk}" in everything and f"/portal/releases/{agent.pk}" in everything
    halted = c.get("/portal/releases", {"status": "halted"}).content.decode()
    assert f"/portal/releases/{agent.pk}" in halted and f"/portal/releases/{chat.pk}" not in halted
    stage0 = c.get("/portal/releases", {"stage": "0"}).content.decode()
    assert f"/portal/releases/{chat.pk}" in stage0 and f"/portal/releases/{agent.pk}" not in stage0
    by_lab = c.get("/portal/releases", {"q": "Borealis"}).content.decode()
    assert f"/portal/releases/{agent.pk}" in by_lab and f"/portal/releases/{chat.pk}" not in by_lab
    # Nonsense filters are ignored, not errors.
    assert c.get("/portal/releases", {"stage": "9", "status": "x", "lab": "y"}).status_code == 200
    # A lab sees its own releases only.
    own = login(world.lab_admin).get("/portal/releases").content.decode()
    assert f"/portal/releases/{chat.pk}" in own and f"/portal/releases/{agent.pk}" not in own


# --- certification, audits, assignments, conflicts ------------------------------


def test_the_regulator_certifies_opens_an_audit_assigns_and_closes_it(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    c = login(world.regulator)
    expires = (timezone.now() + datetime.timedelta(days=365)).date().isoformat()
    certified = c.post(
        "/portal/certifications/issue",
        {"organisation": str(world.auditor_org.pk), "expires_on": expires, "risk_areas": ["deception"],
         "infosec_level": "SL3"},
    )  # fmt: skip
    assert certified.status_code == 302
    assert Certification.objects.get(organisation=world.auditor_org).status == "active"
    opened = c.post(
        "/portal/audits/open",
        {"system_version": str(sv.pk), "kind": "initial", "lab_fee_amount": "1000.00", "currency": "GBP"},
    )
    audit = Audit.objects.get()
    assert opened.status_code == 302 and opened["Location"] == f"/portal/audits/{audit.pk}"
    assigned = c.post(
        f"/portal/audits/{audit.pk}/assign", {"organisation": str(world.auditor_org.pk), "payout_amount": "400"}
    )
    assert assigned.status_code == 302
    assert AuditAssignment.objects.get().organisation == world.auditor_org
    # The assigned auditor now sees the audit.
    assert login(world.auditor).get(f"/portal/audits/{audit.pk}").status_code == 200
    # An uncertified organisation is refused, nothing added.
    before = counts()
    refused = c.post(
        f"/portal/audits/{audit.pk}/assign", {"organisation": str(world.other_auditor_org.pk), "payout_amount": "1"}
    )
    assert refused.status_code == 409 and counts() == before
    # Cancelling needs a reason.
    assert c.post(f"/portal/audits/{audit.pk}/close", {"status": "cancelled", "reason": ""}).status_code == 400
    assert c.post(f"/portal/audits/{audit.pk}/close", {"status": "closed"}).status_code == 302
    assert Audit.objects.get().status == "closed"


def test_only_the_regulator_certifies_opens_and_assigns(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    expires = (timezone.now() + datetime.timedelta(days=30)).date().isoformat()
    before = counts()
    for user in (world.auditor, world.lab_admin, world.customer):
        c = login(user)
        r = c.post(
            "/portal/certifications/issue",
            {"organisation": str(world.auditor_org.pk), "expires_on": expires, "risk_areas": ["cyber"],
             "infosec_level": "SL3"},
        )  # fmt: skip
        assert r.status_code in (400, 403)
        r = c.post(
            "/portal/audits/open",
            {"system_version": str(sv.pk), "kind": "initial", "lab_fee_amount": "1", "currency": "GBP"},
        )
        assert r.status_code in (400, 403)
    assert counts() == before


def test_an_auditor_declares_its_own_conflict_but_not_another_organisations(login, gate: Gate):
    c = login(gate.w.auditor)
    before = counts()
    others = c.post(
        "/portal/conflicts/declare",
        {"organisation": str(gate.w.other_auditor_org.pk), "lab": str(gate.w.lab.pk), "kind": "consulted",
         "reason": "Not ours to say."},
    )  # fmt: skip
    assert others.status_code == 400 and counts() == before
    ours = c.post(
        "/portal/conflicts/declare",
        {"organisation": str(gate.w.auditor_org.pk), "lab": str(gate.w.lab.pk), "kind": "consulted",
         "reason": "We advised on the system prompt."},
    )  # fmt: skip
    assert ours.status_code == 302
    conflict = ConflictOfInterest.objects.get()
    # Its assignment on the lab's open audit ended with it.
    assert not AuditAssignment.objects.filter(organisation=gate.w.auditor_org, ended_at__isnull=True).exists()
    assert b"We advised on the system prompt." in login(gate.w.regulator).get("/portal/conflicts").content
    assert (
        login(gate.w.other_lab_admin).post(f"/portal/conflicts/{conflict.pk}/end", {"reason": "x"}).status_code == 404
    )


# --- KYC, consents, enrolments ----------------------------------------------------


def kyc_data(**over: str) -> dict[str, str]:
    return {
        "legal_name": "Acme Bank plc",
        "registration_number": "01234567",
        "jurisdiction": "gb",
        "registered_address": "1 King Street, London",
        "stated_purpose": "Drafting replies to customer letters.",
        "beneficial_owners": "\n".join(
            f"{o['full_name']}; {o['country']}; {o['ownership_percent']}{'; controls' if o['controls'] else ''}"
            for o in OWNERS
        ),
        **over,
    }


def test_a_customer_submits_kyc_and_the_regulator_verifies_what_it_read(login, world):
    c = login(world.customer)
    assert c.get("/portal/kyc")["Location"] == f"/portal/kyc/{world.customer_org.pk}"
    assert c.post(f"/portal/kyc/{world.customer_org.pk}/submit", kyc_data()).status_code == 302
    record = KycRecord.objects.get()
    assert record.status == "submitted" and record.jurisdiction == "GB"
    assert sorted(o.full_name for o in record.owners.all()) == ["Ada Lovelace", "Grace Hopper"]
    regulator = login(world.regulator)
    assert b"Acme Bank" in regulator.get("/portal/kyc").content
    read = record.submission_digest
    # The customer resubmits meanwhile: verifying what the regulator read is refused.
    c.post(f"/portal/kyc/{world.customer_org.pk}/submit", kyc_data(stated_purpose="Something else."))
    before = counts()
    stale = regulator.post(
        f"/portal/kyc/{world.customer_org.pk}/decide",
        {"decision": "verify", "note": "Registry checked.", "submission_digest": read},
    )
    assert stale.status_code == 409 and counts() == before and KycRecord.objects.get().status == "submitted"
    fresh = KycRecord.objects.get().submission_digest
    ok = regulator.post(
        f"/portal/kyc/{world.customer_org.pk}/decide",
        {"decision": "verify", "note": "Registry checked.", "submission_digest": fresh},
    )
    assert ok.status_code == 302 and KycRecord.objects.get().status == "verified"
    assert b"Verified by the regulator" in c.get(f"/portal/kyc/{world.customer_org.pk}").content


def test_bad_kyc_input_writes_nothing_and_others_cannot_see_it(login, world):
    c = login(world.customer)
    before = counts()
    assert c.post(f"/portal/kyc/{world.customer_org.pk}/submit", kyc_data(beneficial_owners="Ada")).status_code == 400
    assert c.post(f"/portal/kyc/{world.customer_org.pk}/submit", kyc_data(jurisdiction="XX")).status_code == 400
    too_much = kyc_data(beneficial_owners="A; GB; 70\nB; GB; 70")
    assert c.post(f"/portal/kyc/{world.customer_org.pk}/submit", too_much).status_code == 400
    assert counts() == before
    c.post(f"/portal/kyc/{world.customer_org.pk}/submit", kyc_data())
    for user in (world.lab_admin, world.auditor, world.outsider):
        assert login(user).get(f"/portal/kyc/{world.customer_org.pk}").status_code == 404
    # Only the regulator decides.
    assert (
        c.post(
            f"/portal/kyc/{world.customer_org.pk}/decide",
            {"decision": "verify", "note": "me", "submission_digest": KycRecord.objects.get().submission_digest},
        ).status_code
        == 403
    )
    assert KycRecord.objects.get().status == "submitted"


def test_a_customer_consents_to_a_stage_2_release_and_withdraws(login, world):
    open_sv = make_system_version(world.lab, world.lab_engineer, name="open")
    closed_sv = make_system_version(world.lab, world.lab_engineer, name="closed")
    release_at(open_sv, 2)
    release_at(closed_sv, 1)
    c = login(world.customer)
    page = c.get("/portal/enrolments").content.decode()
    assert f"/portal/enrolments/consent/{open_sv.pk}" in page and str(closed_sv.pk) not in page
    assert c.post(f"/portal/enrolments/consent/{closed_sv.pk}").status_code == 404
    assert c.post(f"/portal/enrolments/consent/{open_sv.pk}").status_code == 302
    assert EnrolmentConsent.objects.get().customer == world.customer_org
    # A lab member cannot consent for a customer.
    assert login(world.lab_admin).post(f"/portal/enrolments/consent/{open_sv.pk}").status_code == 404
    assert c.post(f"/portal/enrolments/consent/{open_sv.pk}/withdraw").status_code == 302
    assert EnrolmentConsent.objects.get().withdrawn_at is not None


# --- whistleblower triage, the audit trail, signatures ---------------------------


def test_the_regulator_triages_a_whistleblower_report_into_an_incident(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    release_at(sv, 1)
    private = X25519PrivateKey.generate()
    monitoring_services.whistleblower_key_register(
        actor=actor(world.regulator), public_key=hpke.public_key_b64(private.public_key())
    )
    report = monitoring_services.whistleblower_report_submit(plaintext="The lab hid an incident.")
    c = login(world.regulator)
    page = c.get("/portal/whistleblower").content.decode()
    assert report.sealed_sha256 in page and "The lab hid an incident." not in page
    assert login(world.lab_admin).get("/portal/whistleblower").status_code == 403
    now = timezone.now()
    response = c.post(
        f"/portal/whistleblower/{report.pk}/triage",
        {"system_version": str(sv.pk), "kind": "other", "title": "Hidden incident", "description": "As reported.",
         "occurred_at": (now - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
         "aware_at": (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
    )  # fmt: skip
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/portal/incidents/{incident.pk}"
    assert WhistleblowerReport.objects.get().status == "triaged"


def test_the_audit_trail_shows_the_regulator_everything_and_others_their_own(login, gate: Gate):
    c = login(gate.w.regulator)
    page = c.get("/portal/audit-trail", {"action": "audit.open"}).content.decode()
    assert "audit.open" in page and "certification.issue" not in page
    assert "certification.issue" in c.get("/portal/audit-trail").content.decode()
    # Another lab sees none of this lab's events.
    other = login(gate.w.other_lab_admin).get("/portal/audit-trail").content.decode()
    assert "audit.open" not in other


def test_the_gate_request_page_verifies_each_standing_signature(login, gate: Gate):
    gate.internal()
    gate_request = deploy_services.gate_request_create(actor=actor(gate.w.lab_admin), system_version=gate.sv)
    page = login(gate.w.regulator).get(f"/portal/gate-requests/{gate_request.pk}").content.decode()
    assert page.count("verified, key") == 2 and "does not verify" not in page
    # A tampered envelope (as stored) no longer verifies in the page.
    signoff = gate.sv.signoffs.first()
    envelope = dict(signoff.envelope)
    envelope["signatures"] = [{**envelope["signatures"][0], "sig": envelope["signatures"][1 - 1]["sig"][::-1]}]
    type(signoff).objects.filter(pk=signoff.pk).update(envelope=envelope)
    page = login(gate.w.regulator).get(f"/portal/gate-requests/{gate_request.pk}").content.decode()
    assert page.count("verified, key") == 1 and "does not verify" in page


def test_an_enrolled_verified_customer_issues_itself_a_token_and_another_cannot(login, world):
    from customers import services as customer_services
    from gateway.models import GatewayToken
    from tests.customers.conftest import consent, submit, verify

    sv = make_system_version(world.lab, world.lab_engineer)
    release_at(sv, 2)
    submit(world.customer_org, world.customer)
    verify(world.regulator, world.customer_org)
    c = login(world.customer)
    # Not enrolled yet: the system is not offered, and asking for it is refused.
    assert str(sv.pk) not in c.get("/portal/tokens").content.decode()
    data = {"system_version": str(sv.pk), "name": "backend", "days": 30}
    assert c.post("/portal/tokens/issue", data).status_code == 400
    consent(world.customer_org, sv)
    customer_services.enrolment_create(actor=actor(world.lab_admin), system_version=sv, customer=world.customer_org.pk)
    enrolments = c.get("/portal/enrolments").content.decode()
    assert "Systems you may call" in enrolments and str(sv) in enrolments
    issued = c.post("/portal/tokens/issue", data)
    assert issued.status_code == 201
    token = GatewayToken.objects.get()
    assert token.kind == "customer" and token.holder == world.customer
    # Another customer's member sees nothing of it.
    from tests.customers.conftest import verified_customer

    _, other = verified_customer(world.regulator, "globex")
    assert b"backend" not in login(other).get("/portal/tokens").content
    assert login(other).post(f"/portal/tokens/{token.pk}/revoke").status_code == 404
    assert GatewayToken.objects.get().revoked_at is None
