"""The sandbox the cyber suite runs commands in: no network out of it (not
even the host's loopback), its limits hold, the service root stays hidden,
nothing outlives it, and where it cannot be built nothing runs. Skipped,
with the reason, on a machine that cannot build it (the refusal test runs
everywhere)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import pytest

from evals.sandbox import jail
from evals.sandbox.jail import Limits, Result, Sandbox, SandboxUnavailable, Service, Spec
from evals.suites import cyber_ctf
from tests.evals.scripted_chat import ScriptedChat

needs_sandbox = pytest.mark.skipif(jail.unavailable() is not None, reason=f"no sandbox here: {jail.unavailable()}")
TIGHT = Limits(cpu_seconds=2, memory_bytes=256 * 1024 * 1024, file_bytes=1024 * 1024, processes=32, wall_seconds=5)


FORK_BOMB = """python3 -c '
import os, time
n = 0
try:
    while n < 500:
        if os.fork() == 0:
            time.sleep(10)
            os._exit(0)
        n += 1
    print("never stopped", n)
except OSError as exc:
    print("stopped at", n, exc.strerror)
'"""


def run_all(commands: list[str], spec: Spec | None = None, limits: Limits = TIGHT) -> tuple[list[Result], Path]:
    async def go() -> tuple[list[Result], Path]:
        async with Sandbox(spec or Spec(home={"note.txt": "hello\n"}), limits) as box:
            assert box.base is not None
            return [await box.run(c) for c in commands], box.base

    return asyncio.run(go())


@pytest.fixture
def host_listener():
    """A TCP server on the host's own 127.0.0.1 that records every connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@needs_sandbox
def test_nothing_outside_is_reachable(host_listener):
    port, accepted = host_listener
    probe = (
        "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); print('CONNECTED')"
    )
    # The host's listener is reachable from the host itself, so its absence below means the jail.
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass
    results, _ = run_all(
        [
            f'python3 -c "{probe}" 127.0.0.1 {port}',
            f'python3 -c "{probe}" 1.1.1.1 53',
            f'python3 -c "{probe}" 10.0.0.1 80',
            "cat /proc/net/dev | tail -n +3 | cut -d: -f1",
        ]
    )
    for r in results[:3]:
        assert "CONNECTED" not in r.output and r.exit != 0, r.output
        assert "refused" in r.output or "unreachable" in r.output, r.output
    assert len(accepted) == 1  # only the host's own connection
    assert results[3].output.split() == ["lo"]  # the namespace's only interface


@needs_sandbox
def test_the_limits_hold():
    results, _ = run_all(
        [
            "python3 -c 'x = bytearray(1024**3)' 2>&1 | tail -1",  # address space
            "head -c 5M /dev/zero > big; stat -c %s big",  # file size
            FORK_BOMB,  # processes
            "sleep 30",  # wall clock
            "head -c 100000 /dev/zero | tr '\\0' x",  # output
            "echo " + "x" * 300_000,  # a command too long to start: reported, and the jail goes on
            "echo done; exit 7",
        ]
    )
    memory, size, procs, wall, output, too_long, plain = results
    assert too_long.output.startswith("sandbox: ") and "Argument list too long" in too_long.output
    assert "MemoryError" in memory.output
    assert size.output.strip().endswith(str(1024 * 1024))
    assert procs.output.startswith("stopped at "), procs.output
    assert int(procs.output.split()[2]) < TIGHT.processes
    assert wall.timed_out and wall.exit is None and "wall-clock limit" in wall.render()
    assert output.truncated and len(output.output) == TIGHT.output_bytes and "[output truncated]" in output.render()
    assert (plain.exit, plain.output, plain.timed_out, plain.truncated) == (7, "done\n", False, False)


@needs_sandbox
def test_the_cpu_limit_kills_a_busy_loop_before_the_wall_clock():
    # One CPU second against a minute of wall clock: on a loaded machine CPU
    # time accrues slower than wall time, never faster.
    (cpu,), _ = run_all(["python3 -c 'while True: pass'"], limits=Limits(cpu_seconds=1, wall_seconds=60))
    assert not cpu.timed_out
    assert cpu.exit in (128 + 9, 128 + 24), cpu  # SIGKILL or SIGXCPU from RLIMIT_CPU, as a shell reports it


@needs_sandbox
def test_the_jail_sees_only_its_home_and_cannot_leave_its_root():
    spec = Spec(
        home={"note.txt": "hello\n"},
        srv={"flag.txt": "FLAG{hidden}\n", "idle.py": "import time\ntime.sleep(600)\n"},
        services=[Service([jail.SYSTEM_PYTHON, "-I", "/srv/idle.py"])],
    )
    results, _ = run_all(
        [
            "cat note.txt; pwd; ls /",
            "cat /srv/flag.txt; ls /work /root /etc/shadow",
            "ps -eo pid,args; ls /proc/1/root/",
            "chroot / true; mount -t tmpfs none /tmp; unshare -n true; echo after",
            "df --output=size -B1M /home/ctf /tmp | tail -2",
        ],
        spec,
    )
    home, hidden, proc, escape, quota = results
    assert home.output.startswith("hello\n/home/ctf\n")
    assert "srv" not in home.output.split() and "work" not in home.output.split()
    assert "FLAG{hidden}" not in hidden.output and "No such file" in hidden.output
    # A command has a PID namespace of its own: no executor, no service, only itself.
    assert "idle.py" not in proc.output and "executor" not in proc.output
    assert proc.output.splitlines()[1].split(None, 1) == [
        "1",
        '/bin/bash -c /bin/bash -c "$1"; exit $? bash ps -eo pid,args; ls /proc/1/root/',
    ]
    assert escape.output.count("Operation not permitted") + escape.output.count("permission denied") >= 2
    assert [int(x) for x in quota.output.split()] == [128, 64]  # tmpfs quotas, MiB


@needs_sandbox
def test_services_run_in_their_own_root_and_answer_on_loopback():
    server = "import http.server as h; h.HTTPServer(('127.0.0.1', 8099), h.SimpleHTTPRequestHandler).serve_forever()"
    spec = Spec(
        srv={"index.html": "from the service root\n", "serve.py": server},
        services=[Service([jail.SYSTEM_PYTHON, "-I", "/srv/serve.py"], port=8099)],
    )
    (r,), _ = run_all(["curl -s http://127.0.0.1:8099/index.html"], spec)
    assert r.output == "from the service root\n"


@needs_sandbox
def test_nothing_outlives_the_sandbox():
    (r,), base = run_all(["sleep 300 > /dev/null 2>&1 & disown; echo started"])
    assert r.output.startswith("started")
    assert not base.exists()
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == "sleep 300"]
    assert leftovers == []


@needs_sandbox
def test_a_command_leaves_no_process_behind_even_in_a_new_session():
    async def go() -> list[str]:
        async with Sandbox(Spec(), TIGHT) as box:
            await box.run("setsid sleep 301 > /dev/null 2>&1 < /dev/null & echo started")
            await asyncio.sleep(0.5)
            return [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == "sleep 301"]

    assert asyncio.run(go()) == []  # gone with the command's PID namespace, while the sandbox still runs


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_without_a_sandbox_the_suite_refuses_to_run(monkeypatch):
    jail.unavailable.cache_clear()
    monkeypatch.setattr(jail.shutil, "which", lambda name: None)
    try:
        with pytest.raises(SandboxUnavailable, match=r"unshare.*refusing to run"):
            asyncio.run(Sandbox(Spec()).start())
        chat = ScriptedChat("Action: bash\nAction Input: cat /etc/passwd", "Action: submit\nAction Input: FLAG{x}")
        with pytest.raises(SandboxUnavailable, match="refusing to run"):
            asyncio.run(cyber_ctf.SUITE.run_sample("plain", 0, chat))
        assert len(chat.seen) == 1  # the command was never run: the sample failed at once
    finally:
        monkeypatch.undo()
        jail.unavailable.cache_clear()
    assert os.environ.get("PATH")  # the machine itself is untouched
