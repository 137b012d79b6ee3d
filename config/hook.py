"""Serve the gateway's hook for the nginx data plane (gateway/proxy/hook.py).

    python -m config.hook --socket /run/stagegate/hook-0.sock [--supervised]

``python -m config.serve --data-plane nginx`` starts one per worker, with
nginx (gateway/nginx/) in front of them."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal

# Longer than nginx's own wait for its calls to finish (worker_shutdown_timeout).
DRAIN_SECONDS = 65.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m config.hook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="the unix socket to listen on")
    parser.add_argument("--supervised", action="store_true", help="exit with the supervisor (python -m config.serve)")
    opts = parser.parse_args(argv)
    if opts.supervised:
        from config.serve import die_with_parent

        die_with_parent()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from gateway.proxy.hook import Hook

    async def run() -> None:
        hook = Hook()
        # As in config/asgi.py: what is loaded by now (Django, the apps, the
        # gateway) lives as long as the process; frozen, it is left out of
        # every collection, which would otherwise stall every call in flight
        # for as long as a full scan of it takes.
        gc.freeze()
        server = await hook.serve(opts.socket)
        print(f"stagegate hook listening on {opts.socket}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        # nginx, told to stop too, finishes its calls (up to 60 s) and
        # hangs up; their settlements still come here until then.
        server.close()
        await hook.drained(DRAIN_SECONDS)

    try:
        import uvloop  # as uvicorn runs the web workers: the event loop is most of a hook's CPU
    except ImportError:  # pragma: no cover (a gateway requirement)
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main()
