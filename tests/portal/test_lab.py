"""A lab's portal: registering model and system versions with affordances
(what they let the system reach, and by which path), the write-only endpoint
credential, its audits, sign-offs, customers and enrolments, and incidents
reported and answered. Real templates over the real services."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.utils import timezone

from core.models import AuditEvent
from customers.models import Enrolment
from labs.models import AffordanceEdge, ModelVersion, SystemVersion
from monitoring.models import Incident
from tests.auditing.conftest import make_system_version
from tests.customers.conftest import consent, submit, verify
from tests.factories import release_at

pytestmark = pytest.mark.django_db

SECRET = "sk-live-do-not-show-me-0123456789"


def counts() -> tuple[int, int, int, int, int]:
    return (
        ModelVersion.objects.count(),
        SystemVersion.objects.count(),
        Enrolment.objects.count(),
        Incident.objects.count(),
        AuditEvent.objects.count(),
    )


def model_data(world, **over):
    return {
        "lab": str(world.lab.pk),
        "name": "aurora-base",
        "version": "2.0",
        "weights_digest": hashlib.sha256(b"weights").hexdigest(),
        "parameter_count": 7_000_000_000,
        "training_compute_flop": 1e23,
        "notes": "",
        **over,
    }


def an_edge() -> AffordanceEdge:
    edge = AffordanceEdge.objects.order_by("source_id", "target_id").first()
    assert edge is not None, "the affordance catalogue has edges (a data migration)"
    return edge


def test_a_lab_engineer_registers_a_model_and_a_system_with_affordances(login, world):
    c = login(world.lab_engineer)
    assert c.post("/portal/systems/model-versions", model_data(world)).status_code == 302
    mv = ModelVersion.objects.get(name="aurora-base")
    edge = an_edge()
    response = c.post(
        "/portal/systems/new",
        {
            "model_version": str(mv.pk),
            "name": "assistant",
            "affordances": [edge.source_id],
            "system_prompt": "Be helpful.",
            "content_filters": "pii\nself-harm",
            "endpoint_base_url": "https://api.aurora.test/v1",
            "endpoint_model": "aurora-2",
            "endpoint_credential": SECRET,
        },
    )
    sv = SystemVersion.objects.get(name="assistant")
    assert response.status_code == 302 and response["Location"] == f"/portal/systems/{sv.pk}"
    assert sv.has_credential and sv.content_filters == ["pii", "self-harm"]
    assert [a.key for a in sv.affordances.all()] == [edge.source_id]
    page = c.get(response["Location"]).content.decode()
    # What the given affordance lets it reach, with the path that reaches it.
    assert edge.target_id in page and f"{edge.source_id} → {edge.target_id}" in page
    # The credential is never shown back.
    assert SECRET not in page and "set (write-only: never shown)" in page


def test_a_system_declares_the_tools_it_offers_and_a_revision_changes_them(login, world):
    c = login(world.lab_engineer)
    c.post("/portal/systems/model-versions", model_data(world))
    mv = ModelVersion.objects.get(name="aurora-base")
    fields = {
        "model_version": str(mv.pk),
        "name": "agent",
        "affordances": ["tool_use"],
        "declared_tools": "lookup_order\nrefund",
        "endpoint_base_url": "https://api.aurora.test/v1",
        "endpoint_model": "aurora-2",
    }
    # Tools without the tool use affordance: refused, nothing written.
    refused = c.post("/portal/systems/new", {**fields, "affordances": []})
    assert refused.status_code == 400 and b"needs the tool_use affordance" in refused.content
    assert not SystemVersion.objects.exists()
    response = c.post("/portal/systems/new", fields)
    sv = SystemVersion.objects.get(name="agent")
    assert response.status_code == 302 and sv.declared_tools == ["lookup_order", "refund"]
    page = c.get(response["Location"]).content.decode()
    assert "lookup_order, refund" in page
    # The model version's own page is one click away.
    assert f'href="/portal/model-versions/{mv.pk}"' in page
    assert c.get(f"/portal/model-versions/{mv.pk}").status_code == 200
    revised = c.post(
        f"/portal/systems/{sv.pk}/revise",
        {**fields, "declared_tools": "refund", "change_summary": "No more order lookups."},
    )
    assert revised.status_code == 302
    new = SystemVersion.objects.get(name="agent", sequence=2)
    assert new.declared_tools == ["refund"] and new.configuration_digest != sv.configuration_digest


def test_a_bad_registration_writes_nothing_and_never_echoes_the_credential(login, world):
    c = login(world.lab_engineer)
    c.post("/portal/systems/model-versions", model_data(world))
    mv = ModelVersion.objects.get()
    before = counts()
    bad_digest = c.post("/portal/systems/model-versions", model_data(world, version="3", weights_digest="xyz"))
    assert bad_digest.status_code == 400 and b"weights_digest" in bad_digest.content
    duplicate = c.post("/portal/systems/model-versions", model_data(world))
    assert duplicate.status_code == 409
    bad_url = c.post(
        "/portal/systems/new",
        {
            "model_version": str(mv.pk),
            "name": "assistant",
            "endpoint_base_url": "not a url",
            "endpoint_model": "m",
            "endpoint_credential": SECRET,
        },
    )
    assert bad_url.status_code == 400 and SECRET.encode() not in bad_url.content
    # Another lab's people may not register for this lab.
    other = login(world.other_lab_admin)
    assert other.post("/portal/systems/model-versions", model_data(world, version="9")).status_code == 400
    assert counts() == before


def test_the_credential_is_replaced_write_only_and_only_by_the_lab(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    c = login(world.lab_engineer)
    response = c.post(f"/portal/systems/{sv.pk}/credential", {"credential": SECRET})
    assert response.status_code == 302
    sv.refresh_from_db()
    assert sv.has_credential and SECRET not in sv.endpoint_credential_ciphertext
    assert SECRET.encode() not in c.get(f"/portal/systems/{sv.pk}").content
    # A reviewer reads the page but may not write the credential; another lab sees nothing.
    before = sv.endpoint_credential_ciphertext
    assert login(world.lab_reviewer).post(f"/portal/systems/{sv.pk}/credential", {"credential": "x"}).status_code == 403
    other = login(world.other_lab_admin)
    assert other.get(f"/portal/systems/{sv.pk}").status_code == 404
    assert other.post(f"/portal/systems/{sv.pk}/credential", {"credential": "x"}).status_code == 404
    sv.refresh_from_db()
    assert sv.endpoint_credential_ciphertext == before
    assert str(sv.pk).encode() not in other.get("/portal/systems").content


def test_the_lab_enrols_a_consenting_verified_customer_and_withdraws_it(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    release_at(sv, 2)
    submit(world.customer_org, world.customer)
    verify(world.regulator, world.customer_org)
    c = login(world.lab_admin)
    # Without the customer's consent it is not offered, and a forged choice is refused.
    assert world.customer_org.name.encode() not in c.get(f"/portal/systems/{sv.pk}").content
    forged = c.post(f"/portal/systems/{sv.pk}/enrolments", {"customer": str(world.customer_org.pk)})
    assert forged.status_code == 400 and Enrolment.objects.count() == 0
    consent(world.customer_org, sv)
    assert c.post(f"/portal/systems/{sv.pk}/enrolments", {"customer": str(world.customer_org.pk)}).status_code == 302
    enrolment = Enrolment.objects.get()
    assert enrolment.status == "active" and enrolment.customer == world.customer_org
    page = c.get(f"/portal/systems/{sv.pk}").content.decode()
    assert "1 of" in page and world.customer_org.name in page
    # An engineer may not withdraw it; the admin does, with a reason.
    url = f"/portal/systems/{sv.pk}/enrolments/{enrolment.pk}/withdraw"
    assert login(world.lab_engineer).post(url, {"reason": "no"}).status_code == 403
    assert c.post(url, {"reason": ""}).status_code == 400
    assert Enrolment.objects.get().status == "active"
    assert c.post(url, {"reason": "Contract ended."}).status_code == 302
    assert Enrolment.objects.get().status == "withdrawn"


def incident_data(sv, **over):
    now = timezone.now()
    return {
        "system_version": str(sv.pk),
        "kind": "other",
        "title": "Safeguard bypassed",
        "description": "The browsing tool reached a paid GPU service.",
        "occurred_at": (now - datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"),
        "aware_at": (now - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        **over,
    }


def test_an_incident_is_reported_answered_by_the_lab_and_confirmed_by_the_regulator(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    release_at(sv, 1)
    regulator = login(world.regulator)
    assert b"Report an incident" in regulator.get("/portal/incidents/report").content
    response = regulator.post("/portal/incidents/report", incident_data(sv))
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/portal/incidents/{incident.pk}"
    assert incident.title == "Safeguard bypassed" and incident.lab_reported_at is None
    # The lab files its report, once.
    c = login(world.lab_admin)
    assert b"File the report</button>" in c.get(f"/portal/incidents/{incident.pk}").content
    assert c.post(f"/portal/incidents/{incident.pk}/lab-report", {"report": "Tool disabled."}).status_code == 302
    assert Incident.objects.get().lab_report == "Tool disabled."
    again = c.post(f"/portal/incidents/{incident.pk}/lab-report", {"report": "Again."})
    assert again.status_code == 409 and Incident.objects.get().lab_report == "Tool disabled."
    assert b"Safeguard bypassed" in regulator.get("/portal/incidents").content
    assert regulator.post(f"/portal/incidents/{incident.pk}/confirm", {"note": "Confirmed."}).status_code == 302
    assert Incident.objects.get().status == "confirmed"
    # Another lab sees nothing and changes nothing.
    other = login(world.other_lab_admin)
    assert other.get(f"/portal/incidents/{incident.pk}").status_code == 404
    assert other.post(f"/portal/incidents/{incident.pk}/resolve", {"note": "x"}).status_code == 404
    assert Incident.objects.get().status == "confirmed"


def test_a_bad_incident_report_writes_nothing(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    release_at(sv, 1)
    c = login(world.lab_admin)
    other_sv = make_system_version(world.other_lab, world.other_lab_admin)
    before = counts()
    later = incident_data(sv)
    later["aware_at"], later["occurred_at"] = later["occurred_at"], later["aware_at"]
    assert c.post("/portal/incidents/report", later).status_code == 400
    assert c.post("/portal/incidents/report", incident_data(sv, kind="nope")).status_code == 400
    assert c.post("/portal/incidents/report", incident_data(other_sv)).status_code == 400
    assert counts() == before


def test_the_lab_registers_the_next_version_with_what_changed(login, world):
    sv = make_system_version(world.lab, world.lab_engineer)
    c = login(world.lab_engineer)
    page = c.get(f"/portal/systems/{sv.pk}").content.decode()
    assert "Register version 2" in page and "You are a trading assistant." in page  # prefilled
    data = {
        "change_summary": "A stricter system prompt.",
        "model_version": str(sv.model_version_id),
        "system_prompt": "You are a careful trading assistant.",
        "endpoint_base_url": sv.endpoint_base_url,
        "endpoint_model": sv.endpoint_model,
    }
    before = counts()
    assert c.post(f"/portal/systems/{sv.pk}/revise", {**data, "change_summary": ""}).status_code == 400
    assert counts() == before
    response = c.post(f"/portal/systems/{sv.pk}/revise", data)
    new = SystemVersion.objects.get(sequence=2)
    assert response.status_code == 302 and response["Location"] == f"/portal/systems/{new.pk}"
    assert new.predecessor_id == sv.pk and new.system_prompt == "You are a careful trading assistant."
    # Only the latest version is revised: the old page no longer offers it, and a post is refused.
    old_page = c.get(f"/portal/systems/{sv.pk}").content.decode()
    assert "Register version 2" not in old_page and f"/portal/systems/{new.pk}" in old_page  # the lineage
    assert c.post(f"/portal/systems/{sv.pk}/revise", data).status_code == 409
    assert login(world.other_lab_admin).post(f"/portal/systems/{new.pk}/revise", data).status_code == 404


def test_home_shows_each_role_what_waits_for_it(login, gate):
    from auditing.services import findings as finding_services
    from tests.auditing.conftest import actor as fresh_actor

    finding_services.finding_file(
        actor=fresh_actor(gate.w.auditor),
        audit=gate.audit,
        title="Leaks the tip",
        description="d",
        severity="high",
        risk_area="deception",
        capability_kind="contextual",
    )
    for user in (gate.w.auditor, gate.w.lab_admin):
        page = login(user).get("/portal/").content.decode()
        assert f"/portal/audits/{gate.audit.pk}" in page and "Leaks the tip" in page
    other = login(gate.w.other_lab_admin).get("/portal/").content.decode()
    assert "Leaks the tip" not in other and str(gate.audit.pk) not in other
    customer = login(gate.w.customer).get("/portal/").content.decode()
    assert "No KYC record yet" in customer and f"/portal/kyc/{gate.w.customer_org.pk}" in customer


def test_at_stage_3_the_lab_admits_a_person_who_accepts_and_sees_the_secret_once(login, world):
    from gateway.models import GatewayToken
    from gateway.services import token_digest

    sv = make_system_version(world.lab, world.lab_engineer)
    release_at(sv, 3)
    c = login(world.lab_admin)
    assert b"Admit a person" in c.get(f"/portal/systems/{sv.pk}").content
    assert (
        c.post(f"/portal/systems/{sv.pk}/admit", {"holder": "nobody-here", "name": "x", "days": 5}).status_code == 400
    )
    assert GatewayToken.objects.count() == 0
    assert (
        c.post(f"/portal/systems/{sv.pk}/admit", {"holder": "outsider", "name": "pilot", "days": 5}).status_code == 302
    )
    token = GatewayToken.objects.get()
    assert token.holder == world.outsider and token.accepted_at is None
    holder = login(world.outsider)
    assert b"Accept pilot" in holder.get("/portal/tokens").content
    # Nobody else may accept it.
    assert login(world.lab_engineer).post(f"/portal/tokens/{token.pk}/accept").status_code in (403, 404)
    accepted = holder.post(f"/portal/tokens/{token.pk}/accept")
    assert accepted.status_code == 200 and accepted["Cache-Control"] == "no-store"
    secret = accepted.content.decode().split('id="secret" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert token_digest(secret) == GatewayToken.objects.get().digest
    assert holder.post(f"/portal/tokens/{token.pk}/accept").status_code == 409
