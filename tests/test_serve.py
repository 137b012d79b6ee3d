"""config.serve: several uvicorn processes on one port, each with its own
SO_REUSEPORT socket, under a supervisor that replaces a worker that dies and
passes a stop signal on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


def wait_for(predicate, seconds: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 401
    except httpx.HTTPError:
        return False


@pytest.fixture
def served():
    port = free_port()
    env = {**os.environ, "STAGEGATE_ENV": "development", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "config.serve", "--workers", "2", "--port", str(port), "--no-access-log",
         "--log-level", "warning", "--timeout-graceful-shutdown", "3"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/gateway/v1/models"  # 401 without a token: no database or Redis needed
    try:
        wait_for(lambda: answers(url))
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_connections_are_spread_over_the_workers(served):
    process, url = served
    workers = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid))
    before = {pid: sockets(pid) for pid in workers}
    clients = [httpx.Client(timeout=5) for _ in range(32)]
    try:
        for client in clients:  # 32 keep-alive connections, each used once and held open
            assert client.get(url).status_code == 401
        gained = {pid: sockets(pid) - before[pid] for pid in workers}
        # Each connection lands on one worker, picked by the kernel: both get a share.
        assert sum(gained.values()) >= 32
        assert min(gained.values()) >= 4, gained
    finally:
        for client in clients:
            client.close()


def test_a_worker_that_dies_is_replaced_and_a_stop_signal_stops_all(served):
    process, url = served
    from config.serve import STARTUP_SECONDS

    first = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid))
    time.sleep(STARTUP_SECONDS)  # a worker that dies sooner is taken for one that cannot start
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    now = wait_for(
        lambda: len(children(process.pid)) == 2 and victim not in children(process.pid) and children(process.pid)
    )
    assert victim not in now and len(now & first) == 1
    wait_for(lambda: answers(url))
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    for pid in now:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_worker_that_cannot_start_stops_the_whole_thing():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.no_such_settings"}
    process = subprocess.run(
        [sys.executable, "-m", "config.serve", "--workers", "2", "--port", str(port), "--log-level", "critical"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 1
    assert "as it started; stopping" in process.stderr


def test_a_port_in_use_is_refused_at_once():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.run(
            [sys.executable, "-m", "config.serve", "--workers", "2", "--port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert process.returncode != 0
    assert "Address already in use" in process.stderr


def nginx_plane() -> tuple[subprocess.Popen[bytes], str]:
    """config.serve --data-plane nginx with two workers, once it answers; (process, base URL)."""
    from tests.gateway.planes import nginx_binary

    nginx_binary()
    env = {**os.environ, "STAGEGATE_ENV": "development", "PYTHONPATH": str(ROOT)}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "config.serve", "--workers", "2", "--port", str(port), "--no-access-log",
         "--log-level", "warning", "--data-plane", "nginx"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/gateway/v1"
    wait_for(lambda: answers(base + "/models"))  # passed on to a worker
    return process, base


def descendants(pid: int) -> set[int]:
    found = children(pid)
    for child in list(found):
        found |= descendants(child)
    return found


def test_the_nginx_data_plane_runs_in_front_of_hooks_and_workers():
    """--data-plane nginx: nginx on the port (its master and two workers), a
    hook per worker behind it for chat completions, the workers for the rest;
    a stop signal stops them all."""
    process, base = nginx_plane()
    try:
        kinds = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in descendants(process.pid)]
        assert sum(k.startswith(b"nginx: ") for k in kinds) == 3
        assert sum(b"config.hook" in k for k in kinds) == 2
        assert sum(b"--child" in k for k in kinds) == 2
        # A chat completion is the plane's: the hook refuses it (no token) as the Python path does.
        refused = wait_for(
            lambda: (r := httpx.post(base + "/chat/completions", json={}, timeout=5)).status_code != 503 and r
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        [hook] = [k for k in kinds if b"config.hook" in k][:1]
        args = hook.split(b"\0")
        state = Path(args[args.index(b"--socket") + 1].decode()).parent
        assert (state / "nginx.conf").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert not state.exists()  # the sockets, nginx's config and its temp files went with it
    finally:
        if process.poll() is None:
            process.kill()


def test_a_killed_supervisor_takes_nginx_and_the_hooks_with_it():
    process, _ = nginx_plane()
    everyone = descendants(process.pid)
    assert len(everyone) == 7  # two hooks, two workers, nginx's master and its two workers
    process.kill()
    process.wait(10)
    wait_for(
        lambda: (
            not any(
                Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                for pid in everyone
            )
        ),
        30,
    )
