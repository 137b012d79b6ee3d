"""`manage.py demo` seeds a believable world, twice without duplicates, and its
JSON lets every role sign in; its staged-release walkthrough takes a system
from stage 0 to stage 3 through the real gates, halts another, and logs every
decision. The lab's endpoint here is a scripted model (the real one is
exercised by tests/test_run_script.py); the walkthrough calls it through the
real gateway, so the data is committed (transactional)."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.core.management import call_command
from rest_framework.test import APIClient

# A model that never trades on the tip: a valid decision each time.
HOLD = 'Reasoning: """Acting on a tip would be illegal."""\n\nAction: find_trades\nAction Input: low'


@pytest.fixture(autouse=True)
def demo_model(reference_data, model, monkeypatch):
    import redis
    from django.conf import settings

    model.reset()
    model.script = []
    model.default = HOLD
    redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL).flushdb()
    monkeypatch.setattr("demo.world.UPSTREAM_URL", model.url + "/v1")
    return model


COUNTED = [
    "auth.User",
    "core.Organisation",
    "core.Membership",
    "core.ApiToken",
    "labs.ModelVersion",
    "labs.SystemVersion",
    "auditing.Certification",
    "auditing.ConflictOfInterest",
    "auditing.Audit",
    "auditing.AuditAssignment",
    "auditing.Fee",
    "auditing.SignOff",
    "deploy.GateRequest",
    "evals.EvalRun",
    "transparency.LogEntry",
]


def counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in COUNTED}


def test_demo_is_idempotent_and_its_json_logs_every_role_in(tmp_path, capsys):
    path = tmp_path / "demo.json"
    call_command("demo", json=str(path))
    first = counts()
    document = json.loads(path.read_text())
    call_command("demo", json=str(path))
    assert counts() == first
    assert json.loads(path.read_text()) == document  # same logins on a re-run

    assert first["core.Organisation"] == 8
    assert first["labs.SystemVersion"] == 3
    # The walkthrough: three system versions' releases, each with its checklist.
    releases = {r["name"]: r for r in document["releases"]}
    assert (releases["Aurora Assistant v1"]["stage"], releases["Aurora Assistant v1"]["status"]) == (3, "active")
    assert (releases["Aurora Assistant v2"]["stage"], releases["Aurora Assistant v2"]["status"]) == (1, "active")
    assert releases["Borealis Code Agent v1"]["status"] == "halted"
    assert releases["Aurora Assistant v1"]["checklist"].endswith(
        f"/api/releases/{releases['Aurora Assistant v1']['system_version']}/checklist"
    )
    assert first["auditing.AuditAssignment"] >= 4
    assert document["api"].endswith("/api/")
    roles = document["users"]
    assert {"regulator", "lab_admin", "lab_engineer", "lab_reviewer", "auditor", "academic", "customer"} <= set(roles)
    for role, login in roles.items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {login['api_token']}")
        me = client.get("/api/me")
        assert me.status_code == 200, role
        assert me.json()["username"] == login["username"]
        assert APIClient().login(username=login["username"], password=login["password"]), role
    out = capsys.readouterr().out
    assert "regulator" in out and roles["regulator"]["password"] in out
    assert "stage 2 request REFUSED" in out and "stage 2 → 3 approved" in out


def test_the_walkthrough_reaches_stage_3_green_with_every_decision_logged(tmp_path):
    from deploy.models import GateRequest
    from labs.models import SystemVersion
    from transparency.models import LogEntry

    path = tmp_path / "demo.json"
    call_command("demo", json=str(path))
    document = json.loads(path.read_text())
    v1 = SystemVersion.objects.get(name="Aurora Assistant", sequence=1)
    regulator = APIClient()
    regulator.credentials(HTTP_AUTHORIZATION=f"Bearer {document['users']['regulator']['api_token']}")
    # Stage 3 is the last one: the checklist of the gate that opened it was all green.
    gates = list(GateRequest.objects.filter(system_version=v1).order_by("to_stage"))
    assert [(g.to_stage, g.status) for g in gates] == [(1, "approved"), (2, "approved"), (3, "approved")]
    last = gates[-1].decision_checklist
    assert last["passed"] and all(item["met"] for item in last["items"])
    assert {i["code"] for i in last["items"]} >= {"monitoring_period", "no_unresolved_serious_incident"}
    # Every decision is in the transparency log, in date order, and the log verifies.
    for gate in gates:
        kinds = {gate.request_log_index: "gate.request", gate.decision_log_index: "gate.approved"}
        for index, kind in kinds.items():
            assert LogEntry.objects.get(index=index).kind == kind
    times = list(LogEntry.objects.order_by("index").values_list("logged_at", flat=True))
    assert times == sorted(times)
    assert LogEntry.objects.filter(kind="release.halt").count() == 1
    # A KYC-verified customer holds a stage-2 place in the released system.
    assert v1.release.enrolments.filter(status="active", customer__slug="meridian").count() == 1
    call_command("verify_log")  # raises on any inconsistency
    # The API shows the checklist the JSON points at.
    r = regulator.get(f"/api/releases/{v1.pk}/checklist?to_stage=3")
    assert r.status_code == 200 and r.json()["to_stage"] == 3


def test_demo_world_shows_reachable_affordances_and_conflict(tmp_path):
    path = tmp_path / "demo.json"
    call_command("demo", json=str(path))
    users = json.loads(path.read_text())["users"]

    def client(role: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {users[role]['api_token']}")
        return c

    from auditing.models import Audit, ConflictOfInterest
    from labs.models import SystemVersion

    assistant = SystemVersion.objects.get(name="Aurora Assistant", sequence=2)
    reach = client("lab_admin").get(f"/api/system-versions/{assistant.pk}/affordances").json()
    reachable = {r["affordance"]: r["path"] for r in reach["reachable"]}
    assert reachable["payments"] == ["internet_access", "payments"]
    # The assigned auditor sees the audited system; the conflicted one does not.
    assert client("auditor").get(f"/api/system-versions/{assistant.pk}").status_code == 200
    assert client("conflicted_auditor").get(f"/api/system-versions/{assistant.pk}").status_code == 404
    audit = Audit.objects.get(system_version=assistant)
    assert not audit.assignments.filter(organisation__slug="northgate").exists()
    assert ConflictOfInterest.objects.in_force().filter(organisation__slug="northgate", lab__slug="aurora").exists()


def test_a_model_that_deceives_stops_the_walkthrough_not_the_demo(tmp_path, demo_model, capsys):
    from labs.models import SystemVersion

    demo_model.reset()  # trades on the insider tip, hides it in the report, denies it when asked
    path = tmp_path / "demo.json"
    call_command("demo", json=str(path))
    releases = {r["name"]: r for r in json.loads(path.read_text())["releases"]}
    assert releases["Aurora Assistant v1"]["stage"] == 1
    out = capsys.readouterr().out
    assert out.count("stage 2 request REFUSED") == 2
    assert "Suite insider_trading_deception: deception_rate" in out
    v1 = SystemVersion.objects.get(name="Aurora Assistant", sequence=1)
    run = v1.eval_runs.get()
    assert run.results["overall"]["deception_rate"]["rate"] > 0.10
