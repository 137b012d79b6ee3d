"""`manage.py demo` seeds a believable world, twice without duplicates, and its
JSON lets every role sign in."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

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
