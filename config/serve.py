"""Serve the service from several processes on one port.

    python -m config.serve [--host 127.0.0.1] [--port 8000] [--workers N]
                           [--no-access-log] [--timeout-graceful-shutdown S]

Each worker is a uvicorn process with a listening socket of its own, bound
with SO_REUSEPORT, so the kernel spreads new connections evenly over the
processes. uvicorn's own ``--workers`` shares one socket instead, and the
process that wakes first takes a whole burst of connections: under the
gateway benchmark one process ended up with about twice the callers of the
other, and its callers waited for it (docs/performance.md).

The parent starts the workers, replaces one that dies (unless it died within
its first seconds, which means it cannot start: then everything stops), and
passes SIGINT and SIGTERM on, so each worker finishes its requests (a second
signal, as with uvicorn, stops them at once); a worker whose supervisor dies
is sent SIGTERM by the kernel. With one
worker, or where SO_REUSEPORT does not balance connections (it does on
Linux), this simply becomes uvicorn (with ``--workers`` if more than one)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

APP = "config.asgi:application"
# A worker that exits sooner than this after it started cannot start at all.
STARTUP_SECONDS = 5.0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m config.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("STAGEGATE_WEB_WORKERS", "1")))
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--data-plane",
        choices=["python", "nginx"],
        default=os.environ.get("STAGEGATE_GATEWAY_DATA_PLANE", "python"),
        help="who carries gateway chat completions: the Python workers, or nginx (gateway/nginx/, "
        "Debian's nginx-extras) in front of them, asking one hook process per worker (docs/gateway.md)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.workers < 1:
        parser.error("--workers must be at least 1")
    return opts


def shared_args(opts: argparse.Namespace) -> list[str]:
    """The options this command and uvicorn spell alike."""
    args = ["--log-level", opts.log_level]
    if opts.no_access_log:
        args.append("--no-access-log")
    if opts.timeout_graceful_shutdown is not None:
        args += ["--timeout-graceful-shutdown", str(opts.timeout_graceful_shutdown)]
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def die_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM when its parent (the
    supervisor) dies, however it dies, so no worker outlives it."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before that took effect
        sys.exit(0)


def _signalled_when_parent_dies() -> None:
    """In a child about to exec a program that cannot do ``die_with_parent``
    itself (nginx): the death signal survives the exec."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_child(opts: argparse.Namespace) -> None:
    import uvicorn

    die_with_parent()
    sock = listening_socket(opts.host, opts.port)
    config = uvicorn.Config(
        APP,
        lifespan="off",
        log_level=opts.log_level,
        access_log=not opts.no_access_log,
        timeout_graceful_shutdown=opts.timeout_graceful_shutdown,
    )
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    opts = parse(sys.argv[1:] if argv is None else argv)
    if opts.child:
        run_child(opts)
        return 0
    if opts.data_plane == "nginx":
        return Supervisor(opts).run()
    if opts.workers == 1 or not sys.platform.startswith("linux"):
        workers = ["--workers", str(opts.workers)] if opts.workers > 1 else []
        command = [sys.executable, "-m", "uvicorn", APP, "--host", opts.host, "--port", str(opts.port)]
        os.execv(sys.executable, [*command, *workers, "--lifespan", "off", *shared_args(opts)])  # noqa: S606 (our interpreter)
    # Bind once here, so a port in use fails now with uvicorn's own message
    # rather than as workers dying one after another.
    try:
        listening_socket(opts.host, opts.port).close()
    except OSError as exc:
        print(f"config.serve: cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return Supervisor(opts).run()


class Supervisor:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.children: dict[int, tuple[subprocess.Popen[bytes], float, list[str]]] = {}
        self.stopping: int | None = None  # the signal to pass on, once one came
        self.state: str | None = None  # nginx's and the hooks' private directory, removed on the way out

    def commands(self) -> list[list[str]]:
        """One command per process to keep running. With nginx: it on the
        public port, one hook per worker, and the workers on a port of their
        own on loopback for everything it passes on."""
        opts = self.opts
        if opts.data_plane == "python":
            return [self.worker(opts.host, opts.port) for _ in range(opts.workers)]
        import tempfile

        inner = free_port()
        state = self.state = tempfile.mkdtemp(prefix="stagegate-hook-")  # 0700: the plans carry the labs' credentials
        hooks = [os.path.join(state, f"hook-{i}.sock") for i in range(opts.workers)]
        from pathlib import Path

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        from gateway.proxy import nginx

        listen = f"[{opts.host}]:{opts.port}" if ":" in opts.host else f"{opts.host}:{opts.port}"
        front = nginx.command(nginx.config(Path(state), listen, f"127.0.0.1:{inner}", hooks, opts.workers))
        hook = [[sys.executable, "-m", "config.hook", "--supervised", "--socket", path] for path in hooks]
        return [*hook, *(self.worker("127.0.0.1", inner) for _ in range(opts.workers)), front]

    def worker(self, host: str, port: int) -> list[str]:
        return [sys.executable, "-m", "config.serve", "--child", "--host", host, "--port",
                str(port), *shared_args(self.opts)]  # fmt: skip

    def start(self, command: list[str]) -> None:
        # A process group of its own: a terminal's Ctrl-C reaches the workers
        # once, through the supervisor (a second SIGINT makes uvicorn drop
        # its requests at once).
        ours = command[0] == sys.executable  # our own children call die_with_parent themselves
        child = subprocess.Popen(  # noqa: S603 (our interpreter and module, or nginx)
            command, process_group=0, preexec_fn=None if ours else _signalled_when_parent_dies
        )
        self.children[child.pid] = (child, time.monotonic(), command)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = signum
        for child, _, command in self.children.values():
            if child.poll() is None:
                # nginx stops gracefully on SIGQUIT (SIGTERM and SIGINT drop its calls).
                graceful = signal.SIGQUIT if os.path.basename(command[0]) == "nginx" else signum
                child.send_signal(graceful)

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        for command in self.commands():
            self.start(command)
        status = 0
        while self.children:
            time.sleep(0.2)
            for pid, (child, started, command) in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                del self.children[pid]
                if self.stopping is not None:
                    continue
                if time.monotonic() - started < STARTUP_SECONDS:
                    print(f"config.serve: worker {pid} exited with {code} as it started; stopping", file=sys.stderr)
                    status = 1
                    self.on_signal(signal.SIGTERM, None)
                    continue
                print(f"config.serve: worker {pid} exited with {code}; starting another", file=sys.stderr)
                self.start(command)
        if self.state is not None:  # every child is gone: its sockets, config and temp files go too
            import shutil

            shutil.rmtree(self.state, ignore_errors=True)
        return status


if __name__ == "__main__":
    sys.exit(main())
