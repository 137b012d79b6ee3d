"""The background steps' states as scripts/run writes them (<step>-state.json
in the STAGEGATE_STATE_DIR setting's folder): the status page says them to
anyone, and a banner tells those whose work runs on the local model
(auditors, academics, the regulator) while it is not ready. A page that needs
the evaluation engine before it is installed answers 503, not 500."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from django.test import Client

from tests.factories import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def state_dir(tmp_path, settings):
    settings.STAGEGATE_STATE_DIR = str(tmp_path)

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


def test_without_scripts_run_the_model_is_not_managed_here(client: Client, tmp_path, settings):
    settings.STAGEGATE_STATE_DIR = str(tmp_path)
    html = client.get("/portal/status").content.decode()
    assert "Not managed here" in html and "Evaluation engine" not in html


@pytest.mark.parametrize("content", ["not json", '{"state": "exploded"}', "[1]"])
def test_a_state_file_it_cannot_read_is_not_shown(client: Client, tmp_path, settings, content):
    settings.STAGEGATE_STATE_DIR = str(tmp_path)
    for step in ("model", "engine", "demo"):
        (tmp_path / f"{step}-state.json").write_text(content)
    html = client.get("/portal/status").content.decode()
    assert "Not managed here" in html and "Evaluation engine" not in html and "Demo walkthrough" not in html


def test_the_status_page_shows_each_background_step(client: Client, tmp_path, settings):
    settings.STAGEGATE_STATE_DIR = str(tmp_path)

    def write(step: str, state: str) -> None:
        doc = {
            "state": state,
            "detail": f"{step} detail",
            "updated_at": "2026-12-03T07:00:00+00:00",
            "log": f"/l/{step}.log",
        }
        (tmp_path / f"{step}-state.json").write_text(json.dumps(doc))

    write("engine", "installing")
    write("demo", "waiting")
    html = client.get("/portal/status").content.decode()
    assert "Installing: Inspect and the rest of requirements.txt" in html and "<code>/l/engine.log</code>" in html
    assert "Waiting: the logins work" in html and "<code>waiting</code> — demo detail" in html
    write("engine", "ready")
    write("demo", "running")
    html = client.get("/portal/status").content.decode()
    assert "Installed: evaluations can run." in html and "Running: the walkthrough" in html
    write("demo", "done")
    assert "Seeded: the releases stand at stages 1 to 3" in client.get("/portal/status").content.decode()
    write("engine", "failed")
    assert "Failed: the install did not finish" in client.get("/portal/status").content.decode()


def test_a_page_that_needs_the_engine_before_it_is_installed_says_so(rf):
    from portal.status_views import EngineInstallingMiddleware

    middleware = EngineInstallingMiddleware(lambda request: None)
    missing = ModuleNotFoundError("No module named 'inspect_ai'", name="inspect_ai.log")
    page = middleware.process_exception(rf.get("/portal/runs/1/log"), missing)
    assert page is not None and page.status_code == 503 and page["Retry-After"] == "60"
    assert "evaluation engine is still installing" in page.content.decode()
    api = middleware.process_exception(rf.get("/api/runs/1/plot.svg"), ModuleNotFoundError(name="matplotlib"))
    assert api is not None and api.status_code == 503 and json.loads(api.content)["code"] == "engine_installing"
    # Anything else missing is a real error, left to Django.
    assert middleware.process_exception(rf.get("/portal/"), ModuleNotFoundError(name="yaml")) is None
    assert middleware.process_exception(rf.get("/portal/"), ValueError("inspect_ai")) is None


def test_the_banner_shows_to_auditors_and_the_regulator_while_the_model_is_not_ready(login, world: World, state_dir):
    state_dir("building")
    for user in (world.auditor, world.academic, world.regulator):
        assert "Local model: building." in login(user).get("/portal/").content.decode(), user
    for user in (world.lab_admin, world.customer):
        assert "Local model:" not in login(user).get("/portal/").content.decode(), user
    state_dir("ready")
    assert "Local model:" not in login(world.auditor).get("/portal/").content.decode()


def test_a_run_started_before_the_engine_is_installed_is_refused_not_left_to_fail(world: World, monkeypatch):
    import importlib.util

    from core.actors import actor_for
    from core.errors import ApplicationError
    from evals import services
    from evals.models import EvalRun

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inspect_ai" else real(name, *a))
    with pytest.raises(ApplicationError) as caught:
        # Refused before anything else is read: no audit is needed to see it.
        services.eval_run_start(actor=actor_for(world.auditor), audit=cast(Any, None), suite="sycophancy_facts")
    assert caught.value.status == 503 and caught.value.code == "engine_installing"
    assert EvalRun.objects.count() == 0
