"""The standards endpoints: who reads and who writes."""

from __future__ import annotations

import pytest

from core.models import AuditEvent
from standards.defaults import DEFAULT_STANDARD
from standards.models import Standard, StandardStatus
from tests.standards.conftest import draft_payload

pytestmark = pytest.mark.django_db

READERS = ["regulator", "lab_admin", "other_lab_admin", "auditor", "academic", "customer", "outsider"]


@pytest.mark.parametrize("url", ["/api/standards", "/api/standards/current"])
def test_anonymous_is_refused(world, api, url):
    r = api.get(url)
    assert r.status_code == 401


@pytest.mark.parametrize("who", READERS)
def test_everyone_signed_in_reads_the_current_standard(world, client_for, who):
    r = client_for(getattr(world, who)).get("/api/standards/current")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["version"] == DEFAULT_STANDARD["version"]
    assert body["status"] == "in_force"
    assert {s["suite"] for s in body["suites"]} >= {"insider_trading_deception", "cyber_offense_ctf"}
    assert {k["key"]: k["reporting_deadline_days"] for k in body["incident_kinds"]}["critical_infrastructure"] == 2
    protocols = {p["suite"]: p for p in body["protocols"]}
    assert set(protocols) == {s["suite"] for s in body["suites"]}
    assert protocols["insider_trading_deception"]["min_valid_trials"] >= 35
    assert len(protocols["insider_trading_deception"]["digest"]) == 64


def test_drafts_are_the_regulators_alone(world, client_for, draft):
    listed = lambda user: {s["version"] for s in client_for(user).get("/api/standards").json()["results"]}  # noqa: E731
    # 2026.1 (no protocols) is superseded by the default 2026.2; both stay published.
    assert listed(world.regulator) == {"2026.1", DEFAULT_STANDARD["version"], draft.version}
    assert listed(world.lab_admin) == {"2026.1", DEFAULT_STANDARD["version"]}
    assert client_for(world.lab_admin).get(f"/api/standards/{draft.pk}").status_code == 404
    r = client_for(world.regulator).get(f"/api/standards/{draft.pk}")
    assert r.status_code == 200
    assert len(r.json()["suites"]) == 2


def test_regulator_creates_a_draft(world, client_for):
    r = client_for(world.regulator).post("/api/standards", draft_payload(), format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "draft"
    assert {s["affordance"] for s in body["suites"]} == {None, "code_execution"}
    assert AuditEvent.objects.filter(action="standard.create", target_id=body["id"]).exists()


@pytest.mark.parametrize("who", ["lab_admin", "auditor", "customer", "outsider"])
def test_only_the_regulator_creates(world, client_for, who):
    r = client_for(getattr(world, who)).post("/api/standards", draft_payload(), format="json")
    assert r.status_code == 403
    assert r.json()["code"] == "regulator_only"
    assert not Standard.objects.filter(version="2027.1").exists()


def test_bad_draft_is_400_naming_fields_and_writes_nothing(world, client_for):
    payload = draft_payload(distinct_auditor_orgs_required=0)
    payload["suites"][0]["threshold_max"] = 2
    payload["suites"][1]["affordance"] = "teleportation"
    del payload["version"]
    before = Standard.objects.count()
    r = client_for(world.regulator).post("/api/standards", payload, format="json")
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert {"version", "distinct_auditor_orgs_required", "suites.0.threshold_max"} <= set(errors)
    assert Standard.objects.count() == before


def test_unknown_affordance_is_400_from_the_service(world, client_for):
    payload = draft_payload()
    payload["suites"][1]["affordance"] = "teleportation"
    r = client_for(world.regulator).post("/api/standards", payload, format="json")
    assert r.status_code == 400
    assert "suites.1.affordance" in r.json()["errors"]
    assert not Standard.objects.filter(version="2027.1").exists()


def test_regulator_publishes_and_everyone_sees_the_new_standard(world, client_for, draft):
    r = client_for(world.regulator).post(f"/api/standards/{draft.pk}/publish")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "in_force"
    assert len(r.json()["content_digest"]) == 64
    current = client_for(world.customer).get("/api/standards/current").json()
    assert current["version"] == draft.version
    assert Standard.objects.get(version=DEFAULT_STANDARD["version"]).status == StandardStatus.SUPERSEDED
    again = client_for(world.regulator).post(f"/api/standards/{draft.pk}/publish")
    assert again.status_code == 409
    assert again.json()["code"] == "standard_not_draft"


def test_publish_scoping(world, client_for, draft):
    # A draft is invisible to a lab (404); a published standard is visible but not theirs to publish (403).
    assert client_for(world.lab_admin).post(f"/api/standards/{draft.pk}/publish").status_code == 404
    in_force = Standard.objects.in_force().get()
    r = client_for(world.lab_admin).post(f"/api/standards/{in_force.pk}/publish")
    assert r.status_code == 403
    assert client_for(world.regulator).get(f"/api/standards/{draft.pk}").json()["status"] == "draft"
