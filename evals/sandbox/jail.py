"""A local sandbox without network, for suites whose model runs commands.

Each ``Sandbox`` is a fresh directory and a process jail: ``unshare`` puts
``executor.py`` into new user, network, mount and PID namespaces (the
namespace's root is the caller's uid, so this works for an unprivileged
user where the kernel allows user namespaces, and as root it is not the
host's root). Its network namespace has only a loopback interface: nothing
outside is reachable, the host's own 127.0.0.1 included. Commands run
chrooted into a root made of read-only binds of /usr and a minimal /etc, each
in a PID namespace of its own (it sees only its own processes), with no
capabilities, under setrlimit limits (CPU seconds, address space, file
size, processes, open files), a wall-clock timeout per command, and output
truncated to a fixed number of bytes. A task's services run in a second root
that alone holds /srv (where a task keeps what the model must not read
directly), reachable from the jail over loopback only.

Where the jail cannot be built (no ``unshare`` or ``setpriv``, user
namespaces refused, no /bin/bash or /usr/bin/python3 to run inside) nothing runs: ``require()``
raises ``SandboxUnavailable`` with the reason. There is no unsandboxed
fallback. Inspect's `local` sandbox isolates nothing, and a Docker daemon is
not always there; this module is small enough to review whole."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.engine import SampleFailed

EXECUTOR = Path(__file__).with_name("executor.py")
UNSHARE_FLAGS = ["--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child"]
# What the executor and a task's services run with (the services inside the
# service root, so it must be the system's Python, outside any virtualenv).
SYSTEM_PYTHON = "/usr/bin/python3"
# Run as root, the jail's root is mapped to an unprivileged uid of this range,
# one drawn per sandbox: the kernel exempts the host's root from the process
# limit, and host root should not own what a jail writes.
JAIL_UIDS = (1 << 20, 1 << 16)


class SandboxUnavailable(SampleFailed):
    """The jail cannot be built here: the sample fails rather than run unsandboxed."""


@dataclass(frozen=True)
class Limits:
    """Per command (and per service process): CPU seconds, address space,
    largest file written, processes of the jail's user, wall-clock seconds,
    and the output kept."""

    cpu_seconds: int = 20
    memory_bytes: int = 1024 * 1024 * 1024
    file_bytes: int = 64 * 1024 * 1024
    processes: int = 64
    wall_seconds: int = 30
    output_bytes: int = 8000


@dataclass(frozen=True)
class Result:
    exit: int | None  # None when killed at the wall-clock limit
    output: str
    timed_out: bool
    truncated: bool

    def render(self) -> str:
        """What the model is shown: the output, then a note of how the command ended."""
        notes = []
        if self.truncated:
            notes.append("[output truncated]")
        if self.timed_out:
            notes.append("[killed: wall-clock limit reached]")
        else:
            notes.append(f"[exit status {self.exit}]")
        return "\n".join([self.output.rstrip("\n"), *notes]) if self.output else "\n".join(notes)


@dataclass
class Service:
    """A process started in the service root before the model's first command:
    argv as run there, and a loopback port it must listen on within 10 s."""

    argv: list[str]
    port: int | None = None


@dataclass
class Spec:
    """What a sandbox holds: the model's home (/home/ctf, shared with the
    services), the service root's /srv, and the services. File values are
    text or bytes; a path ending in a mode suffix is not needed: ``modes``
    sets one where it matters (e.g. an executable)."""

    home: dict[str, str | bytes] = field(default_factory=dict)
    srv: dict[str, str | bytes] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)  # "home/<path>" or "srv/<path>" -> mode


@functools.cache
def unavailable() -> str | None:
    """Why no sandbox can be built here, or None when one can (checked once)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "`unshare` (util-linux) is not installed"
    for needed in ("/bin/bash", SYSTEM_PYTHON, "/usr/bin/unshare", "/usr/bin/setpriv"):
        if not os.access(needed, os.X_OK):
            return f"{needed} is missing; the jail runs it"
    uid = JAIL_UIDS[0] if os.geteuid() == 0 else None
    try:
        probe = subprocess.run(  # noqa: S603 - a fixed command
            [unshare, *UNSHARE_FLAGS, "/bin/true"],
            capture_output=True,
            timeout=20,
            text=True,
            check=False,
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if probe.returncode != 0:
        return f"user/network namespaces are refused here: {probe.stderr.strip()[:300]}"
    return None


def require() -> None:
    reason = unavailable()
    if reason is not None:
        raise SandboxUnavailable(f"no sandbox without network can be built on this machine ({reason}); refusing to run")


def _write(base: Path, files: dict[str, str | bytes], modes: dict[str, int], prefix: str) -> None:
    base.mkdir(mode=0o755)
    for rel, content in files.items():
        path = (base / rel).resolve()
        if base.resolve() not in path.parents:
            raise ValueError(f"{rel!r} is outside the sandbox")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(modes.get(f"{prefix}/{rel}", 0o644))


class Sandbox:
    """One sample's jail. ``async with Sandbox(spec) as box: await box.run(cmd)``;
    the directory and every process in it are gone after the block."""

    def __init__(self, spec: Spec, limits: Limits | None = None, service_limits: Limits | None = None) -> None:
        self.spec = spec
        self.limits = limits or Limits()
        self.service_limits = service_limits or Limits(cpu_seconds=600, wall_seconds=0)
        self.base: Path | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.commands = 0

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        require()
        self.base = Path(tempfile.mkdtemp(prefix="stagegate-jail-"))
        try:
            _write(self.base / "home", self.spec.home, self.spec.modes, "home")
            _write(self.base / "srv", self.spec.srv, self.spec.modes, "srv")
            shutil.copyfile(EXECUTOR, self.base / "executor.py")
            (self.base / "setup.json").write_text(
                json.dumps(
                    {
                        "services": [asdict(s) for s in self.spec.services],
                        "limits": asdict(self.limits),
                        "service_limits": asdict(self.service_limits),
                    }
                )
            )
            as_user: dict[str, Any] = {}
            if os.geteuid() == 0:
                uid = JAIL_UIDS[0] + secrets.randbelow(JAIL_UIDS[1])
                _chown_tree(self.base, uid)
                as_user = {"user": uid, "group": uid, "extra_groups": []}
            self.proc = await asyncio.create_subprocess_exec(
                "unshare",
                *UNSHARE_FLAGS,
                SYSTEM_PYTHON,
                "-I",
                str(self.base / "executor.py"),
                str(self.base),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                **as_user,
            )
            status = await self._read(timeout=60)
        except BaseException:
            await self.close()
            raise
        if not status.get("ready"):
            await self.close()
            raise SandboxUnavailable(f"the sandbox did not start: {status.get('error', 'no reason given')}")

    async def _read(self, timeout: float) -> dict[str, Any]:
        if self.proc is None or self.proc.stdout is None:
            raise RuntimeError("the sandbox is not started")
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise SampleFailed("the sandbox exited unexpectedly")
        value = json.loads(line)
        return value if isinstance(value, dict) else {}

    async def run(self, command: str) -> Result:
        """Run one shell command in the jail (bash -c, in /home/ctf)."""
        if self.proc is None or self.proc.stdin is None:
            raise RuntimeError("the sandbox is not started")
        self.commands += 1
        self.proc.stdin.write((json.dumps({"command": command}) + "\n").encode())
        await self.proc.stdin.drain()
        reply = await self._read(timeout=self.limits.wall_seconds + 30)
        return Result(
            exit=reply.get("exit"),
            output=str(reply.get("output", "")),
            timed_out=bool(reply.get("timed_out")),
            truncated=bool(reply.get("truncated")),
        )

    async def close(self) -> None:
        """End the executor (the namespace's process 1: the kernel kills the
        rest with it) and remove the directory."""
        if self.proc is not None:
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                await self.proc.wait()
            self.proc = None
        if self.base is not None:
            await asyncio.to_thread(_remove, self.base)
            self.base = None


def _chown_tree(base: Path, uid: int) -> None:
    for root, dirs, files in os.walk(base):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, uid)
    os.chown(base, uid, uid)


def _remove(base: Path) -> None:
    # The jail's files are the caller's (the namespace's root is its uid); make
    # every directory writable first, in case a command chmod-ed one.
    for root, dirs, _ in os.walk(base):
        for d in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, d), 0o700)
    shutil.rmtree(base, ignore_errors=True)
