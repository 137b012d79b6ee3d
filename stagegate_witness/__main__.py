"""``python -m stagegate_witness``: ``keygen`` prints a new signing seed and
its public key; ``once`` witnesses the log's head once and prints the verdict;
``run`` serves the published records and witnesses every ``--interval``
seconds until stopped. Configuration: STAGEGATE_WITNESS_* (docs/witness.md)."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import secrets
import signal
import sys
import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.dsse import keyid_of, public_key_pem
from stagegate_witness.config import ConfigError, from_environment
from stagegate_witness.server import make_server
from stagegate_witness.service import LogClient, LogUnavailable, poll_once
from stagegate_witness.store import Store


def _keygen() -> int:
    seed = secrets.token_bytes(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    print(f"STAGEGATE_WITNESS_SIGNING_KEY={base64.b64encode(seed).decode()}")
    print(f"# key id {keyid_of(public)}; give the log this public key (STAGEGATE_WITNESS_PUBLIC_KEY):")
    print(public_key_pem(public), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stagegate_witness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("keygen", help="print a new witness signing key")
    sub.add_parser("once", help="witness the log's current head once")
    run = sub.add_parser("run", help="serve and witness until stopped")
    run.add_argument("--listen", default="127.0.0.1:8765", help="host:port to publish on")
    run.add_argument("--interval", type=float, default=30.0, help="seconds between rounds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.command == "keygen":
        return _keygen()
    try:
        config = from_environment()
        store = Store(config.database_url)
    except (ConfigError, ValueError) as e:
        print(f"stagegate_witness: {e}", file=sys.stderr)
        return 2
    store.migrate()
    client = LogClient(config)

    if args.command == "once":
        try:
            verdict = poll_once(config=config, store=store, client=client)
        except LogUnavailable as e:
            print(f"stagegate_witness: the log is unavailable: {e}", file=sys.stderr)
            return 3
        print(json.dumps({"outcome": verdict.outcome, "reason": verdict.reason}))
        return 1 if verdict.alarm else 0

    host, _, port = args.listen.rpartition(":")
    httpd = make_server(host=host or "127.0.0.1", port=int(port), config=config, store=store)
    lock = httpd.store_lock  # type: ignore[attr-defined]
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    logging.getLogger("stagegate.witness").info("publishing on %s:%s", *httpd.server_address[:2])
    while not stop.is_set():
        try:
            with lock:
                poll_once(config=config, store=store, client=client)
        except LogUnavailable as e:
            logging.getLogger("stagegate.witness").warning("the log is unavailable: %s", e)
        stop.wait(args.interval)
    httpd.shutdown()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
