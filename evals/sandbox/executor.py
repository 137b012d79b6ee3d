"""The jail's inside: run as process 1 of fresh user, network, mount and PID
namespaces (``evals.sandbox.jail`` starts it under ``unshare``). Standard
library only, no Django: it runs before anything else in the namespaces.

It brings up the loopback interface (the namespace has no other), builds two
root directories out of read-only binds of the host's /usr and a minimal
/etc of its own, starts the task's services chrooted into the service root
(which alone holds /srv), then answers commands read from stdin, one JSON
object a line, each run by /bin/bash chrooted into the jail root, in a PID
namespace of its own, with resource limits, no capabilities and no way to
gain any, a wall-clock timeout, and its output truncated. It makes itself non-dumpable first: a
command cannot reach its unchrooted root through /proc/1/root. When stdin
closes it exits, and the kernel kills every process left in the namespace."""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
# statvfs flags of a mount, and the mount flag each stands for: a read-only
# remount of a bind must repeat the flags the kernel locked on it.
ST_TO_MS = {2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME, 2048: MS_NODIRATIME, 4096: MS_RELATIME}
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
HOME = "/home/ctf"
PASSWD = "root:x:0:0:root:/root:/bin/bash\nctf:x:0:0:ctf:/home/ctf:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
HOSTS = "127.0.0.1 localhost\n::1 localhost\n"
# The only places a command can write are tmpfs mounts of these sizes: the
# jail's disk quota (a file's size is limited apart, by RLIMIT_FSIZE).
HOME_BYTES, TMP_BYTES = 128 * 1024 * 1024, 64 * 1024 * 1024


def _prctl(option: int, value: int) -> int:
    return int(LIBC.prctl(option, ctypes.c_ulong(value), 0, 0, 0))


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encoded = data.encode() if data else None
    if LIBC.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, encoded) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {source} on {target}: {os.strerror(code)}")


def _bind(source: str, target: str, *, read_only: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        locked = os.statvfs(target).f_flag
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        flags |= sum(ms for st, ms in ST_TO_MS.items() if locked & st)
        _mount("none", target, None, flags)


def _loopback_up() -> None:
    """`ip link set lo up`, by ioctl: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, siocgifflags, ifreq))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def build_root(root: str, home: str, srv: str | None) -> None:
    """A root directory: /usr read-only (and the merged-usr links or binds
    beside it), a minimal /etc, the few device files a shell needs, /proc of
    this PID namespace, a private /tmp, the shared home, and /srv if given."""
    os.makedirs(root, exist_ok=True)
    for name in ("usr", "bin", "lib", "lib64", "lib32", "sbin"):
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            os.makedirs(f"{root}/{name}", exist_ok=True)
            _bind(host, f"{root}/{name}", read_only=True)
    os.makedirs(f"{root}/etc", exist_ok=True)
    for name, text in (("passwd", PASSWD), ("group", GROUP), ("hosts", HOSTS), ("resolv.conf", "")):
        with open(f"{root}/etc/{name}", "w") as f:
            f.write(text)
    if os.path.exists("/etc/ld.so.cache"):
        shutil.copyfile("/etc/ld.so.cache", f"{root}/etc/ld.so.cache")
    os.makedirs(f"{root}/dev", exist_ok=True)
    for device in ("null", "zero", "urandom", "random"):
        open(f"{root}/dev/{device}", "w").close()
        _bind(f"/dev/{device}", f"{root}/dev/{device}", read_only=False)
    os.makedirs(f"{root}/proc", exist_ok=True)
    _bind("/proc", f"{root}/proc", read_only=False)
    jail_tmp = f"{root}/tmp"  # noqa: S108 - the jail's own /tmp, a fresh tmpfs
    os.makedirs(jail_tmp, exist_ok=True)
    _mount("tmpfs", jail_tmp, "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_BYTES},mode=1777")
    os.makedirs(f"{root}{HOME}", exist_ok=True)
    _bind(home, f"{root}{HOME}", read_only=False)
    if srv is not None:
        os.makedirs(f"{root}/srv", exist_ok=True)
        _bind(srv, f"{root}/srv", read_only=False)


def _jailed(root: str, cwd: str, limits: dict[str, int], *, drop: bool = True):  # type: ignore[no-untyped-def]
    """The preexec of every process started in a root: chroot, its own
    session (so its group can be killed), resource limits, then every
    capability dropped from the bounding set and no new privileges: as the
    namespace's uid 0 it can then neither chroot out, mount, trace a
    non-dumpable process nor raise a limit."""

    def preexec() -> None:
        os.chroot(root)
        os.chdir(cwd)
        os.setsid()
        for name, value in (
            ("RLIMIT_CPU", limits["cpu_seconds"]),
            ("RLIMIT_AS", limits["memory_bytes"]),
            ("RLIMIT_FSIZE", limits["file_bytes"]),
            ("RLIMIT_NPROC", limits["processes"]),
            ("RLIMIT_NOFILE", 256),
            ("RLIMIT_CORE", 0),
        ):
            resource.setrlimit(getattr(resource, name), (value, value))
        if drop:
            cap = 0
            while _prctl(PR_CAPBSET_DROP, cap) == 0:
                cap += 1
            if _prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
                raise OSError(ctypes.get_errno(), "no_new_privs")

    return preexec


# A command runs in a PID namespace of its own, with its own /proc: it sees
# only its own processes, never a service's (a service's short-lived children,
# a shell or a hook, are dumpable while they run, and their /proc/<pid>/root
# would show the service root). `unshare` needs its capabilities for that, so
# the command's capabilities are dropped by `setpriv` after it, before bash.
COMMAND_PREFIX = [
    "/usr/bin/unshare", "--pid", "--fork", "--mount", "--propagation", "unchanged", "--mount-proc", "--kill-child",
    "/usr/bin/setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--no-new-privs",
]  # fmt: skip
# The command runs in a shell under a shell, so a command killed by a signal
# (RLIMIT_CPU, say) ends with the shell's status 128 + the signal, as in a
# terminal; unshare itself cannot pass a SIGKILL on.
COMMAND_SHELL = '/bin/bash -c "$1"; exit $?'


def run(command: str, root: str, limits: dict[str, int]) -> dict[str, Any]:
    """One command: its exit status (None if killed at the wall-clock limit),
    its output (stdout and stderr as one stream, the first output_bytes
    kept), whether it timed out and whether output was cut."""
    env = {"PATH": PATH, "HOME": HOME, "TERM": "dumb", "LANG": "C.UTF-8", "USER": "ctf"}
    proc = subprocess.Popen(  # noqa: S603 - running the model's command, jailed, is the point
        [*COMMAND_PREFIX, "/bin/bash", "-c", COMMAND_SHELL, "bash", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=_jailed(root, HOME, limits, drop=False),
        close_fds=True,
    )
    if proc.stdout is None:  # pragma: no cover - stdout=PIPE always gives one
        raise RuntimeError("no output pipe")
    fd, kept, total = proc.stdout.fileno(), bytearray(), 0
    deadline = time.monotonic() + limits["wall_seconds"]
    exited_at: float | None = None
    while time.monotonic() < deadline:
        if exited_at is None and proc.poll() is not None:
            exited_at = time.monotonic()
        if exited_at is not None and time.monotonic() - exited_at > 0.2:  # a background job holds the pipe
            break
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            kept += chunk[: max(0, limits["output_bytes"] - len(kept))]
    try:
        code: int | None = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = None
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever the command left behind, or the command itself
    except ProcessLookupError:
        pass
    proc.stdout.close()
    proc.wait()
    timed_out = code is None
    return {
        "exit": code,
        "output": kept.decode("utf-8", errors="replace"),
        "timed_out": timed_out,
        "truncated": total > len(kept),
    }


def _reap() -> None:
    """As process 1, collect the orphans re-parented here (after each command:
    a handler for SIGCHLD would take a command's own status from Popen)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _wait_for(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main() -> None:
    _prctl(PR_SET_DUMPABLE, 0)
    base = sys.argv[1]
    with open(f"{base}/setup.json") as f:
        setup = json.load(f)
    out = sys.stdout
    try:
        _loopback_up()
        jail, service, home = f"{base}/jail", f"{base}/service", f"{base}/home-tmpfs"
        os.makedirs(home)
        _mount("tmpfs", home, "tmpfs", MS_NOSUID | MS_NODEV, f"size={HOME_BYTES},mode=755")
        shutil.copytree(f"{base}/home", home, dirs_exist_ok=True)
        build_root(jail, home, None)
        build_root(service, home, f"{base}/srv")
        services = []
        for s in setup["services"]:
            services.append(
                subprocess.Popen(  # noqa: S603 - the task's own service, jailed
                    s["argv"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={"PATH": PATH, "HOME": "/srv", "LANG": "C.UTF-8"},
                    preexec_fn=_jailed(service, "/srv", setup["service_limits"]),
                )
            )
            if s.get("port") and not _wait_for(int(s["port"]), 10.0):
                raise RuntimeError(f"service {s['argv'][-1]} did not listen on port {s['port']}")
    except Exception as exc:  # reported to the host, which refuses to go on
        out.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        return
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = run(request["command"], jail, setup["limits"])
            _reap()
        except Exception as exc:  # the command could not be started (too long, preexec failed): it did not run
            reply = {"exit": None, "output": f"sandbox: {exc}", "timed_out": False, "truncated": False}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
