"""The gateway's data planes for the tests: the Python one (uvicorn serving
config.asgi, as ``python -m config.serve`` does), and nginx with
gateway/nginx/ (Debian's nginx-extras) carrying chat completions in front of
it, asking a hook served from a thread of this process (gateway/proxy/hook.py).

Every test that takes ``gateway_url`` runs once per plane, so the gateway's
tests, its security tests first, hold for both unchanged.

Where nginx with its Lua modules is missing, the nginx plane's runs are
skipped with the reason, unless STAGEGATE_REQUIRE_NGINX is set (``.ci/run``
sets it and installs the packages), where they fail. STAGEGATE_NGINX_DEBUG=1
prints nginx's error log when a plane stops."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any

import pytest

from tests.gateway.upstream_double import free_port


class HookThread:
    """The hook on a unix socket, served by an event loop in a thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: Any = None

    def make(self) -> Any:
        """The hook to serve (a test's own may differ)."""
        from gateway.proxy.hook import Hook
        from gateway.proxy.server import GatewayApp

        return Hook(GatewayApp())

    def start(self) -> HookThread:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self.make().serve(self.path), self.loop)
        self.server = future.result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            # Let the connections' tasks settle what the plane left open.
            await asyncio.sleep(0.2)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class FrontPlane:
    """A plane in front of the Python workers at ``python_url``, on a port of
    its own, asking a hook in this process (served from a private directory)."""

    STOP_SIGNAL = signal.SIGTERM
    STOP_WAIT = 10.0

    def __init__(self, python_url: str) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="stagegate-hook-")
        self.hook = HookThread(os.path.join(self.dir, "hook.sock"))
        self.python_url = python_url
        self.process: subprocess.Popen[bytes] | None = None
        self.done = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(self.STOP_SIGNAL)
            try:
                self.process.wait(self.STOP_WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.done:
            return  # stopped before
        self.done = True
        self.stopped()
        self.hook.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stopped(self) -> None:
        """What to do once the process is gone, before its directory goes."""


def nginx_binary() -> str:
    """nginx with the plane's modules (skipped, or failed where the plane is
    required, when they are missing)."""
    from gateway.proxy import nginx

    try:
        return nginx.binary()
    except nginx.NginxMissing as missing:
        if os.environ.get("STAGEGATE_REQUIRE_NGINX"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


class NginxServer(FrontPlane):
    """The nginx data plane (gateway/nginx/) in front of ``python_url``,
    asking a hook in this process; two nginx workers, as on a two-core machine."""

    STOP_SIGNAL = signal.SIGQUIT  # gracefully: open calls finish and settle
    STOP_WAIT = 15.0

    def __init__(self, python_url: str, workers: int = 2, ca_file: str | None = None) -> None:
        super().__init__(python_url)
        self.python = python_url.removeprefix("http://")
        self.workers = workers
        self.ca_file = ca_file

    def start(self) -> NginxServer:
        from pathlib import Path

        from gateway.proxy import nginx

        nginx_binary()
        self.hook.start()
        conf = nginx.config(
            Path(self.dir), f"127.0.0.1:{self.port}", self.python, [self.hook.path], self.workers, self.ca_file
        )
        self.configured(conf)
        self.process = subprocess.Popen(nginx.command(conf))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        log = Path(self.dir, "error.log")
        errors = log.read_text() if log.exists() else ""
        self.stop()
        raise RuntimeError(f"nginx did not start: {errors}")

    def configured(self, conf: Any) -> None:
        """Change the written nginx.conf (``conf``, a Path) before nginx starts (a test's own Lua)."""

    def errors(self) -> str:
        """What nginx logged at warn and above (its error log)."""
        path = os.path.join(self.dir, "error.log")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def stopped(self) -> None:
        if os.environ.get("STAGEGATE_NGINX_DEBUG"):
            print(self.errors())
