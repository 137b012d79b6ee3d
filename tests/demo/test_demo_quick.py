"""`manage.py demo --quick`: what scripts/run seeds before the web server
starts on a first run (the evaluation engine is not installed yet): the
people, logins, systems and audits in seconds, with no evaluation (the demo
auditor's gateway token comes with the walkthrough, which opens stage 1); the walkthrough (tests/demo/test_demo_command.py)
comes later, in the background."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_quick_part_seeds_working_logins_and_no_evaluation(tmp_path, capsys):
    from evals.models import EvalRun
    from gateway.models import GatewayToken
    from labs.models import SystemVersion
    from transparency.models import LogEntry

    path = tmp_path / "demo.json"
    call_command("demo", json=str(path), quick=True)
    document = json.loads(path.read_text())
    assert document["walkthrough"] == "pending"
    assert "The staged-release walkthrough is not seeded yet" in capsys.readouterr().out
    assert EvalRun.objects.count() == 0
    assert SystemVersion.objects.filter(lab__slug="aurora").count() == 3
    assert GatewayToken.objects.count() == 0 and document["gateway"] is None
    # Every stage is where the walkthrough starts: nothing has been requested yet.
    assert {r["stage"] for r in document["releases"]} == {0}

    login = document["users"]["auditor"]
    client = Client()
    assert client.login(username=login["username"], password=login["password"])
    assert client.get("/portal/").status_code == 200

    # Twice is once: scripts/run seeds it on every start.
    entries = LogEntry.objects.count()
    call_command("demo", json=str(path), quick=True)
    assert json.loads(path.read_text()) == document
    assert LogEntry.objects.count() == entries
