"""The local model's state as scripts/run writes it (model-state.json in the
state directory): the status page says it to anyone, and a banner tells
those whose work runs on it (auditors, academics, the regulator) while it
is not ready."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.factories import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGEGATE_STATE_DIR", str(tmp_path))

    def write(state: str, **extra: str) -> None:
        doc = {"state": state, "detail": "d", "updated_at": "2026-12-03T07:00:00+00:00", "build_log": "/b.log"}
        (tmp_path / "model-state.json").write_text(json.dumps({**doc, **extra}))

    return write


def test_the_status_page_needs_no_sign_in_and_says_the_models_state(client: Client, state_dir):
    state_dir("building", build_log="/srv/state/logs/model-build.log")
    response = client.get("/portal/status")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "Building: llama-cpp-python is compiling" in html
    assert "tail -f /srv/state/logs/model-build.log" in html
    assert "<dt>Database</dt><dd>answers</dd>" in html
    state_dir("failed")
    assert "Failed: the build or the model did not work" in client.get("/portal/status").content.decode()


def test_without_scripts_run_the_model_is_not_managed_here(client: Client, monkeypatch):
    monkeypatch.delenv("STAGEGATE_STATE_DIR", raising=False)
    assert "Not managed here" in client.get("/portal/status").content.decode()


@pytest.mark.parametrize("content", ["not json", '{"state": "exploded"}', "[1]"])
def test_a_state_file_it_cannot_read_is_not_shown(client: Client, tmp_path, monkeypatch, content):
    monkeypatch.setenv("STAGEGATE_STATE_DIR", str(tmp_path))
    (tmp_path / "model-state.json").write_text(content)
    assert "Not managed here" in client.get("/portal/status").content.decode()


def test_the_banner_shows_to_auditors_and_the_regulator_while_the_model_is_not_ready(login, world: World, state_dir):
    state_dir("building")
    for user in (world.auditor, world.academic, world.regulator):
        assert "Local model: building." in login(user).get("/portal/").content.decode(), user
    for user in (world.lab_admin, world.customer):
        assert "Local model:" not in login(user).get("/portal/").content.decode(), user
    state_dir("ready")
    assert "Local model:" not in login(world.auditor).get("/portal/").content.decode()
